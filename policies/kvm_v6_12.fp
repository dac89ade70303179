# KVM's FPSIMD/SVE handling in Linux 6.12.y after the 2025 fix (read from
# Debian's 6.12.117, arch/arm64/kvm/fpsimd.c): "KVM: arm64:
# Unconditionally save+flush host FPSIMD/SVE/SME state" and its follow-ups
# (no host save in the hyp, no HOST_SVE_ENABLED, no VHE restore of
# CPACR_EL1.ZEN).

policy kvm_v6_12 "6.12 KVM after the 2025 fix: host state saved and unbound at vcpu load"
kernel v6.12

## FP_STATE_GUEST_OWNED (FP_STATE_FREE when clear; the name is v4.18's)
flag FP_ENABLED

hook load {
    ## kvm_arch_vcpu_load_fp()
    fpsimd_save_and_flush_cpu_state()
    FP_ENABLED = false
}

hook enter {
    ## kvm_arch_vcpu_ctxflush_fp()
    if test_thread_flag(TIF_FOREIGN_FPSTATE) {
        FP_ENABLED = false
    }
    ## __activate_traps()
    if !FP_ENABLED {
        arm_fp_trap()
    }
}

hook trap {
    ## kvm_hyp_handle_fpsimd(): nothing of the host's to save.
    disarm_fp_trap()
    fpsimd_load_state(guest)
    FP_ENABLED = true
}

hook exit {
    ## kvm_arch_vcpu_ctxsync_fp(): to_save is the guest's type.
    if FP_ENABLED {
        fpsimd_bind_state_to_cpu(guest)
        clear_thread_flag(TIF_FOREIGN_FPSTATE)
    }
    local_irq_enable()
}

hook put {
    ## kvm_arch_vcpu_put_fp()
    local_irq_save()
    if FP_ENABLED {
        fpsimd_save_and_flush_cpu_state()
    }
    local_irq_restore()
}
