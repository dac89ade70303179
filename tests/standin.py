"""Small stand-in kernel trees of the 2018 layouts, written by the tests.

They hold only what the emitter's anchors look for: the functions, the
statements and the struct by their kernel names, with bodies and comments of
our own (no kernel code is copied). Each layout is a dict path -> text."""

from __future__ import annotations

from pathlib import Path

MAKEFILE = """# SPDX-License-Identifier: GPL-2.0
VERSION = 4
PATCHLEVEL = {patchlevel}
SUBLEVEL = 0
EXTRAVERSION =
NAME = Stand-in tree for fpdsl tests
"""

ARM_C_HEAD = """// SPDX-License-Identifier: GPL-2.0-only
/* Stand-in for the KVM/arm run loop: only what fpdsl's anchors need. */

#include <linux/kvm_host.h>
#include <linux/preempt.h>
#include <asm/kvm_asm.h>
#include <asm/kvm_emulate.h>

"""

ARM_C_LOAD_416 = """void kvm_arch_vcpu_load(struct kvm_vcpu *vcpu, int cpu)
{
	vcpu->cpu = cpu;
	kvm_arm_set_running_vcpu(vcpu);
	kvm_timer_vcpu_load(vcpu);
}

void kvm_arch_vcpu_put(struct kvm_vcpu *vcpu)
{
	kvm_timer_vcpu_put(vcpu);
	vcpu->cpu = -1;
	kvm_arm_set_running_vcpu(NULL);
}
"""

ARM_C_LOAD_418 = """void kvm_arch_vcpu_load(struct kvm_vcpu *vcpu, int cpu)
{
	vcpu->cpu = cpu;
	kvm_arm_set_running_vcpu(vcpu);
	kvm_timer_vcpu_load(vcpu);
	kvm_arch_vcpu_load_fp(vcpu);
}

void kvm_arch_vcpu_put(struct kvm_vcpu *vcpu)
{
	kvm_arch_vcpu_put_fp(vcpu);
	kvm_timer_vcpu_put(vcpu);
	vcpu->cpu = -1;
	kvm_arm_set_running_vcpu(NULL);
}
"""

ARM_C_RUN = """
int kvm_arch_vcpu_ioctl_run(struct kvm_vcpu *vcpu, struct kvm_run *run)
{
	int ret;

	vcpu_load(vcpu);
	ret = 1;
	while (ret > 0) {
		/* A preemption point before each entry. */
		cond_resched();

		preempt_disable();
{flush}
		local_irq_disable();

		if (ret <= 0 || kvm_request_pending(vcpu)) {
			local_irq_enable();
			preempt_enable();
			continue;
		}

		/* Into the guest, interrupts off. */
		guest_enter_irqoff();
		ret = kvm_call_hyp(__kvm_vcpu_run, vcpu);
		vcpu->mode = OUTSIDE_GUEST_MODE;

		kvm_vgic_sync_hwstate(vcpu);
{ctxsync}
		/*
		 * Stand-in note: an interrupt that arrived while the guest
		 * ran is taken when interrupts come back on below.
		 */
		local_irq_enable();

		/* Stand-in note: account guest time, then allow preemption. */
		guest_exit();
		preempt_enable();

		ret = handle_exit(vcpu, run, ret);
	}

	vcpu_put(vcpu);
	return ret;
}
"""

FLUSH_416 = """
		/* Stand-in note: forget SVE state the hyp cannot keep. */
		kvm_fpsimd_flush_cpu_state();
"""

CTXSYNC_418 = """
		kvm_arch_vcpu_ctxsync_fp(vcpu);
"""

SWITCH_C_416 = """// SPDX-License-Identifier: GPL-2.0-only
/* Stand-in for the hyp world switch: only what fpdsl's anchors need. */

#include <asm/kvm_hyp.h>

static void __hyp_text __activate_traps(struct kvm_vcpu *vcpu)
{
	write_sysreg(vcpu->arch.hcr_el2, hcr_el2);
	__activate_traps_arch()();
}

void __hyp_text __hyp_switch_fpsimd(u64 esr __always_unused,
				    struct kvm_vcpu *vcpu)
{
	kvm_cpu_context_t *host_ctxt;

	if (has_vhe())
		write_sysreg(read_sysreg(cpacr_el1) | CPACR_EL1_FPEN,
			     cpacr_el1);
	else
		write_sysreg(read_sysreg(cptr_el2) & ~(u64)CPTR_EL2_TFP,
			     cptr_el2);

	isb();

	host_ctxt = kern_hyp_va(vcpu->arch.host_cpu_context);
	__fpsimd_save_state(&host_ctxt->gp_regs.fp_regs);
	__fpsimd_restore_state(&vcpu->arch.ctxt.gp_regs.fp_regs);
}

int __hyp_text __kvm_vcpu_run(struct kvm_vcpu *vcpu)
{
	struct kvm_cpu_context *host_ctxt;
	struct kvm_cpu_context *guest_ctxt;
	bool fp_enabled;
	u64 exit_code;

	host_ctxt = kern_hyp_va(vcpu->arch.host_cpu_context);
	guest_ctxt = &vcpu->arch.ctxt;
	__activate_traps(vcpu);

	exit_code = __guest_enter(vcpu, host_ctxt);

	fp_enabled = __fpsimd_enabled();
	__deactivate_traps(vcpu);

	if (fp_enabled) {
		__fpsimd_save_state(&guest_ctxt->gp_regs.fp_regs);
		__fpsimd_restore_state(&host_ctxt->gp_regs.fp_regs);
	}

	return exit_code;
}
"""

