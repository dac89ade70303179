# ruff: noqa: E101, W191  (stand-in C sources: kernel style mixes tabs and spaces)
"""Stand-in tree of the v4.15-v4.16 layout (target v4.16), checked by hand
against 4.16.13.

The files keep the real tree's structure where fpdsl's anchors look and
where a patch must keep code: the same functions with the same signatures,
the statements around each site in the same order, the same calls; the
comments and the rest are our own, and everything no anchor touches is left
out. `tests/check_standin.py` compares this structure with a real tree."""

from __future__ import annotations

MAKEFILE = """# SPDX-License-Identifier: GPL-2.0
VERSION = 4
PATCHLEVEL = {patchlevel}
SUBLEVEL = 0
EXTRAVERSION =
NAME = Stand-in tree for fpdsl tests
"""

ARM_C_HEAD = """// SPDX-License-Identifier: GPL-2.0
/* Stand-in for virt/kvm/arm/arm.c (shared by arm and arm64). */

#include <linux/kvm_host.h>
#include <linux/sched.h>
#include <asm/kvm_arm.h>
#include <asm/kvm_asm.h>
#include <asm/kvm_mmu.h>
#include <asm/kvm_emulate.h>
#include <asm/sections.h>

"""

ARM_C_LOAD = """void kvm_arch_vcpu_load(struct kvm_vcpu *vcpu, int cpu)
{
	int *last_ran;

	last_ran = this_cpu_ptr(vcpu->kvm->arch.last_vcpu_ran);

	/* A vcpu new to this CPU: flush the VMID's stale TLB entries. */
	if (*last_ran != vcpu->vcpu_id) {
		kvm_call_hyp(__kvm_tlb_flush_local_vmid, vcpu);
		*last_ran = vcpu->vcpu_id;
	}

	vcpu->cpu = cpu;
	vcpu->arch.host_cpu_context = this_cpu_ptr(&kvm_host_cpu_state);

	kvm_arm_set_running_vcpu(vcpu);
	kvm_vgic_load(vcpu);
	kvm_timer_vcpu_load(vcpu);{load_extra}
}

void kvm_arch_vcpu_put(struct kvm_vcpu *vcpu)
{{put_extra}
	kvm_timer_vcpu_put(vcpu);
	kvm_vgic_put(vcpu);

	vcpu->cpu = -1;

	kvm_arm_set_running_vcpu(NULL);
}
"""

# 4.16 loads the vcpu before the first-run checks and leaves through `out:`;
# 4.17 returns early and loads it after them (standin417.py).
ARM_C_RUN_PROLOGUE = """
	if (unlikely(!kvm_vcpu_initialized(vcpu)))
		return -ENOEXEC;

	vcpu_load(vcpu);

	ret = kvm_vcpu_first_run_init(vcpu);
	if (ret)
		goto out;

	if (run->exit_reason == KVM_EXIT_MMIO) {
		ret = kvm_handle_mmio_return(vcpu, vcpu->run);
		if (ret)
			goto out;
		if (kvm_arm_handle_step_debug(vcpu, vcpu->run)) {
			ret = 0;
			goto out;
		}
	}

	if (run->immediate_exit) {
		ret = -EINTR;
		goto out;
	}
"""

