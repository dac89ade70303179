# The enter hook of the merged v4.18 design, changed: the guest FP trap is
# decided by the host just before guest entry, both ways, instead of by the
# hyp's update_fp_enabled().

policy hm_enter_host_decides "Host machinery, the FP trap decided in the host before guest entry"
kernel v4.18
extends host_machinery

hook enter {
    ## Registers that no longer hold this thread's state hold neither
    ## the guest's nor the host's values: trap, and save nothing.
    if test_thread_flag(TIF_FOREIGN_FPSTATE) {
        FP_ENABLED = false
        FP_HOST = false
    }
    if FP_ENABLED {
        disarm_fp_trap()
    } else {
        arm_fp_trap()
    }
}
