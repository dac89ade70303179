# The load hook of the merged v4.18 design, changed: save the host task's
# registers at vcpu load, as 6.x does, so that the hyp never saves host state.

policy hm_load_save_host "Host machinery, the host's FPSIMD state saved at vcpu load instead of by the hyp"
kernel v4.18
extends host_machinery

hook load {
    ## Save the host task's registers and unbind them now, so that the
    ## hyp's trap handler has no host state left to save.
    local_irq_save()
    fpsimd_save()
    fpsimd_flush_cpu_state()
    local_irq_restore()
    FP_ENABLED = false
    FP_HOST = false
}
