"""Abstract register values. Every write makes a fresh token owned by the
writer (as in the arm64 maintainers' fpsimd.tla): a value is (owner, version).

Owners: "A" the vcpu thread (host user), "G" the guest, "B1".."B2" competing
tasks, "K" kernel-mode NEON scratch data of softirqs, "B1.k" a task's own
task-context kernel-mode NEON data (6.12: preserved across context
switches), "0" zeroes (e.g. SVE high bits after an FPSIMD-only load)."""

from __future__ import annotations

Value = tuple[str, int]

ZERO: Value = ("0", 0)
VCPU_THREAD = "A"
GUEST = "G"
KERNEL = "K"

OWNER_WORDS = {
    "A": "the vcpu thread",
    "G": "the guest",
    "K": "kernel-mode NEON",
    "0": "zeroes",
}


KERNEL_STATE = ".k"  # suffix of a task's kernel-mode NEON owner


def kernel_owner(task: str) -> str:
    """The owner of the values task `task` writes in kernel-mode NEON."""
    return task + KERNEL_STATE


def kernel_binding(task: str) -> str:
    """fpsimd_last_state naming task `task`'s kernel_fpsimd_state (6.12)."""
    return "k:" + task


def owner_name(owner: str) -> str:
    if owner.endswith(KERNEL_STATE):
        return f"{owner_name(owner[: -len(KERNEL_STATE)])}'s kernel-mode NEON"
    return OWNER_WORDS.get(owner, f"task {owner}")


def show(value: Value) -> str:
    owner, version = value
    if owner == "0":
        return "0"
    return f"{owner}#{version}"
