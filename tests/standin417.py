# ruff: noqa: E101, W191  (stand-in C sources: kernel style mixes tabs and spaces)
"""Stand-in tree of the v4.17 layout (target v4.17), checked by hand
against 4.17: what 4.17 changed from 4.16 where fpdsl looks.

- the run is split: VHE runs kvm_vcpu_run_vhe() directly from arm.c,
  non-VHE calls __kvm_vcpu_run_nvhe() in hyp; each saves the guest's
  FPSIMD registers eagerly, and the AArch32 FPEXC32_EL2 with them
  (__fpsimd_save_fpexc32());
- kvm_arch_vcpu_load()/_put() call kvm_vcpu_load_sysregs()/_put_sysregs();
- fpsimd_save_state() takes a struct user_fpsimd_state, and a task's
  registers are in thread.uw.fpsimd_state;
- hyp-entry.S finds the vcpu with get_vcpu_ptr."""

from __future__ import annotations

from standin416 import (
    ARM_C_HEAD,
    ARM_C_LOAD,
    ARM_C_RUN,
    ARM_KVM_HOST_H,
    ENTRY_S,
    FPSIMD_C,
    FPSIMD_H,
    GUEST_C,
    HYP_ENTRY_S,
    KVM_HOST_H,
    KVM_MAKEFILE,
    MAKEFILE,
    SWITCH_C_HEAD,
)

ARM_C_RUN_PROLOGUE = """
	if (unlikely(!kvm_vcpu_initialized(vcpu)))
		return -ENOEXEC;

	ret = kvm_vcpu_first_run_init(vcpu);
	if (ret)
		return ret;

	if (run->exit_reason == KVM_EXIT_MMIO) {
		ret = kvm_handle_mmio_return(vcpu, vcpu->run);
		if (ret)
			return ret;
		if (kvm_arm_handle_step_debug(vcpu, vcpu->run))
			return 0;
	}

	if (run->immediate_exit)
		return -EINTR;

	vcpu_load(vcpu);
"""

RUN_CALL = """
		if (has_vhe()) {
			kvm_arm_vhe_guest_enter();
			ret = kvm_vcpu_run_vhe(vcpu);
			kvm_arm_vhe_guest_exit();
		} else {
			ret = kvm_call_hyp(__kvm_vcpu_run_nvhe, vcpu);
		}
"""

SWITCH_C = (
    SWITCH_C_HEAD
    + """
static bool __hyp_text __fpsimd_enabled_nvhe(void)
{
	return !(read_sysreg(cptr_el2) & CPTR_EL2_TFP);
}

static bool fpsimd_enabled_vhe(void)
{
	return !!(read_sysreg(cpacr_el1) & CPACR_EL1_FPEN);
}

/* Stand-in: an AArch32 guest's FPEXC32_EL2 goes with its FP registers. */
static void __hyp_text __fpsimd_save_fpexc32(struct kvm_vcpu *vcpu)
{
	if (!vcpu_el1_is_32bit(vcpu))
		return;

	vcpu->arch.ctxt.sys_regs[FPEXC32_EL2] = read_sysreg(fpexc32_el2);
}

static void __hyp_text __activate_traps_fpsimd32(struct kvm_vcpu *vcpu)
{
	/* Stand-in: FPEXC.EN for AArch32 guests, so FP traps reach EL2. */
	if (vcpu_el1_is_32bit(vcpu) && system_supports_fpsimd()) {
		write_sysreg(1 << 30, fpexc32_el2);
		isb();
	}
}

static void activate_traps_vhe(struct kvm_vcpu *vcpu)
{
	u64 val;

	val = read_sysreg(cpacr_el1);
	val |= CPACR_EL1_TTA;
	val &= ~(CPACR_EL1_FPEN | CPACR_EL1_ZEN);
	write_sysreg(val, cpacr_el1);

	write_sysreg(kvm_get_hyp_vector(), vbar_el1);
}

static void __hyp_text __activate_traps_nvhe(struct kvm_vcpu *vcpu)
{
	u64 val;

	__activate_traps_common(vcpu);

	val = CPTR_EL2_DEFAULT;
	val |= CPTR_EL2_TTA | CPTR_EL2_TFP | CPTR_EL2_TZ;
	write_sysreg(val, cptr_el2);
}

static void __hyp_text __activate_traps(struct kvm_vcpu *vcpu)
{
	u64 hcr = vcpu->arch.hcr_el2;

	write_sysreg(hcr, hcr_el2);

	if (cpus_have_const_cap(ARM64_HAS_RAS_EXTN) && (hcr & HCR_VSE))
		write_sysreg_s(vcpu->arch.vsesr_el2, SYS_VSESR_EL2);

	__activate_traps_fpsimd32(vcpu);
	if (has_vhe())
		activate_traps_vhe(vcpu);
	else
		__activate_traps_nvhe(vcpu);
}

/* Stand-in: VHE, called straight from the host's run loop. */
int kvm_vcpu_run_vhe(struct kvm_vcpu *vcpu)
{
	struct kvm_cpu_context *host_ctxt;
	struct kvm_cpu_context *guest_ctxt;
	bool fp_enabled;
	u64 exit_code;

	host_ctxt = vcpu->arch.host_cpu_context;
	host_ctxt->__hyp_running_vcpu = vcpu;
	guest_ctxt = &vcpu->arch.ctxt;

	sysreg_save_host_state_vhe(host_ctxt);

	__activate_traps(vcpu);
	__activate_vm(vcpu->kvm);

	sysreg_restore_guest_state_vhe(guest_ctxt);
	__debug_switch_to_guest(vcpu);

	do {
		exit_code = __guest_enter(vcpu, host_ctxt);
	} while (fixup_guest_exit(vcpu, &exit_code));

	fp_enabled = fpsimd_enabled_vhe();

	sysreg_save_guest_state_vhe(guest_ctxt);

	__deactivate_traps(vcpu);

	sysreg_restore_host_state_vhe(host_ctxt);

	if (fp_enabled) {
		__fpsimd_save_state(&guest_ctxt->gp_regs.fp_regs);
		__fpsimd_restore_state(&host_ctxt->gp_regs.fp_regs);
		__fpsimd_save_fpexc32(vcpu);
	}

	__debug_switch_to_host(vcpu);

	return exit_code;
}

/* Stand-in: non-VHE, called through kvm_call_hyp(). */
int __hyp_text __kvm_vcpu_run_nvhe(struct kvm_vcpu *vcpu)
{
	struct kvm_cpu_context *host_ctxt;
	struct kvm_cpu_context *guest_ctxt;
	bool fp_enabled;
	u64 exit_code;

	vcpu = kern_hyp_va(vcpu);

	host_ctxt = kern_hyp_va(vcpu->arch.host_cpu_context);
	host_ctxt->__hyp_running_vcpu = vcpu;
	guest_ctxt = &vcpu->arch.ctxt;

	__sysreg_save_state_nvhe(host_ctxt);

	__activate_traps(vcpu);
	__activate_vm(kern_hyp_va(vcpu->kvm));

	__hyp_vgic_restore_state(vcpu);
	__timer_enable_traps(vcpu);

	__sysreg32_restore_state(vcpu);
	__sysreg_restore_state_nvhe(guest_ctxt);
	__debug_switch_to_guest(vcpu);

	do {
		exit_code = __guest_enter(vcpu, host_ctxt);
	} while (fixup_guest_exit(vcpu, &exit_code));

	fp_enabled = __fpsimd_enabled_nvhe();

	__sysreg_save_state_nvhe(guest_ctxt);
	__sysreg32_save_state(vcpu);
	__timer_disable_traps(vcpu);
	__hyp_vgic_save_state(vcpu);

	__deactivate_traps(vcpu);
	__deactivate_vm(vcpu);

	__sysreg_restore_state_nvhe(host_ctxt);

	if (fp_enabled) {
		__fpsimd_save_state(&guest_ctxt->gp_regs.fp_regs);
		__fpsimd_restore_state(&host_ctxt->gp_regs.fp_regs);
		__fpsimd_save_fpexc32(vcpu);
	}

	__debug_switch_to_host(vcpu);

	return exit_code;
}
"""
)

