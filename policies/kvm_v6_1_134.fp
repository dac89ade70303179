# KVM's FPSIMD/SVE handling in Linux 6.1.134, the last 6.1.y before the
# 2025 fix's backport (6.1.135: "KVM: arm64: Unconditionally save+flush host
# FPSIMD/SVE/SME state"; read from the backport series' diffs reversed onto
# 6.1.192): arch/arm64/kvm/fpsimd.c, hyp/include/hyp/switch.h
# kvm_hyp_handle_fpsimd(). vcpu->arch.fp_state is two flags here
# (FP_STATE_FREE: both clear).

policy kvm_v6_1_134 "6.1 KVM before the 2025 fix: the hyp saves host FPSIMD at the guest's first FP use"
kernel v6.1.134

## FP_STATE_HOST_OWNED: the registers hold the host task's live state
flag HOST_OWNED
## FP_STATE_GUEST_OWNED: the registers hold the guest's state
flag GUEST_OWNED
## the vcpu flag HOST_SVE_ENABLED: EL0 SVE was enabled at vcpu load
flag HOST_SVE_ENABLED

hook load {
    ## kvm_arch_vcpu_load_fp(): KVM_RUN's syscall entry discarded the
    ## task's SVE state, and the last put cleared TIF_SVE.
    bug_on(test_thread_flag(TIF_SVE))
    ## The host task owns the registers; remember the EL0 SVE trap
    ## (CPACR_EL1.ZEN) for kvm_arch_vcpu_put_fp().
    HOST_OWNED = true
    GUEST_OWNED = false
    HOST_SVE_ENABLED = false
    if sve_user_enabled() {
        HOST_SVE_ENABLED = true
    }
}

hook enter {
    ## kvm_arch_vcpu_ctxflush_fp(): anything that used FP since load
    ## saved the host's state: nobody owns the registers.
    if test_thread_flag(TIF_FOREIGN_FPSTATE) {
        HOST_OWNED = false
        GUEST_OWNED = false
    }
    ## __activate_traps(): trap unless the guest owns the registers.
    if !GUEST_OWNED {
        arm_fp_trap()
    }
}

hook trap {
    ## kvm_hyp_handle_fpsimd(): save the host's FPSIMD registers
    ## (__fpsimd_save_state(vcpu->arch.host_fpsimd_state)), load the guest's.
    disarm_fp_trap()
    if HOST_OWNED {
        fpsimd_save_state(task)
    }
    fpsimd_load_state(guest)
    HOST_OWNED = false
    GUEST_OWNED = true
}

hook exit {
    ## kvm_arch_vcpu_ctxsync_fp(): bind the guest's state to the CPU, and
    ## set the vcpu thread's TIF_SVE so that fpsimd_save() saves it as SVE.
    if GUEST_OWNED {
        fpsimd_bind_state_to_cpu(guest)
        clear_thread_flag(TIF_FOREIGN_FPSTATE)
        if vcpu_has_sve() {
            set_thread_flag(TIF_SVE)
        } else {
            clear_thread_flag(TIF_SVE)
        }
    }
    local_irq_enable()
}

hook put {
    ## kvm_arch_vcpu_put_fp()
    local_irq_save()
    if GUEST_OWNED {
        fpsimd_save_and_flush_cpu_state()
    } else {
        ## VHE: the hyp reset CPACR_EL1; restore what load saw.
        if system_supports_sve() {
            if HOST_SVE_ENABLED {
                sve_user_enable()
            } else {
                sve_user_disable()
            }
        }
    }
    clear_thread_flag(TIF_SVE)
    local_irq_restore()
}
