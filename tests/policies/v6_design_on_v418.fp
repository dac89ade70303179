# Host machinery as Linux 6.1.y and 6.12 have it: the v4.18 design
# (arch/arm64/kvm/fpsimd.c, hyp/include/hyp/switch.h) after "KVM: arm64:
# Unconditionally save+flush host FPSIMD/SVE/SME state" (2024, in 6.1.y and
# 6.12): kvm_arch_vcpu_load_fp() saves the host's registers and unbinds
# them, so the hyp never saves host state and KVM_ARM64_FP_HOST is gone.
# The guest's ownership is vcpu->arch.fp_state (6.1) or the per-CPU
# host_data fp_owner (6.12): FP_STATE_GUEST_OWNED is FP_ENABLED here.

policy v6_design_on_v418 "The 6.x design (host saved at vcpu load, no FP_HOST) written for the v4.18 model"
kernel v4.18

## FP_STATE_GUEST_OWNED: the guest's registers are loaded
flag FP_ENABLED

hook load {
    ## kvm_arch_vcpu_load_fp(): fpsimd_save_and_flush_cpu_state(), which
    ## masks interrupts around the save and the unbind itself.
    local_irq_save()
    fpsimd_save()
    fpsimd_flush_cpu_state()
    local_irq_restore()
    FP_ENABLED = false
}

hook enter {
    ## kvm_arch_vcpu_ctxflush_fp(): if anything used FP since load, nobody
    ## owns the registers.
    if test_thread_flag(TIF_FOREIGN_FPSTATE) {
        FP_ENABLED = false
    }
    ## __activate_cptr_traps(): trap unless the guest owns the registers.
    if !FP_ENABLED {
        arm_fp_trap()
    }
}

hook trap {
    ## kvm_hyp_handle_fpsimd()
    disarm_fp_trap()
    fpsimd_load_state(guest)
    FP_ENABLED = true
}

hook exit {
    ## kvm_arch_vcpu_ctxsync_fp(): hand the loaded guest state to the host.
    if FP_ENABLED {
        fpsimd_bind_state_to_cpu(guest)
        clear_thread_flag(TIF_FOREIGN_FPSTATE)
    }
    local_irq_enable()
}

hook put {
    ## kvm_arch_vcpu_put_fp(): fpsimd_save_and_flush_cpu_state()
    local_irq_save()
    if FP_ENABLED {
        fpsimd_save()
        fpsimd_flush_cpu_state()
    }
    local_irq_restore()
}
