# The put hook of the merged v4.18 design, changed: once put has written the
# guest's registers back, the vcpu says they are no longer loaded.

policy hm_put_clear_enabled "Host machinery, put clears FP_ENABLED once the guest's registers are saved"
kernel v4.18
extends host_machinery

hook put {
    local_irq_save()
    if FP_ENABLED {
        fpsimd_save()
        fpsimd_flush_cpu_state()
        ## The registers no longer hold the guest's state.
        FP_ENABLED = false
    }
    local_irq_restore()
}
