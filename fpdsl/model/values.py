"""Abstract register values. Every write makes a fresh token owned by the
writer (as in the arm64 maintainers' fpsimd.tla): a value is (owner, version).

Owners: "A" the vcpu thread (host user), "G" the guest, "B1".."B2" competing
tasks, "K" kernel-mode NEON scratch data, "0" zeroes (e.g. SVE high bits
after an FPSIMD-only load)."""

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


def owner_name(owner: str) -> str:
    return OWNER_WORDS.get(owner, f"task {owner}")


def show(value: Value) -> str:
    owner, version = value
    if owner == "0":
        return "0"
    return f"{owner}#{version}"
