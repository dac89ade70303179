"""Stand-in tree of the v4.15-v4.17 layout (target v4.16)."""

from __future__ import annotations

from standin import (
    ARM_C_HEAD,
    ARM_C_LOAD_416,
    ARM_C_RUN,
    FLUSH_416,
    FPSIMD_C,
    FPSIMD_H,
    KVM_HOST_H,
    MAKEFILE,
    SWITCH_C_416,
)


def files() -> dict[str, str]:
    return {
        "Makefile": MAKEFILE.format(patchlevel=16),
        "virt/kvm/arm/arm.c": ARM_C_HEAD
        + ARM_C_LOAD_416
        + ARM_C_RUN.replace("{flush}", FLUSH_416).replace("{ctxsync}", ""),
        "arch/arm64/kvm/hyp/switch.c": SWITCH_C_416,
        "arch/arm64/kernel/fpsimd.c": FPSIMD_C,
        "arch/arm64/include/asm/fpsimd.h": FPSIMD_H,
        "arch/arm64/include/asm/kvm_host.h": KVM_HOST_H.replace("{arch_extra}\n", "").replace("{defines}", ""),
    }
