# ruff: noqa: E101, W191  (stand-in C sources: kernel style mixes tabs and spaces)
"""Stand-in host sources and headers of the v4.15-v4.16 layout (see
standin416.py): arch/arm64/kernel/fpsimd.c, asm/fpsimd.h, both
asm/kvm_host.h, arch/arm64/kvm/guest.c (where the series appends its host
functions) and arch/arm64/kvm/Makefile (which builds guest.o)."""

from __future__ import annotations

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

# Stand-in for arch/arm64/kvm/guest.c (4.16 and 4.17 have the same file):
# the top as the real one has it, its #include list in the real order (the
# patch adds only the headers it lacks, after them); no anchor touches its
# functions, so none are here.
GUEST_C = """// SPDX-License-Identifier: GPL-2.0
/*
 * Stand-in for arch/arm64/kvm/guest.c: arm64's handling of a guest's
 * registers for userspace (KVM_GET_ONE_REG and friends).
 */

#include <linux/errno.h>
#include <linux/err.h>
#include <linux/kvm_host.h>
#include <linux/module.h>
#include <linux/vmalloc.h>
#include <linux/fs.h>
#include <kvm/arm_psci.h>
#include <asm/cputype.h>
#include <linux/uaccess.h>
#include <asm/kvm.h>
#include <asm/kvm_emulate.h>
#include <asm/kvm_coproc.h>

#include "trace.h"

/* Stand-in: the real file's register, ioctl and attribute handlers follow. */
"""
