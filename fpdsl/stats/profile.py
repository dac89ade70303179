"""Workload profiles: per-exit probabilities of what the environment does.

A profile is a TOML file:

    name = "seed_2018"
    description = "one line"
    [exit]                      # per guest exit
    to_user = 0.0057            # the exit needs user space (ends the KVM_RUN)
    preempt = 0.0272            # the vcpu thread is preempted in handle_exit()
    softirq_neon = 0.002        # the exit was an interrupt whose softirq wants kernel-mode NEON
    [guest]
    fp = 0.0133                 # the guest touches FPSIMD before this exit
    # or: fp_per_interval = 0.29, the fraction of load..put intervals in which
    # the guest touched FPSIMD (Christoffer's measure), converted to `fp`
    [vmm]
    fp = 0.5                    # the vcpu thread uses FPSIMD in user space between KVM_RUN calls
    [competing]
    fp = 1.0                    # the competing task uses FPSIMD in its time slice
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

import tomllib

from fpdsl.diagnostics import Diagnostic, FpdslError, Source, did_you_mean, read_source
from fpdsl.resources import resource_dir


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    exit_to_user: float
    preempt: float
    softirq_neon: float
    guest_fp: float
    vmm_fp: float
    competing_fp: float
    guest_fp_per_interval: float | None = None

    def with_param(self, name: str, value: float) -> Profile:
        if name == "guest_fp_per_interval":
            return replace(self, guest_fp_per_interval=value, guest_fp=guest_fp_from_interval(value, self))
        profile = replace(self, **{name: value})
        if self.guest_fp_per_interval is not None and name in ("exit_to_user", "preempt"):
            profile = replace(profile, guest_fp=guest_fp_from_interval(self.guest_fp_per_interval, profile))
        return profile


PARAMS = [f.name for f in fields(Profile) if f.name not in ("name", "description")]

_KEYS = {
    ("exit", "to_user"): "exit_to_user",
    ("exit", "preempt"): "preempt",
    ("exit", "softirq_neon"): "softirq_neon",
    ("guest", "fp"): "guest_fp",
    ("guest", "fp_per_interval"): "guest_fp_per_interval",
    ("vmm", "fp"): "vmm_fp",
    ("competing", "fp"): "competing_fp",
}


def guest_fp_from_interval(fraction: float, profile) -> float:
    """Per-exit probability g such that a load..put interval, which ends at
    each exit with probability q = to_user + preempt (so it spans a
    geometric number N of guest runs), sees at least one guest FPSIMD use
    with probability `fraction`: 1 - E[(1-g)^N] = fraction, i.e.
    1 - g = (1-f) / ((1-f) + f*q)."""
    q = profile.exit_to_user + profile.preempt
    keep = 1.0 - fraction
    return 1.0 - keep / (keep + fraction * q)


def parse_profile(source: Source) -> Profile:
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as exc:
        raise FpdslError(Diagnostic(f"not a valid profile (TOML): {exc}", None, source)) from None
    except RecursionError:
        raise FpdslError(Diagnostic("not a valid profile: arrays or tables nested too deeply", None, source)) from None
    values: dict[str, float] = {}
    for section, table in data.items():
        if section in ("name", "description"):
            continue
        if not isinstance(table, dict):
            raise FpdslError(Diagnostic(f"unknown profile key '{section}'", None, source))
        for key, value in table.items():
            target = _KEYS.get((section, key))
            if target is None:
                known = [f"{s}.{k}" for s, k in _KEYS]
                guess = did_you_mean(f"{section}.{key}", known)
                hint = f"did you mean '{guess}'?" if guess else "known keys: " + ", ".join(known)
                raise FpdslError(Diagnostic(f"unknown profile key '{section}.{key}'", None, source, hint))
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise FpdslError(
                    Diagnostic(f"'{section}.{key}' must be a probability between 0 and 1, got {value!r}", None, source)
                )
            values[target] = float(value)
    missing = [k for k in ("exit_to_user", "preempt") if k not in values]
    if missing:
        raise FpdslError(Diagnostic("profile lacks " + ", ".join(missing), None, source))
    profile = Profile(
        name=str(data.get("name", Path(source.path).stem)),
        description=str(data.get("description", "")),
        exit_to_user=values["exit_to_user"],
        preempt=values["preempt"],
        softirq_neon=values.get("softirq_neon", 0.0),
        guest_fp=values.get("guest_fp", 0.0),
        vmm_fp=values.get("vmm_fp", 0.0),
        competing_fp=values.get("competing_fp", 1.0),
    )
    if "guest_fp_per_interval" in values:
        if "guest_fp" in values:
            raise FpdslError(Diagnostic("give guest.fp or guest.fp_per_interval, not both", None, source))
        profile = profile.with_param("guest_fp_per_interval", values["guest_fp_per_interval"])
    problem = profile_problem(profile)
    if problem:
        raise FpdslError(Diagnostic(problem, None, source))
    return profile


def profile_problem(profile: Profile) -> str | None:
    """Why `profile` is not a workload the cost model can run, or None: a
    loaded profile and every point of a sweep pass this same test."""
    for name in PARAMS:
        value = getattr(profile, name)
        if value is None:
            continue
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            return f"{name} must be a probability between 0 and 1, got {value!r}"
    if profile.exit_to_user <= 0:
        return "exit.to_user (exit_to_user) must be positive: every KVM_RUN must end"
    if profile.exit_to_user + profile.preempt > 1:
        return "exit.to_user + exit.preempt exceed 1"
    if profile.guest_fp_per_interval is not None and profile.guest_fp_per_interval >= 1:
        return "guest.fp_per_interval must be below 1: no interval can be certain to use FP"
    return None


def builtin_profiles() -> dict[str, Path]:
    return {p.stem: p for p in sorted((resource_dir("policies") / "profiles").glob("*.toml"))}


def load_profile(name_or_file: str) -> Profile:
    path = Path(name_or_file)
    if not path.exists():
        known = builtin_profiles()
        if name_or_file not in known:
            guess = did_you_mean(name_or_file, list(known))
            raise FpdslError(
                f"no workload profile file or built-in profile named '{name_or_file}'"
                + (f" (did you mean '{guess}'?)" if guess else "")
                + "; built-in: "
                + ", ".join(known)
            )
        path = known[name_or_file]
    return parse_profile(read_source(path))
