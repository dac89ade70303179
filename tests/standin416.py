# ruff: noqa: E101, W191  (stand-in C sources: kernel style mixes tabs and spaces)
"""Stand-in tree of the v4.15-v4.16 layout (target v4.16), checked by hand
against 4.16.13.

The files keep the real tree's structure where fpdsl's anchors look and
where a patch must keep code: the same functions with the same signatures,
the statements around each site in the same order, the same calls; the
comments and the rest are our own, and everything no anchor touches is left
out. `tests/check_standin.py` compares this structure with a real tree."""

from __future__ import annotations

from standin416_host import (
    ARM_KVM_HOST_H,
    FPSIMD_C,
    FPSIMD_H,
    FPSIMD_STATE_STRUCT,
    GUEST_C,
    KVM_HOST_H,
    KVM_MAKEFILE,
)
from standin416_hyp import (
    ENTRY_S,
    HYP_ENTRY_S,
    HYP_ENTRY_S_TRAP,
    SWITCH_C,
    SWITCH_C_HEAD,
)

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

__all__ = [
    "ARM_C_HEAD",
    "ARM_C_LOAD",
    "ARM_C_RUN",
    "ARM_C_RUN_PROLOGUE",
    "ARM_KVM_HOST_H",
    "ENTRY_S",
    "FPSIMD_C",
    "FPSIMD_H",
    "FPSIMD_STATE_STRUCT",
    "GUEST_C",
    "HYP_ENTRY_S",
    "HYP_ENTRY_S_TRAP",
    "KVM_HOST_H",
    "KVM_MAKEFILE",
    "MAKEFILE",
    "RUN_CALL",
    "SWITCH_C",
    "SWITCH_C_HEAD",
]


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
        "arch/arm64/kvm/guest.c": GUEST_C,
    }