SWITCH_C_418 = """// SPDX-License-Identifier: GPL-2.0-only
/* Stand-in for the hyp world switch: only what fpdsl's anchors need. */

#include <asm/kvm_hyp.h>

static bool __hyp_text update_fp_enabled(struct kvm_vcpu *vcpu)
{
	if (vcpu->arch.host_thread_info->flags & _TIF_FOREIGN_FPSTATE)
		vcpu->arch.flags &= ~(KVM_ARM64_FP_ENABLED |
				      KVM_ARM64_FP_HOST);

	return !!(vcpu->arch.flags & KVM_ARM64_FP_ENABLED);
}

static bool __hyp_text __hyp_switch_fpsimd(struct kvm_vcpu *vcpu)
{
	struct user_fpsimd_state *host_fpsimd = vcpu->arch.host_fpsimd_state;

	if (has_vhe())
		write_sysreg(read_sysreg(cpacr_el1) | CPACR_EL1_FPEN,
			     cpacr_el1);
	else
		write_sysreg(read_sysreg(cptr_el2) & ~(u64)CPTR_EL2_TFP,
			     cptr_el2);

	isb();

	if (vcpu->arch.flags & KVM_ARM64_FP_HOST) {
		__fpsimd_save_state(host_fpsimd);
		vcpu->arch.flags &= ~KVM_ARM64_FP_HOST;
	}

	__fpsimd_restore_state(&vcpu->arch.ctxt.gp_regs.fp_regs);
	vcpu->arch.flags |= KVM_ARM64_FP_ENABLED;

	return true;
}
"""

FPSIMD_C = """// SPDX-License-Identifier: GPL-2.0-only
/* Stand-in for the host's FP/SIMD machinery: only fpdsl's anchors. */

#include <linux/percpu.h>
#include <asm/fpsimd.h>
#include <asm/neon.h>

DEFINE_PER_CPU(bool, kernel_neon_busy);
EXPORT_PER_CPU_SYMBOL(kernel_neon_busy);

void kernel_neon_begin(void)
{
	BUG_ON(!may_use_simd());

	preempt_disable();
	__this_cpu_write(kernel_neon_busy, true);
	fpsimd_flush_cpu_state();
}
EXPORT_SYMBOL(kernel_neon_begin);

void kernel_neon_end(void)
{
	__this_cpu_write(kernel_neon_busy, false);
	preempt_enable();
}
EXPORT_SYMBOL(kernel_neon_end);
"""

FPSIMD_H = """/* SPDX-License-Identifier: GPL-2.0-only */
/* Stand-in for asm/fpsimd.h: only fpdsl's anchors. */
#ifndef __ASM_FP_H
#define __ASM_FP_H

extern void fpsimd_flush_task_state(struct task_struct *target);
extern void fpsimd_flush_cpu_state(void);

#endif
"""

KVM_HOST_H = """/* SPDX-License-Identifier: GPL-2.0-only */
/* Stand-in for asm/kvm_host.h: only fpdsl's anchors. */
#ifndef __ARM64_KVM_HOST_H__
#define __ARM64_KVM_HOST_H__

struct kvm_vcpu_arch {
	struct kvm_cpu_context ctxt;
	u64 hcr_el2;
{arch_extra}
	kvm_cpu_context_t *host_cpu_context;
};
{defines}
#endif
"""

KVM_FPSIMD_C = """// SPDX-License-Identifier: GPL-2.0-only
/* Stand-in for arch/arm64/kvm/fpsimd.c: its presence marks the layout. */

#include <linux/kvm_host.h>
"""


def layout(name: str) -> dict[str, str]:
    """The stand-in files of a layout: "v4.16", "v4.17" or "v4.18" (each
    layout's files live in standin<NNN>.py)."""
    import importlib

    try:
        module = importlib.import_module("standin" + name.replace("v", "").replace(".", ""))
    except ModuleNotFoundError:
        raise ValueError(name) from None
    return module.files()


def write_tree(root: Path, name: str, *, git: bool = False) -> Path:
    """Write the layout under `root`; with `git`, commit it so that
    `git apply --check` has a repository to check against."""
    import subprocess

    for rel, text in layout(name).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if git:
        env = {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        }
        run = dict(cwd=root, check=True, capture_output=True, env={**env, "PATH": "/usr/bin:/bin"})
        subprocess.run(["git", "init", "-q"], **run)
        subprocess.run(["git", "add", "-A"], **run)
        subprocess.run(["git", "commit", "-qm", "stand-in"], **run)
    return root
