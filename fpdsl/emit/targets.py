"""Kernel targets: which files a tree of that layout has, which shipped
policy the tree already implements (the baseline), and where each hook
lives in it. A hook that differs from the baseline's replaces what the
baseline's hook compiled to in the tree."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from fpdsl.diagnostics import UsageError
from fpdsl.fsutil import read_bounded

# The largest kernel source file fpdsl reads (arm.c and fpsimd.c are under 100 KiB).
MAX_SOURCE_BYTES = 4 << 20

ARM_C = "virt/kvm/arm/arm.c"
HYP_C = "arch/arm64/kvm/hyp/switch.c"
FPSIMD_C = "arch/arm64/kernel/fpsimd.c"
FPSIMD_H = "arch/arm64/include/asm/fpsimd.h"
KVM_HOST_H = "arch/arm64/include/asm/kvm_host.h"
KVM_FPSIMD_C = "arch/arm64/kvm/fpsimd.c"
GUEST_C = "arch/arm64/kvm/guest.c"
ARM_C_6 = "arch/arm64/kvm/arm.c"
HYP_SWITCH_H = "arch/arm64/kvm/hyp/include/hyp/switch.h"
HYP_NVHE_SWITCH_C = "arch/arm64/kvm/hyp/nvhe/switch.c"
HYP_VHE_SWITCH_C = "arch/arm64/kvm/hyp/vhe/switch.c"
HYP_MAIN_C = "arch/arm64/kvm/hyp/nvhe/hyp-main.c"
# The shipped policy each 6.x layout's tree implements (what its costs are
# compared with, and the code a policy's hooks are merged against).
BASELINES_6 = {"v6.1": "kvm_v6_1", "v6.12": "kvm_v6_12"}
# Kernel models whose KVM code a 6.x layout can take: its own, and (v6.12)
# the release before the 2025 fix, whose host half the emitted patch does
# not change (the commit message gives the verdict on both models).
ACCEPTS_6 = {"v6.1": ("v6.1",), "v6.12": ("v6.12", "v6.12.0")}


@dataclass(frozen=True)
class Target:
    name: str
    kernel: str  # the reference model's kernel version for this layout
    baseline: str | None  # the shipped policy this layout's tree implements (2018 layouts)
    versions: tuple[tuple[int, int], tuple[int, int]]  # first, last (major, minor)
    describe: str
    # Hook -> the function its code lives in (for the reader and the errors).
    homes: dict[str, str]

    @property
    def modern(self) -> bool:
        """5.x and later: KVM's FPSIMD code is functions in kvm/fpsimd.c."""
        return self.baseline is None


_HOMES_416 = {
    "load": f"{GUEST_C} (appended): kvm_arch_vcpu_load_fp(), called at the end of {ARM_C}: kvm_arch_vcpu_load()",
    "put": f"{GUEST_C} (appended): kvm_arch_vcpu_put_fp(), called at the start of kvm_arch_vcpu_put()",
    "enter": f"{GUEST_C} (appended): kvm_arch_vcpu_ctxflush_fp(), called before guest_enter_irqoff()",
    "exit": f"{GUEST_C} (appended): kvm_arch_vcpu_ctxsync_fp() and kvm_arch_vcpu_exit_fp(), called around the "
    "run loop's local_irq_enable(); the eager save leaves the hyp's run function(s)",
    "trap": f"{HYP_C}: __hyp_switch_fpsimd(), the C form of hyp/entry.S's __fpsimd_guest_restore",
    "softirq": f"{FPSIMD_C}: kernel_neon_begin()",
}

_HOMES_COMMON = {
    "load": f"{ARM_C}: kvm_arch_vcpu_load()",
    "put": f"{ARM_C}: kvm_arch_vcpu_put()",
    "enter": f"{ARM_C}: kvm_arch_vcpu_ioctl_run(), before guest_enter_irqoff()",
    "exit": f"{ARM_C}: kvm_arch_vcpu_ioctl_run(), around the local_irq_enable() after guest exit",
    "trap": f"{HYP_C}: __hyp_switch_fpsimd()",
    "softirq": f"{FPSIMD_C}: kernel_neon_begin()",
}