ARM_C_RUN = """
int kvm_arch_vcpu_ioctl_run(struct kvm_vcpu *vcpu, struct kvm_run *run)
{
	int ret;
{prologue}
	kvm_sigset_activate(vcpu);

	ret = 1;
	run->exit_reason = KVM_EXIT_UNKNOWN;
	while (ret > 0) {
		/* Stand-in: a preemption point before each entry. */
		cond_resched();

		update_vttbr(vcpu->kvm);

		check_vcpu_requests(vcpu);

		/* Stand-in: the GIC is poked with preemption off. */
		preempt_disable();

		/* Stand-in: drop SVE state that guest entry destroys. */
		kvm_fpsimd_flush_cpu_state();

		kvm_pmu_flush_hwstate(vcpu);

		local_irq_disable();

		kvm_vgic_flush_hwstate(vcpu);

		/* Stand-in: a signal sends us back to user space. */
		if (signal_pending(current)) {
			ret = -EINTR;
			run->exit_reason = KVM_EXIT_INTR;
		}

		/* Stand-in: so does a level a user space irqchip must see. */
		if (static_branch_unlikely(&userspace_irqchip_in_use)) {
			if (kvm_timer_should_notify_user(vcpu) ||
			    kvm_pmu_should_notify_user(vcpu)) {
				ret = -EINTR;
				run->exit_reason = KVM_EXIT_INTR;
			}
		}

		smp_store_mb(vcpu->mode, IN_GUEST_MODE);

		if (ret <= 0 || need_new_vmid_gen(vcpu->kvm) ||
		    kvm_request_pending(vcpu)) {
			vcpu->mode = OUTSIDE_GUEST_MODE;{bail_isb}
			kvm_pmu_sync_hwstate(vcpu);
			if (static_branch_unlikely(&userspace_irqchip_in_use))
				kvm_timer_sync_hwstate(vcpu);
			kvm_vgic_sync_hwstate(vcpu);
			local_irq_enable();
			preempt_enable();
			continue;
		}

		kvm_arm_setup_debug(vcpu);

		/*
		 * Stand-in: into the guest.
		 */
		trace_kvm_entry(*vcpu_pc(vcpu));
		guest_enter_irqoff();
{run_call}
		vcpu->mode = OUTSIDE_GUEST_MODE;
		vcpu->stat.exits++;

		kvm_arm_clear_debug(vcpu);

		kvm_pmu_sync_hwstate(vcpu);

		kvm_vgic_sync_hwstate(vcpu);

		if (static_branch_unlikely(&userspace_irqchip_in_use))
			kvm_timer_sync_hwstate(vcpu);

		/*
		 * Stand-in: an interrupt that made the guest exit is still
		 * pending; it is taken here, in the host.
		 */
		local_irq_enable();

		/*
		 * Stand-in: guest time is accounted before preemption comes
		 * back.
		 */
		guest_exit();
		trace_kvm_exit(ret, kvm_vcpu_trap_get_class(vcpu), *vcpu_pc(vcpu));

		handle_exit_early(vcpu, run, ret);

		preempt_enable();

		ret = handle_exit(vcpu, run, ret);
	}

	/* Stand-in: user space learns the in-kernel device levels. */
	if (unlikely(!irqchip_in_kernel(vcpu->kvm))) {
		kvm_timer_update_run(vcpu);
		kvm_pmu_update_run(vcpu);
	}

	kvm_sigset_deactivate(vcpu);
{epilogue}
	vcpu_put(vcpu);
	return ret;
}
"""

RUN_CALL = """		if (has_vhe())
			kvm_arm_vhe_guest_enter();

		ret = kvm_call_hyp(__kvm_vcpu_run, vcpu);

		if (has_vhe())
			kvm_arm_vhe_guest_exit();"""

SWITCH_C_HEAD = """// SPDX-License-Identifier: GPL-2.0
/* Stand-in for arch/arm64/kvm/hyp/switch.c: the world switch at EL2. */

#include <linux/types.h>
#include <linux/jump_label.h>

#include <asm/kvm_asm.h>
#include <asm/kvm_emulate.h>
#include <asm/kvm_hyp.h>
#include <asm/fpsimd.h>
#include <asm/debug-monitors.h>
"""

