"""Workload profiles: per-exit probabilities of what the environment does.

A profile is a TOML file (every key is described in the README's "Workload
profiles" and in fpdsl.stats.vocabulary.PARAMETERS):

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
from dataclasses import dataclass, replace
from pathlib import Path

import tomllib

from fpdsl.diagnostics import Diagnostic, FpdslError, Source, did_you_mean, read_source
from fpdsl.resources import resource_dir
from fpdsl.stats.vocabulary import PARAMETER, PARAMETERS, TOP_LEVEL


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
    vmm_sve: float = 0.0
    guest_sve: float = 0.0

    def with_param(self, name: str, value: float) -> Profile:
        """The profile with parameter `name` (an id such as 'exit.to_user')
        set to `value`. A profile calibrated by guest.fp_per_interval keeps
        that fraction when exit.to_user or exit.preempt move; setting
        guest.fp drops the calibration."""
        field = PARAMETER[name].field
        if field == "guest_fp_per_interval":
            return replace(self, guest_fp_per_interval=value, guest_fp=guest_fp_from_interval(value, self))
        if field == "guest_fp":
            return replace(self, guest_fp=value, guest_fp_per_interval=None)
        profile = replace(self, **{field: value})
        if self.guest_fp_per_interval is not None and field in ("exit_to_user", "preempt"):
            profile = replace(profile, guest_fp=guest_fp_from_interval(self.guest_fp_per_interval, profile))
        return profile

    def parameters(self) -> dict[str, float]:
        """Every parameter by id (guest.fp_per_interval only if given)."""
        values = {p.id: getattr(self, p.field) for p in PARAMETERS}
        return {k: v for k, v in values.items() if v is not None}


PARAMS = [p.id for p in PARAMETERS]


def guest_fp_from_interval(fraction: float, profile) -> float:
    """Per-exit probability g such that a load..put interval, which ends at
    each exit with probability q = to_user + preempt (so it spans a
    geometric number N of guest runs), sees at least one guest FPSIMD use
    with probability `fraction`: 1 - E[(1-g)^N] = fraction, i.e.
    1 - g = (1-f) / ((1-f) + f*q)."""
    q = profile.exit_to_user + profile.preempt
    keep = 1.0 - fraction
    return 1.0 - keep / (keep + fraction * q)


def _refuse(source: Source, message: str, hint: str | None = None) -> FpdslError:
    return FpdslError(Diagnostic(message, None, source, hint))


def _unknown(source: Source, what: str, name: str, valid: list[str]) -> FpdslError:
    guess = did_you_mean(name, valid)
    hint = (f"did you mean '{guess}'? " if guess else "") + "valid keys: " + ", ".join(valid)
    return _refuse(source, f"unknown profile {what} '{name}'", hint)


def parse_profile(source: Source) -> Profile:
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as exc:
        raise _refuse(source, f"not a valid profile (TOML): {exc}") from None
    except RecursionError:
        raise _refuse(source, "not a valid profile: arrays or tables nested too deeply") from None
    values: dict[str, float] = {}
    for section, table in data.items():
        if section not in TOP_LEVEL:
            raise _unknown(source, "key", section, list(TOP_LEVEL))
        if section in ("name", "description"):
            if not isinstance(table, str):
                raise _refuse(source, f"'{section}' must be a string, got {table!r}")
            continue
        if not isinstance(table, dict):
            keys = ", ".join(p.key for p in PARAMETERS if p.section == section)
            raise _refuse(source, f"'{section}' must be a table: [{section}] with {keys}")
        for key, value in table.items():
            ident = f"{section}.{key}"
            if ident not in PARAMETER:
                raise _unknown(source, "key", ident, list(PARAMETER))
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise _refuse(source, f"'{ident}' must be a probability between 0 and 1, got {value!r}")
            values[ident] = float(value)
    missing = [p.id for p in PARAMETERS if p.default is None and p.id not in values and p.id != "guest.fp_per_interval"]
    if missing:
        raise _refuse(
            source, "profile lacks " + ", ".join(missing), "every profile gives exit.to_user and exit.preempt"
        )
    if "guest.fp_per_interval" in values and "guest.fp" in values:
        raise _refuse(source, "give guest.fp or guest.fp_per_interval, not both")
    fields = {p.field: values.get(p.id, p.default) for p in PARAMETERS if p.id != "guest.fp_per_interval"}
    profile = Profile(
        name=str(data.get("name", Path(source.path).stem)), description=str(data.get("description", "")), **fields
    )
    if "guest.fp_per_interval" in values:
        profile = profile.with_param("guest.fp_per_interval", values["guest.fp_per_interval"])
    problem = profile_problem(profile)
    if problem:
        raise _refuse(source, problem)
    return profile


def profile_problem(profile: Profile) -> str | None:
    """Why `profile` is not a workload the cost model can run, or None: a
    loaded profile and every point of a sweep pass this same test."""
    for p in PARAMETERS:
        value = getattr(profile, p.field)
        if value is None:
            continue
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            return f"{p.id} must be a probability between 0 and 1, got {value!r}"
    if profile.guest_sve not in (0.0, 1.0):
        return f"guest.sve is 0 or 1 (the vcpu has SVE or not), got {profile.guest_sve!r}"
    if profile.exit_to_user <= 0:
        return "exit.to_user must be positive: every KVM_RUN must end"
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
