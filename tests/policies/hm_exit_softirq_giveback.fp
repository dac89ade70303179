# The exit hook of the merged v4.18 design, changed: the seed's fix (d) on
# it. Bottom halves stay off across the run loop's local_irq_enable(); if a
# softirq is pending, the guest's registers are written back first.

policy hm_exit_softirq_giveback "Host machinery, the guest's FPSIMD state saved at exit when a softirq is pending"
kernel v4.18
extends host_machinery

hook exit {
    local_bh_disable()
    if FP_ENABLED {
        fpsimd_bind_state_to_cpu(guest)
        clear_thread_flag(TIF_FOREIGN_FPSTATE)
        clear_thread_flag(TIF_SVE)
    }
    local_irq_enable()
    if local_softirq_pending() && FP_ENABLED {
        ## A softirq is about to run: write the guest's registers back
        ## and trap its next FP access, so the softirq saves nothing.
        fpsimd_save()
        fpsimd_flush_cpu_state()
        FP_ENABLED = false
    }
    local_bh_enable()
}
