"""Stand-in tree of the v4.18-v4.20 layout (target v4.18)."""

from __future__ import annotations

from standin import (
    ARM_C_HEAD,
    ARM_C_LOAD_418,
    ARM_C_RUN,
    CTXSYNC_418,
    FPSIMD_C,
    FPSIMD_H,
    KVM_FPSIMD_C,
    KVM_HOST_H,
    MAKEFILE,
    SWITCH_C_418,
)


def files() -> dict[str, str]:
    return {
        "Makefile": MAKEFILE.format(patchlevel=18),
        "virt/kvm/arm/arm.c": ARM_C_HEAD
        + ARM_C_LOAD_418
        + ARM_C_RUN.replace("{flush}", "").replace("{ctxsync}", CTXSYNC_418),
        "arch/arm64/kvm/hyp/switch.c": SWITCH_C_418,
        "arch/arm64/kvm/fpsimd.c": KVM_FPSIMD_C,
        "arch/arm64/kernel/fpsimd.c": FPSIMD_C,
        "arch/arm64/include/asm/fpsimd.h": FPSIMD_H,
        "arch/arm64/include/asm/kvm_host.h": KVM_HOST_H.replace(
            "{arch_extra}", "\tu64 flags;\n\tstruct user_fpsimd_state *host_fpsimd_state;"
        ).replace("{defines}", "\n#define KVM_ARM64_FP_ENABLED\t\t(1 << 1)\n#define KVM_ARM64_FP_HOST\t\t(1 << 2)\n"),
    }