SWITCH_C = (
    SWITCH_C_HEAD
    + """
static bool __hyp_text __fpsimd_enabled_nvhe(void)
{
	return !(read_sysreg(cptr_el2) & CPTR_EL2_TFP);
}

static bool __hyp_text __fpsimd_enabled_vhe(void)
{
	return !!(read_sysreg(cpacr_el1) & CPACR_EL1_FPEN);
}

static hyp_alternate_select(__fpsimd_is_enabled,
			    __fpsimd_enabled_nvhe, __fpsimd_enabled_vhe,
			    ARM64_HAS_VIRT_HOST_EXTN);

bool __hyp_text __fpsimd_enabled(void)
{
	return __fpsimd_is_enabled()();
}

static void __hyp_text __activate_traps_nvhe(void)
{
	u64 val;

	val = CPTR_EL2_DEFAULT;
	val |= CPTR_EL2_TTA | CPTR_EL2_TFP | CPTR_EL2_TZ;
	write_sysreg(val, cptr_el2);
}

static hyp_alternate_select(__activate_traps_arch,
			    __activate_traps_nvhe, __activate_traps_vhe,
			    ARM64_HAS_VIRT_HOST_EXTN);

static void __hyp_text __activate_traps(struct kvm_vcpu *vcpu)
{
	u64 val;

	/* Stand-in: FPEXC.EN for AArch32 guests, so FP traps reach EL2. */
	val = vcpu->arch.hcr_el2;

	if (!(val & HCR_RW) && system_supports_fpsimd()) {
		write_sysreg(1 << 30, fpexc32_el2);
		isb();
	}

	write_sysreg(val, hcr_el2);

	if (cpus_have_const_cap(ARM64_HAS_RAS_EXTN) && (val & HCR_VSE))
		write_sysreg_s(vcpu->arch.vsesr_el2, SYS_VSESR_EL2);

	write_sysreg(1 << 15, hstr_el2);
	/* Stand-in: PMU accesses from EL0 trap to EL2. */
	write_sysreg(0, pmselr_el0);
	write_sysreg(ARMV8_PMU_USERENR_MASK, pmuserenr_el0);
	write_sysreg(vcpu->arch.mdcr_el2, mdcr_el2);
	__activate_traps_arch()();
}

int __hyp_text __kvm_vcpu_run(struct kvm_vcpu *vcpu)
{
	struct kvm_cpu_context *host_ctxt;
	struct kvm_cpu_context *guest_ctxt;
	bool fp_enabled;
	u64 exit_code;

	vcpu = kern_hyp_va(vcpu);

	host_ctxt = kern_hyp_va(vcpu->arch.host_cpu_context);
	host_ctxt->__hyp_running_vcpu = vcpu;
	guest_ctxt = &vcpu->arch.ctxt;

	__sysreg_save_host_state(host_ctxt);
	__debug_cond_save_host_state(vcpu);

	__activate_traps(vcpu);
	__activate_vm(vcpu);

	__vgic_restore_state(vcpu);
	__timer_enable_traps(vcpu);

	__sysreg32_restore_state(vcpu);
	__sysreg_restore_guest_state(guest_ctxt);
	__debug_restore_state(vcpu, kern_hyp_va(vcpu->arch.debug_ptr), guest_ctxt);

	/* Stand-in: run the guest until an exit the host must see. */
again:
	exit_code = __guest_enter(vcpu, host_ctxt);

	if (ARM_EXCEPTION_CODE(exit_code) != ARM_EXCEPTION_IRQ)
		vcpu->arch.fault.esr_el2 = read_sysreg_el2(esr);

	if (exit_code == ARM_EXCEPTION_TRAP && !__populate_fault_info(vcpu))
		goto again;

	/* Stand-in: GICv2 CPU interface accesses emulated at EL2. */
	if (static_branch_unlikely(&vgic_v2_cpuif_trap) &&
	    exit_code == ARM_EXCEPTION_TRAP) {
		bool valid;

		valid = kvm_vcpu_trap_get_class(vcpu) == ESR_ELx_EC_DABT_LOW &&
			kvm_vcpu_trap_get_fault_type(vcpu) == FSC_FAULT &&
			kvm_vcpu_dabt_isvalid(vcpu) &&
			!kvm_vcpu_dabt_isextabt(vcpu) &&
			!kvm_vcpu_dabt_iss1tw(vcpu);

		if (valid) {
			int ret = __vgic_v2_perform_cpuif_access(vcpu);

			if (ret == 1) {
				if (__skip_instr(vcpu))
					goto again;
				else
					exit_code = ARM_EXCEPTION_TRAP;
			}

			if (ret == -1) {
				/* Stand-in: a bad access becomes an SError. */
				if (!__skip_instr(vcpu))
					*vcpu_cpsr(vcpu) &= ~DBG_SPSR_SS;
				exit_code = ARM_EXCEPTION_EL1_SERROR;
			}
		}
	}

	/* Stand-in: and GICv3 system register accesses. */
	if (static_branch_unlikely(&vgic_v3_cpuif_trap) &&
	    exit_code == ARM_EXCEPTION_TRAP &&
	    (kvm_vcpu_trap_get_class(vcpu) == ESR_ELx_EC_SYS64 ||
	     kvm_vcpu_trap_get_class(vcpu) == ESR_ELx_EC_CP15_32)) {
		int ret = __vgic_v3_perform_cpuif_access(vcpu);

		if (ret == 1) {
			if (__skip_instr(vcpu))
				goto again;
			else
				exit_code = ARM_EXCEPTION_TRAP;
		}
	}

	/* Stand-in: the Falkor branch predictor workaround. */
	if (cpus_have_const_cap(ARM64_HARDEN_BP_POST_GUEST_EXIT)) {
		u32 midr = read_cpuid_id();

		if (((midr & MIDR_CPU_MODEL_MASK) == MIDR_QCOM_FALKOR) ||
		    ((midr & MIDR_CPU_MODEL_MASK) == MIDR_QCOM_FALKOR_V1)) {
			__qcom_hyp_sanitize_btac_predictors();
		}
	}

	fp_enabled = __fpsimd_enabled();

	__sysreg_save_guest_state(guest_ctxt);
	__sysreg32_save_state(vcpu);
	__timer_disable_traps(vcpu);
	__vgic_save_state(vcpu);

	__deactivate_traps(vcpu);
	__deactivate_vm(vcpu);

	__sysreg_restore_host_state(host_ctxt);

	if (fp_enabled) {
		__fpsimd_save_state(&guest_ctxt->gp_regs.fp_regs);
		__fpsimd_restore_state(&host_ctxt->gp_regs.fp_regs);
	}

	__debug_save_state(vcpu, kern_hyp_va(vcpu->arch.debug_ptr), guest_ctxt);
	/* Stand-in: after the host's sysregs, for SPE on non-VHE. */
	__debug_cond_restore_host_state(vcpu);

	return exit_code;
}
"""
)

