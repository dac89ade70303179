"""One name for each workload parameter and each cost metric.

A profile parameter's identifier is its TOML `section.key`; the same string
is the `--sweep` name, the JSON key and what tables and plots print beside
the words. A metric's identifier is the `--metric` name, the JSON key under
`per_kvm_run`, a CSV column, and is printed beside its label in every
table. Spellings from before this vocabulary are accepted with a note."""

from __future__ import annotations

from dataclasses import dataclass

from fpdsl.diagnostics import UsageError, did_you_mean


@dataclass(frozen=True)
class Parameter:
    id: str  # TOML section.key, --sweep name, JSON key
    field: str  # the Profile attribute
    meaning: str  # what the probability is of
    unit: str  # what it is a probability per (axis labels)
    default: float | None  # None: the profile must give it
    range: str  # the values allowed, in words
    old: tuple[str, ...] = ()  # earlier --sweep spellings

    @property
    def section(self) -> str:
        return self.id.split(".")[0]

    @property
    def key(self) -> str:
        return self.id.split(".")[1]


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "exit.to_user",
        "exit_to_user",
        "the guest exit needs user space (vcpu_put(), ends the KVM_RUN)",
        "probability per guest exit",
        None,
        "0 < p <= 1; exit.to_user + exit.preempt <= 1",
        ("exit_to_user",),
    ),
    Parameter(
        "exit.preempt",
        "preempt",
        "the vcpu thread is preempted in handle_exit() (the competing task runs)",
        "probability per guest exit",
        None,
        "0 <= p <= 1; exit.to_user + exit.preempt <= 1",
        ("preempt",),
    ),
    Parameter(
        "exit.softirq_neon",
        "softirq_neon",
        "the exit is a host interrupt whose softirq wants kernel-mode NEON",
        "probability per guest exit",
        0.0,
        "0 <= p <= 1",
        ("softirq_neon",),
    ),
    Parameter(
        "guest.fp",
        "guest_fp",
        "the guest touches FPSIMD before this exit",
        "probability per guest run (entry to exit)",
        0.0,
        "0 <= p <= 1; not with guest.fp_per_interval",
        ("guest_fp",),
    ),
    Parameter(
        "guest.fp_per_interval",
        "guest_fp_per_interval",
        "the guest touches FPSIMD in a load..put interval (converted to guest.fp)",
        "fraction of load..put intervals",
        None,
        "0 <= f < 1; not with guest.fp",
        ("guest_fp_per_interval",),
    ),
    Parameter(
        "guest.sve",
        "guest_sve",
        "the guest has SVE (vcpu_has_sve(); 6.x models only)",
        "0 or 1 (a property of the vcpu, not a chance)",
        0.0,
        "0 or 1",
    ),
    Parameter(
        "vmm.fp",
        "vmm_fp",
        "the VMM (the vcpu thread in user space) uses FPSIMD between KVM_RUN calls",
        "probability per return to user space",
        0.0,
        "0 <= p <= 1",
        ("vmm_fp",),
    ),
    Parameter(
        "vmm.sve",
        "vmm_sve",
        "the VMM's FPSIMD use is SVE code (6.x models: it traps while EL0 SVE is disabled)",
        "fraction of the VMM's FP uses",
        0.0,
        "0 <= f <= 1",
    ),
    Parameter(
        "competing.fp",
        "competing_fp",
        "the competing task uses FPSIMD in its time slice",
        "probability per time slice",
        1.0,
        "0 <= p <= 1",
        ("competing_fp",),
    ),
)
PARAMETER = {p.id: p for p in PARAMETERS}
SECTIONS = tuple(dict.fromkeys(p.section for p in PARAMETERS))
TOP_LEVEL = ("name", "description", *SECTIONS)


@dataclass(frozen=True)
class Metric:
    id: str  # --metric name, JSON key, CSV column
    label: str  # table row
    meaning: str
    cost: bool  # smaller is better (else it describes the workload)
    old: tuple[str, ...] = ()


METRICS: tuple[Metric, ...] = (
    Metric("kvm_runs", "KVM_RUN calls", "ioctl(KVM_RUN) calls (1 by definition; not in tables)", False),
    Metric("exits", "guest exits", "guest exits", False),
    Metric("exits_to_user", "exits to user space", "exits that return to the VMM (1 by definition)", False),
    Metric("preemptions", "preemptions", "preemptions of the vcpu thread in the run loop", False),
    Metric("host_saves", "host saves", "saves of host FPSIMD state (a task's or KVM's per-CPU host context)", True),
    Metric("kvm_host_saves", "of which by KVM", "the host saves done by KVM's hooks (the rest: the kernel's)", True),
    Metric("host_restores", "host restores", "loads of host FPSIMD state into the registers", True),
    Metric("guest_saves", "guest saves", "saves of the guest's FPSIMD state", True),
    Metric("guest_restores", "guest restores", "loads of the guest's FPSIMD state", True),
    Metric("fp_traps", "FP traps", "guest FP/SIMD accesses that trap to the hyp", True),
    Metric(
        "softirq_neon_uses",
        "softirq kernel-NEON uses",
        "softirqs that use kernel-mode NEON",
        False,
        ("softirq_neon",),
    ),
    Metric("softirq_fallbacks", "softirq fallbacks", "softirqs that wanted NEON and fell back (may_use_simd())", True),
    Metric(
        "binding_invalidations",
        "binding invalidations",
        "per-CPU FPSIMD bindings forgotten (fpsimd_flush_cpu_state() and the like)",
        True,
        ("invalidations",),
    ),
    Metric("redundant_saves", "redundant saves", "saves whose copy is never needed", True),
    Metric("redundant_restores", "redundant restores", "restores overwritten before they are read", True),
)
METRIC = {m.id: m for m in METRICS}
METRIC_IDS = tuple(m.id for m in METRICS)


def _resolve(what: str, option: str, name: str, ids: list[str], old: dict[str, str]) -> tuple[str, str | None]:
    if name in ids:
        return name, None
    if name in old:
        new = old[name]
        return new, f"{option} {name}: the name is now '{new}'"
    guess = did_you_mean(name, ids)
    raise UsageError(
        f"{option}: unknown {what} '{name}'"
        + (f" (did you mean '{guess}'?)" if guess else "")
        + "; valid: "
        + ", ".join(ids)
    )


def resolve_parameter(name: str) -> tuple[Parameter, str | None]:
    """The parameter `name` denotes (its id, or an old spelling: then with a
    note to print), or a UsageError listing the valid names."""
    old = {o: p.id for p in PARAMETERS for o in p.old}
    found, note = _resolve("parameter", "--sweep", name, list(PARAMETER), old)
    return PARAMETER[found], note


def resolve_metric(name: str) -> tuple[str, str | None]:
    """The metric id `name` denotes, like resolve_parameter."""
    old = {o: m.id for m in METRICS for o in m.old}
    return _resolve("metric", "--metric", name, list(METRIC_IDS), old)