HYP_ENTRY_S_TRAP = """el1_trap:
	get_vcpu_ptr	x1, x0

	mrs		x0, esr_el2
	lsr		x0, x0, #ESR_ELx_EC_SHIFT
	/*
	 * Stand-in: x0 holds the exception class, x1 the vcpu.
	 */

	/* Stand-in: the guest's first FP/SIMD access switches lazily. */
alternative_if_not ARM64_HAS_NO_FPSIMD
	cmp	x0, #ESR_ELx_EC_FP_ASIMD
	b.eq	__fpsimd_guest_restore
alternative_else_nop_endif

	mov	x0, #ARM_EXCEPTION_TRAP
	b	__guest_exit
"""

KVM_HOST_H_TAIL = """
void kvm_vcpu_load_sysregs(struct kvm_vcpu *vcpu);
void kvm_vcpu_put_sysregs(struct kvm_vcpu *vcpu);
"""

ARM_KVM_HOST_H_TAIL = """
static inline void kvm_vcpu_load_sysregs(struct kvm_vcpu *vcpu) {}
static inline void kvm_vcpu_put_sysregs(struct kvm_vcpu *vcpu) {}
"""


def files() -> dict[str, str]:
    return {
        "Makefile": MAKEFILE.format(patchlevel=17),
        "virt/kvm/arm/arm.c": ARM_C_HEAD
        + ARM_C_LOAD.replace("{load_extra}", "\n\tkvm_vcpu_load_sysregs(vcpu);").replace(
            "{put_extra}", "\n\tkvm_vcpu_put_sysregs(vcpu);"
        )
        + ARM_C_RUN.replace("{prologue}", ARM_C_RUN_PROLOGUE)
        .replace("{bail_isb}", "\n\t\t\tisb(); /* Stand-in: flushed state is committed */")
        .replace("{epilogue}", "")
        .replace("{run_call}", RUN_CALL),
        "arch/arm64/kvm/hyp/switch.c": SWITCH_C,
        "arch/arm64/kvm/hyp/entry.S": ENTRY_S,
        "arch/arm64/kvm/hyp/hyp-entry.S": HYP_ENTRY_S.replace("{trap}", HYP_ENTRY_S_TRAP),
        "arch/arm64/kernel/fpsimd.c": FPSIMD_C.replace("{cpu_field}", "fpsimd_cpu"),
        "arch/arm64/include/asm/fpsimd.h": FPSIMD_H.replace("{state_struct}", "").replace(
            "{state_type}", "user_fpsimd_state"
        ),
        "arch/arm64/include/asm/kvm_host.h": KVM_HOST_H.replace("{arch_extra}", "\n\n\tbool sysregs_loaded_on_cpu;")
        .replace("{tail}", KVM_HOST_H_TAIL)
        .replace("{vhe_exit_extra}", "\n\n\t/* Stand-in: the new trap configuration takes effect. */\n\tisb();"),
        "arch/arm/include/asm/kvm_host.h": ARM_KVM_HOST_H.replace("{tail}", ARM_KVM_HOST_H_TAIL),
        "arch/arm64/kvm/Makefile": KVM_MAKEFILE.replace("{regmap_line}", "inject_fault.o regmap.o va_layout.o"),
        "arch/arm64/kvm/guest.c": GUEST_C,
    }