# The guest's first FP/SIMD access: hyp-entry.S branches here with the
# exception class in x0, the vcpu in x1 and the guest's x0-x1 on the stack.
ENTRY_S_RESTORE = """ENTRY(__fpsimd_guest_restore)
	// Stand-in: x0 = exception class, x1 = vcpu (hyp VA),
	// x2-x30 = guest registers, guest x0-x1 pushed on the hyp stack.
	stp	x2, x3, [sp, #-16]!
	stp	x4, lr, [sp, #-16]!

alternative_if_not ARM64_HAS_VIRT_HOST_EXTN
	mrs	x2, cptr_el2
	bic	x2, x2, #CPTR_EL2_TFP
	msr	cptr_el2, x2
alternative_else
	mrs	x2, cpacr_el1
	orr	x2, x2, #CPACR_EL1_FPEN
	msr	cpacr_el1, x2
alternative_endif
	isb

	mov	x3, x1

	// Stand-in: host registers out to the per-CPU host context...
	ldr	x0, [x3, #VCPU_HOST_CONTEXT]
	kern_hyp_va x0
	add	x0, x0, #CPU_GP_REG_OFFSET(CPU_FP_REGS)
	bl	__fpsimd_save_state

	// ...and the guest's in.
	add	x2, x3, #VCPU_CONTEXT
	add	x0, x2, #CPU_GP_REG_OFFSET(CPU_FP_REGS)
	bl	__fpsimd_restore_state

	// Stand-in: AArch32 guests also get their FPEXC32_EL2 back.
	mrs	x1, hcr_el2
	tbnz	x1, #HCR_RW_SHIFT, 1f
	ldr	x4, [x3, #VCPU_FPEXC32_EL2]
	msr	fpexc32_el2, x4
1:
	ldp	x4, lr, [sp], #16
	ldp	x2, x3, [sp], #16
	ldp	x0, x1, [sp], #16

	eret
ENDPROC(__fpsimd_guest_restore)
"""

