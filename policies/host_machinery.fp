# Host machinery: what merged in v4.18, Dave Martin's "KVM: arm64: Optimise
# FPSIMD handling to reduce guest/host thrashing" (arch/arm64/kvm/fpsimd.c,
# hyp/switch.c update_fp_enabled() and __hyp_switch_fpsimd()). The guest's
# saved state is bound to the CPU like a task's, so the host's own context
# switch and kernel_neon_begin() save it; nothing is restored eagerly.

policy host_machinery "Guest FPSIMD state handed to the host's fpsimd machinery (merged in v4.18)"
kernel v4.18

## KVM_ARM64_FP_ENABLED: the guest's registers are loaded
flag FP_ENABLED
## KVM_ARM64_FP_HOST: the host's registers are still loaded
flag FP_HOST

hook load {
    ## kvm_arch_vcpu_load_fp()
    FP_ENABLED = false
    FP_HOST = true
}

hook enter {
    ## update_fp_enabled(): if the registers no longer hold this thread's
    ## state, neither the guest's nor the host's values are live.
    if test_thread_flag(TIF_FOREIGN_FPSTATE) {
        FP_ENABLED = false
        FP_HOST = false
    }
    if !FP_ENABLED {
        arm_fp_trap()
    }
}

hook trap {
    ## __hyp_switch_fpsimd()
    disarm_fp_trap()
    if FP_HOST {
        fpsimd_save_state(task)
        FP_HOST = false
    }
    fpsimd_load_state(guest)
    FP_ENABLED = true
}

hook exit {
    ## kvm_arch_vcpu_ctxsync_fp(): hand the loaded guest state to the host.
    if FP_ENABLED {
        fpsimd_bind_state_to_cpu(guest)
        clear_thread_flag(TIF_FOREIGN_FPSTATE)
        clear_thread_flag(TIF_SVE)
    }
    local_irq_enable()
}

hook put {
    ## kvm_arch_vcpu_put_fp(): clean the guest state to memory and
    ## invalidate the CPU's view of it.
    local_irq_save()
    if FP_ENABLED {
        fpsimd_save()
        fpsimd_flush_cpu_state()
    }
    local_irq_restore()
}