_HOMES_6 = {
    "load": f"{KVM_FPSIMD_C}: kvm_arch_vcpu_load_fp()",
    "enter": f"{KVM_FPSIMD_C}: kvm_arch_vcpu_ctxflush_fp()",
    "exit": f"{KVM_FPSIMD_C}: kvm_arch_vcpu_ctxsync_fp(), then {ARM_C_6} after local_irq_enable()",
    "put": f"{KVM_FPSIMD_C}: kvm_arch_vcpu_put_fp()",
    "trap": f"{HYP_SWITCH_H}: kvm_hyp_handle_fpsimd() (kept: it must match)",
}

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "v4.16",
            "v4.16",
            "eager",
            ((4, 15), (4, 16)),
            "v4.15-v4.16 layout: the hyp switches FPSIMD eagerly (__kvm_vcpu_run(), the "
            "assembly trap handler __fpsimd_guest_restore); kvm_fpsimd_flush_cpu_state() before entry",
            _HOMES_416,
        ),
        Target(
            "v4.17",
            "v4.16",
            "eager",
            ((4, 17), (4, 17)),
            "v4.17 layout: as v4.16, with the run split into kvm_vcpu_run_vhe() and "
            "__kvm_vcpu_run_nvhe(), and fpsimd_save_state() taking struct user_fpsimd_state",
            _HOMES_416,
        ),
        Target(
            "v4.18",
            "v4.18",
            "host_machinery",
            ((4, 18), (4, 20)),
            "v4.18-v4.20 layout: arch/arm64/kvm/fpsimd.c (kvm_arch_vcpu_load_fp(), "
            "_ctxsync_fp(), _put_fp()) and the hyp's update_fp_enabled()",
            _HOMES_COMMON,
        ),
        Target(
            "v6.1",
            "v6.1",
            None,
            ((6, 1), (6, 1)),
            "6.1 layout: arch/arm64/kvm/{arm,fpsimd}.c, vcpu->arch.fp_state, 8-argument fpsimd_bind_state_to_cpu()",
            _HOMES_6,
        ),
        Target(
            "v6.12",
            "v6.12",
            None,
            ((6, 12), (6, 12)),
            "6.12 layout: per-CPU host_data fp_owner, struct cpu_fp_state for fpsimd_bind_state_to_cpu()",
            _HOMES_6,
        ),
    )
}


def _head(path: Path, size: int) -> str:
    """The first `size` bytes of a regular file, as text."""
    st = os.stat(path) if path.exists() else None
    if st is None or not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: not a regular file")
    with open(path, "rb") as handle:
        return handle.read(size).decode("utf-8", "replace")


def tree_version(tree: Path) -> tuple[int, int] | None:
    """VERSION and PATCHLEVEL from the tree's top Makefile."""
    try:
        # The first 4 KiB of a regular file: a FIFO or /dev/zero is no Makefile.
        text = _head(tree / "Makefile", 4096)
    except UsageError:
        return None
    version = re.search(r"^VERSION\s*=\s*(\d+)", text, re.M)
    patch = re.search(r"^PATCHLEVEL\s*=\s*(\d+)", text, re.M)
    if not version or not patch:
        return None
    return int(version.group(1)), int(patch.group(1))


def detect_target(tree: Path, override: str | None = None) -> Target:
    """The target named by --target, or the one the tree's Makefile and files
    say it is."""
    if not tree.is_dir():
        raise UsageError(f"{tree}: not a directory (expected a kernel source tree)")
    version = tree_version(tree)
    if version is None:
        raise UsageError(
            f"{tree}: not a kernel tree: no top-level Makefile with VERSION and PATCHLEVEL",
        )
    if override is not None:
        if override not in TARGETS:
            raise UsageError(f"unknown target '{override}': known targets are {', '.join(TARGETS)}")
        return TARGETS[override]
    has_kvm_fpsimd = (tree / KVM_FPSIMD_C).is_file()
    for target in TARGETS.values():
        first, last = target.versions
        if first <= version <= last:
            # The files present must agree with the version: v4.18 moved the
            # FPSIMD handling to arch/arm64/kvm/fpsimd.c.
            if target.modern and not (tree / ARM_C_6).is_file():
                raise UsageError(f"{tree}: Makefile says {version[0]}.{version[1]} but {ARM_C_6} is missing")
            if not target.modern and (target.name == "v4.18") != has_kvm_fpsimd:
                raise UsageError(
                    f"{tree}: Makefile says {version[0]}.{version[1]} but {KVM_FPSIMD_C} is "
                    f"{'present' if has_kvm_fpsimd else 'missing'}; pass --target to choose the layout",
                )
            _check_split_run(tree, target, version)
            return target
    known = ", ".join(f"{t.name} for {_span(t.versions)}" for t in TARGETS.values())
    raise UsageError(f"{tree}: kernel {version[0]}.{version[1]} has no fpdsl target (known: {known})")


def _check_split_run(tree: Path, target: Target, version: tuple[int, int]) -> None:
    """v4.17 split the hyp's run into kvm_vcpu_run_vhe() and
    __kvm_vcpu_run_nvhe(); v4.15-v4.16 have one __kvm_vcpu_run()."""
    if target.name not in ("v4.16", "v4.17"):
        return
    try:
        text = read_bounded(tree / HYP_C, MAX_SOURCE_BYTES, what=f"tree file {HYP_C}").decode("utf-8", "replace")
    except UsageError:
        return  # the planner names the missing or unreadable file
    split = re.search(r"^int\s+kvm_vcpu_run_vhe\s*\(", text, re.M) is not None
    if split != (target.name == "v4.17"):
        has = "the split run kvm_vcpu_run_vhe()" if split else "one __kvm_vcpu_run()"
        raise UsageError(
            f"{tree}: Makefile says {version[0]}.{version[1]} but {HYP_C} has {has}; "
            "pass --target v4.16 or v4.17 to choose the layout"
        )


def _span(versions: tuple[tuple[int, int], tuple[int, int]]) -> str:
    (a, b), (c, d) = versions
    return f"{a}.{b}-{c}.{d}"