ENTRY_S = (
    """/* SPDX-License-Identifier: GPL-2.0 */
/* Stand-in for arch/arm64/kvm/hyp/entry.S: guest entry and exit at EL2. */

#include <linux/linkage.h>

#include <asm/asm-offsets.h>
#include <asm/assembler.h>
#include <asm/fpsimdmacros.h>
#include <asm/kvm.h>
#include <asm/kvm_arm.h>
#include <asm/kvm_asm.h>
#include <asm/kvm_mmu.h>

#define CPU_GP_REG_OFFSET(x)	(CPU_GP_REGS + x)
#define CPU_XREG_OFFSET(x)	CPU_GP_REG_OFFSET(CPU_USER_PT_REGS + 8*x)

	.text
	.pushsection	.hyp.text, "ax"

ENTRY(__guest_enter)
	// Stand-in: save the host's callee-saved registers, load the
	// guest's, eret.
	eret
ENDPROC(__guest_enter)

ENTRY(__guest_exit)
	// Stand-in: save the guest's registers, restore the host's, ret.
	ret
ENDPROC(__guest_exit)

"""
    + ENTRY_S_RESTORE
)

HYP_ENTRY_S_TRAP = """el1_trap:
	/*
	 * Stand-in: x0 holds the exception class.
	 */
	ldr	x1, [sp, #16 + 8]	// the vcpu, pushed by __guest_enter

	/* Stand-in: the guest's first FP/SIMD access switches lazily. */
alternative_if_not ARM64_HAS_NO_FPSIMD
	cmp	x0, #ESR_ELx_EC_FP_ASIMD
	b.eq	__fpsimd_guest_restore
alternative_else_nop_endif

	mov	x0, #ARM_EXCEPTION_TRAP
	b	__guest_exit
"""

HYP_ENTRY_S = """/* SPDX-License-Identifier: GPL-2.0 */
/* Stand-in for arch/arm64/kvm/hyp/hyp-entry.S: the EL2 vectors. */

#include <linux/linkage.h>

#include <asm/alternative.h>
#include <asm/assembler.h>
#include <asm/kvm_arm.h>
#include <asm/kvm_asm.h>

	.text
	.pushsection	.hyp.text, "ax"

el1_sync:				// a guest trapped into EL2
	stp	x0, x1, [sp, #-16]!
	mrs	x1, esr_el2
	lsr	x0, x1, #ESR_ELx_EC_SHIFT
	cmp	x0, #ESR_ELx_EC_HVC64
	b.ne	el1_trap
	eret

el1_hvc_guest:
	// Stand-in: the SMCCC workaround call returns at once.
	ldr	x1, [sp]
	cbnz	w1, el1_trap
	eret

{trap}"""

FPSIMD_C = """// SPDX-License-Identifier: GPL-2.0
/* Stand-in for arch/arm64/kernel/fpsimd.c: the host's FP/SIMD machinery. */

#include <linux/bottom_half.h>
#include <linux/percpu.h>
#include <asm/fpsimd.h>
#include <asm/simd.h>

static DEFINE_PER_CPU(struct fpsimd_last_state_struct, fpsimd_last_state);

/* Stand-in: the task's saved state no longer matches any CPU. */
void fpsimd_flush_task_state(struct task_struct *t)
{
	t->thread.{cpu_field} = NR_CPUS;
}

static inline void fpsimd_flush_cpu_state(void)
{
	__this_cpu_write(fpsimd_last_state.st, NULL);
}

#ifdef CONFIG_ARM64_SVE
void sve_flush_cpu_state(void)
{
	struct fpsimd_last_state_struct const *last =
		this_cpu_ptr(&fpsimd_last_state);

	if (last->st && last->sve_in_use)
		fpsimd_flush_cpu_state();
}
#endif /* CONFIG_ARM64_SVE */

#ifdef CONFIG_KERNEL_MODE_NEON

DEFINE_PER_CPU(bool, kernel_neon_busy);
EXPORT_PER_CPU_SYMBOL(kernel_neon_busy);

/* Stand-in: claim the FP/SIMD registers for kernel-mode NEON. */
void kernel_neon_begin(void)
{
	if (WARN_ON(!system_supports_fpsimd()))
		return;

	BUG_ON(!may_use_simd());

	local_bh_disable();

	__this_cpu_write(kernel_neon_busy, true);

	/* Stand-in: the task's live registers go back to memory. */
	if (current->mm) {
		task_fpsimd_save();
		set_thread_flag(TIF_FOREIGN_FPSTATE);
	}

	fpsimd_flush_cpu_state();

	preempt_disable();

	local_bh_enable();
}
EXPORT_SYMBOL(kernel_neon_begin);

/* Stand-in: give the registers back after kernel_neon_begin(). */
void kernel_neon_end(void)
{
	bool busy;

	if (!system_supports_fpsimd())
		return;

	busy = __this_cpu_xchg(kernel_neon_busy, false);
	WARN_ON(!busy);

	preempt_enable();
}
EXPORT_SYMBOL(kernel_neon_end);

#endif /* CONFIG_KERNEL_MODE_NEON */
"""

