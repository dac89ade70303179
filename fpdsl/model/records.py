"""What a step records: register operations with their origin, violations of
the properties, and the cost counters derived from them."""

from __future__ import annotations

from typing import Any, NamedTuple

from fpdsl.model.values import Value

PROPERTIES = ("lost-state", "leaked-state", "kernel-rules", "preemptibility")

PROPERTY_WORDS = {
    "lost-state": "a context reads a value that is not its last write",
    "leaked-state": "a context reads, or gets saved into its storage, another context's value",
    "kernel-rules": "a rule the kernel enforces (lockdep, WARN, BUG) is broken",
    "preemptibility": "the run loop is non-preemptible or has softirqs masked at cond_resched()/handle_exit()",
}


class Op(NamedTuple):
    """One observable operation. `origin` is a policy line (an object with
    file/line/hook) or a string naming the kernel function that did it."""

    kind: str  # save, restore, bind, invalidate, trap, read, write, clobber, softirq_neon, ...
    cpu: int | None
    target: str  # storage ("task:A", "guest", "host:0"), context, or detail
    value: Value | None
    origin: Any


class Violation(NamedTuple):
    prop: str
    message: str
    origin: Any
    subject: str = ""  # the context that lost state or received another's (A, G, B1, ...)


# Cost metrics per KVM_RUN and the op kinds that feed them.
METRICS = (
    "kvm_runs",
    "exits",
    "exits_to_user",
    "preemptions",
    "host_saves",
    "kvm_host_saves",
    "host_restores",
    "guest_saves",
    "guest_restores",
    "fp_traps",
    "softirq_neon_uses",
    "softirq_fallbacks",
    "binding_invalidations",
)


def storage_is_guest(target: str) -> bool:
    return target == "guest"


def count_ops(ops: list[Op]) -> dict[str, int]:
    """Cost counters for a list of operations."""
    counts = dict.fromkeys(METRICS, 0)
    for op in ops:
        k = op.kind
        if k == "save":
            if op.target == "guest":
                counts["guest_saves"] += 1
            else:
                counts["host_saves"] += 1
                if not isinstance(op.origin, str):  # done by one of KVM's hooks
                    counts["kvm_host_saves"] += 1
        elif k == "restore":
            counts["guest_restores" if op.target == "guest" else "host_restores"] += 1
        elif k == "trap":
            counts["fp_traps"] += 1
        elif k == "invalidate":
            counts["binding_invalidations"] += 1
        elif k == "softirq_neon":
            counts["softirq_neon_uses"] += 1
        elif k == "kvm_run":
            counts["kvm_runs"] += 1
        elif k in counts:
            counts[k] += 1
    return counts
