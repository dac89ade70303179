# The trap hook of the merged v4.18 design, changed: the hyp checks the vcpu
# thread's TIF_FOREIGN_FPSTATE itself before it saves the host's registers.

policy hm_trap_recheck_foreign "Host machinery, the trap saves the host's registers only while they are the thread's"
kernel v4.18
extends host_machinery

hook trap {
    disarm_fp_trap()
    ## Save the host's registers only if they still hold the vcpu
    ## thread's state.
    if FP_HOST && !test_thread_flag(TIF_FOREIGN_FPSTATE) {
        fpsimd_save_state(task)
        FP_HOST = false
    }
    fpsimd_load_state(guest)
    FP_ENABLED = true
}