FPSIMD_H = """/* SPDX-License-Identifier: GPL-2.0 */
/* Stand-in for arch/arm64/include/asm/fpsimd.h. */
#ifndef __ASM_FP_H
#define __ASM_FP_H

#include <asm/ptrace.h>
#include <asm/errno.h>

#ifndef __ASSEMBLY__

#include <linux/cache.h>
#include <linux/stddef.h>
{state_struct}
struct task_struct;

extern void fpsimd_save_state(struct {state_type} *state);
extern void fpsimd_load_state(struct {state_type} *state);

extern void fpsimd_thread_switch(struct task_struct *next);
extern void fpsimd_flush_thread(void);

extern void fpsimd_flush_task_state(struct task_struct *target);
extern void sve_flush_cpu_state(void);

#endif

#endif
"""

# 4.16: struct fpsimd_state wraps the user_fpsimd_state layout with the
# binding's cpu field; fpsimd_save_state() takes the wrapper.
FPSIMD_STATE_STRUCT = """
/* Stand-in: the registers as the host saves them, user layout first. */
struct fpsimd_state {
	union {
		struct user_fpsimd_state user_fpsimd;
		struct {
			__uint128_t vregs[32];
			u32 fpsr;
			u32 fpcr;
		};
	};
	unsigned int cpu;
};
"""

KVM_HOST_H = """/* SPDX-License-Identifier: GPL-2.0 */
/* Stand-in for arch/arm64/include/asm/kvm_host.h. */
#ifndef __ARM64_KVM_HOST_H__
#define __ARM64_KVM_HOST_H__

#include <linux/types.h>
#include <linux/kvm_types.h>
#include <asm/cpufeature.h>
#include <asm/daifflags.h>
#include <asm/fpsimd.h>
#include <asm/kvm.h>
#include <asm/kvm_asm.h>

struct kvm_cpu_context {
	struct kvm_regs	gp_regs;
	union {
		u64 sys_regs[NR_SYS_REGS];
		u32 copro[NR_COPRO_REGS];
	};

	struct kvm_vcpu *__hyp_running_vcpu;
};

typedef struct kvm_cpu_context kvm_cpu_context_t;

struct kvm_vcpu_arch {
	struct kvm_cpu_context ctxt;

	/* Stand-in: how the hyp configures the guest's traps. */
	u64 hcr_el2;
	u32 mdcr_el2;

	/* Stand-in: the per-CPU context the host is saved into. */
	kvm_cpu_context_t *host_cpu_context;

	bool has_run_once;

	u64 vsesr_el2;{arch_extra}
};

struct kvm_vcpu *kvm_arm_get_running_vcpu(void);

/* Stand-in: the hyp's FPSIMD switch destroys SVE state; forget it. */
static inline void kvm_fpsimd_flush_cpu_state(void)
{
	if (system_supports_sve())
		sve_flush_cpu_state();
}

static inline void kvm_arm_vhe_guest_enter(void)
{
	local_daif_mask();
}

static inline void kvm_arm_vhe_guest_exit(void)
{
	local_daif_restore(DAIF_PROCCTX_NOIRQ);{vhe_exit_extra}
}
{tail}
#endif /* __ARM64_KVM_HOST_H__ */
"""

