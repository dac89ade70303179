# The seed's fix (d) on today's design: Dave Martin's local_bh_disable()
# variant (kvmarm, 2018-02-14) applied to the 6.12 KVM code
# (kvm_v6_12, the code 6.12 has after the 2025 fix). Around the run loop's local_irq_enable(), if a
# softirq is pending and the guest owns the registers, save them and give
# FPSIMD back to the host before the softirq runs. With the guest state
# bound to the CPU this is not needed for correctness; it trades a save at
# exit for the save the softirq's kernel_neon_begin() would do.

policy softirq_giveback_v6_12 "6.12 KVM, FPSIMD given back at exit when a softirq is pending (seed fix d)"
extends kvm_v6_12

hook exit {
    local_bh_disable()
    ## kvm_arch_vcpu_ctxsync_fp(): hand the loaded guest state to the host.
    if FP_ENABLED {
        fpsimd_bind_state_to_cpu(guest)
        clear_thread_flag(TIF_FOREIGN_FPSTATE)
    }
    local_irq_enable()
    ## A softirq is pending: give FPSIMD back to the host now rather than
    ## make its kernel-mode NEON save the guest's registers.
    if local_softirq_pending() && FP_ENABLED {
        fpsimd_save_and_flush_cpu_state()
        FP_ENABLED = false
    }
    local_bh_enable()
}
