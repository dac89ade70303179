# ruff: noqa: E101, W191  (stand-in C sources in string literals: kernel style mixes tabs and spaces)
"""Stand-in tree of 4.18 with the PREEMPT_RT patch (layout "v4.18rt",
target v4.18): tests/standin418.py's files with what RT changes in them.

- arch/arm64/kernel/fpsimd.c: kernel_neon_begin() is bracketed by its own
  preempt_disable() ... preempt_enable() around the bottom-half section.
- arch/arm64/kvm/hyp/switch.c: activate_traps_vhe() and
  __activate_traps_nvhe() do not call __activate_traps_fpsimd32();
  __activate_traps() calls it, unconditionally, before either of them.
- virt/kvm/arm/arm.c: no <linux/sched/stat.h> and no WFE-trap choice in
  kvm_arch_vcpu_load(); the run loop keeps the vcpu on its CPU with
  migrate_disable()/migrate_enable() where 4.19 disables preemption.

Each change is an exact substitution in standin418's text that must apply
once, so that an edit of standin418 that moves one of them fails here."""

from __future__ import annotations

import standin418

FPSIMD_C = "arch/arm64/kernel/fpsimd.c"
HYP_C = "arch/arm64/kvm/hyp/switch.c"
ARM_C = "virt/kvm/arm/arm.c"

# The hyp's trap setup of the RT tree: the AArch32 FPEXC fix-up is done for
# every entry, ahead of the VHE/nVHE split.
ACTIVATE_TRAPS = """
static void __hyp_text __activate_traps(struct kvm_vcpu *vcpu)
{
	u64 hcr = vcpu->arch.hcr_el2;

	write_sysreg(hcr, hcr_el2);

	/* Stand-in note: a pending virtual SError carries its syndrome. */
	if (cpus_have_const_cap(ARM64_HAS_RAS_EXTN) && (hcr & HCR_VSE))
		write_sysreg_s(vcpu->arch.vsesr_el2, SYS_VSESR_EL2);

	__activate_traps_fpsimd32(vcpu);
	if (has_vhe())
		activate_traps_vhe(vcpu);
	else
		__activate_traps_nvhe(vcpu);
}
"""

# (path, old, new): each `old` occurs exactly once in standin418's file.
SUBSTITUTIONS: tuple[tuple[str, str, str], ...] = (
    (
        FPSIMD_C,
        "\tBUG_ON(!may_use_simd());\n\n\tlocal_bh_disable();\n",
        "\tBUG_ON(!may_use_simd());\n\n\tpreempt_disable();\n\tlocal_bh_disable();\n",
    ),
    (
        FPSIMD_C,
        "\tpreempt_disable();\n\n\tlocal_bh_enable();\n}\nEXPORT_SYMBOL(kernel_neon_begin);\n",
        "\tpreempt_disable();\n\n\tlocal_bh_enable();\n\tpreempt_enable();\n}\nEXPORT_SYMBOL(kernel_neon_begin);\n",
    ),
    (
        HYP_C,
        "\tif (!update_fp_enabled(vcpu)) {\n\t\tval &= ~CPACR_EL1_FPEN;\n\t\t__activate_traps_fpsimd32(vcpu);\n\t}\n",
        "\tif (!update_fp_enabled(vcpu))\n\t\tval &= ~CPACR_EL1_FPEN;\n",
    ),
    (
        HYP_C,
        "\tif (!update_fp_enabled(vcpu)) {\n\t\tval |= CPTR_EL2_TFP;\n\t\t__activate_traps_fpsimd32(vcpu);\n\t}\n"
        "\n\twrite_sysreg(val, cptr_el2);\n}\n",
        "\tif (!update_fp_enabled(vcpu))\n\t\tval |= CPTR_EL2_TFP;\n"
        "\n\twrite_sysreg(val, cptr_el2);\n}\n" + ACTIVATE_TRAPS,
    ),
    (ARM_C, "#include <linux/sched/stat.h>\n", ""),
    (
        ARM_C,
        "\tkvm_arch_vcpu_load_fp(vcpu);\n\n\tif (single_task_running())\n\t\tvcpu_clear_wfe_traps(vcpu);\n"
        "\telse\n\t\tvcpu_set_wfe_traps(vcpu);\n}\n",
        "\tkvm_arch_vcpu_load_fp(vcpu);\n}\n",
    ),
    (
        ARM_C,
        "\t\t/* Stand-in note: the GIC is poked with preemption off. */\n\t\tpreempt_disable();\n",
        "\t\t/* Stand-in note: the GIC is poked pinned to this CPU. */\n\t\tmigrate_disable();\n",
    ),
    (
        ARM_C,
        "\t\t\tlocal_irq_enable();\n\t\t\tpreempt_enable();\n\t\t\tcontinue;\n",
        "\t\t\tlocal_irq_enable();\n\t\t\tmigrate_enable();\n\t\t\tcontinue;\n",
    ),
    (
        ARM_C,
        "\t\thandle_exit_early(vcpu, run, ret);\n\n\t\tpreempt_enable();\n",
        "\t\thandle_exit_early(vcpu, run, ret);\n\n\t\tmigrate_enable();\n",
    ),
)


def files() -> dict[str, str]:
    out = dict(standin418.files())
    for path, old, new in SUBSTITUTIONS:
        found = out[path].count(old)
        assert found == 1, f"standin418's {path}: expected one {old!r}, found {found}"
        out[path] = out[path].replace(old, new)
    return out