ARM_KVM_HOST_H = """/* SPDX-License-Identifier: GPL-2.0 */
/* Stand-in for arch/arm/include/asm/kvm_host.h (32-bit ARM). */
#ifndef __ARM_KVM_HOST_H__
#define __ARM_KVM_HOST_H__

#include <linux/types.h>
#include <linux/kvm_types.h>
#include <asm/kvm.h>
#include <asm/kvm_asm.h>

struct kvm_vcpu_arch {
	struct kvm_cpu_context ctxt;

	int target;

	/* Stand-in: the per-CPU context the host is saved into. */
	kvm_cpu_context_t *host_cpu_context;
};

/* Stand-in: 32-bit ARM has no SVE state to forget. */
static inline void kvm_fpsimd_flush_cpu_state(void) {}

static inline void kvm_arm_vhe_guest_enter(void) {}
static inline void kvm_arm_vhe_guest_exit(void) {}
{tail}
#endif /* __ARM_KVM_HOST_H__ */
"""

KVM_MAKEFILE = """# SPDX-License-Identifier: GPL-2.0
#
# Stand-in for arch/arm64/kvm/Makefile: the objects of KVM on arm64.
#

ccflags-y += -Iarch/arm64/kvm -Ivirt/kvm/arm/vgic
CFLAGS_arm.o := -I.
CFLAGS_mmu.o := -I.

KVM=../../../virt/kvm

obj-$(CONFIG_KVM_ARM_HOST) += kvm.o
obj-$(CONFIG_KVM_ARM_HOST) += hyp/

kvm-$(CONFIG_KVM_ARM_HOST) += $(KVM)/kvm_main.o $(KVM)/coalesced_mmio.o
kvm-$(CONFIG_KVM_ARM_HOST) += $(KVM)/arm/arm.o $(KVM)/arm/mmu.o

kvm-$(CONFIG_KVM_ARM_HOST) += {regmap_line}
kvm-$(CONFIG_KVM_ARM_HOST) += hyp.o hyp-init.o handle_exit.o
kvm-$(CONFIG_KVM_ARM_HOST) += guest.o debug.o reset.o sys_regs.o sys_regs_generic_v8.o
kvm-$(CONFIG_KVM_ARM_HOST) += vgic-sys-reg-v3.o
kvm-$(CONFIG_KVM_ARM_HOST) += $(KVM)/arm/aarch32.o
"""


def files() -> dict[str, str]:
    return {
        "Makefile": MAKEFILE.format(patchlevel=16),
        "virt/kvm/arm/arm.c": ARM_C_HEAD
        + ARM_C_LOAD.replace("{load_extra}", "").replace("{put_extra}", "")
        + ARM_C_RUN.replace("{prologue}", ARM_C_RUN_PROLOGUE)
        .replace("{bail_isb}", "")
        .replace("{epilogue}", "\nout:")
        .replace("{run_call}", RUN_CALL),
        "arch/arm64/kvm/hyp/switch.c": SWITCH_C,
        "arch/arm64/kvm/hyp/entry.S": ENTRY_S,
        "arch/arm64/kvm/hyp/hyp-entry.S": HYP_ENTRY_S.replace("{trap}", HYP_ENTRY_S_TRAP),
        "arch/arm64/kernel/fpsimd.c": FPSIMD_C.replace("{cpu_field}", "fpsimd_state.cpu"),
        "arch/arm64/include/asm/fpsimd.h": FPSIMD_H.replace("{state_struct}", FPSIMD_STATE_STRUCT).replace(
            "{state_type}", "fpsimd_state"
        ),
        "arch/arm64/include/asm/kvm_host.h": KVM_HOST_H.replace("{arch_extra}", "")
        .replace("{tail}", "")
        .replace("{vhe_exit_extra}", ""),
        "arch/arm/include/asm/kvm_host.h": ARM_KVM_HOST_H.replace("{tail}", ""),
        "arch/arm64/kvm/Makefile": KVM_MAKEFILE.replace("{regmap_line}", "inject_fault.o regmap.o"),
    }
