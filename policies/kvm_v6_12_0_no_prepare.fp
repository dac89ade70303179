# kvm_v6_12_0 without the 2022 fix "KVM: arm64: Discard any SVE state when
# entering KVM guests" (93ae6b01bafe, v5.19: fpsimd_kvm_prepare()), on the
# 6.12.0 host: the hyp saves only the host's FPSIMD registers while the vcpu
# thread may still have TIF_SVE.

policy kvm_v6_12_0_no_prepare "6.12.0 KVM without fpsimd_kvm_prepare(): the state before the 2022 fix"
kernel v6.12.0

## FP_STATE_HOST_OWNED
flag HOST_OWNED
## FP_STATE_GUEST_OWNED
flag GUEST_OWNED
## the vcpu flag HOST_SVE_ENABLED
flag HOST_SVE_ENABLED
## the vcpu flag HOST_SME_ENABLED
flag HOST_SME_ENABLED

## kvm_arch_vcpu_load_fp()
hook load {
    ## The host owns the registers until kvm_arch_vcpu_ctxflush_fp() finds
    ## TIF_FOREIGN_FPSTATE set (then nobody does).
    HOST_OWNED = true
    GUEST_OWNED = false
    HOST_SVE_ENABLED = false
    if sve_user_enabled() {
        HOST_SVE_ENABLED = true
    }
    ## SME (none in the model: system_supports_sme() is false there).
    if system_supports_sme() {
        HOST_SME_ENABLED = false
        if sme_user_enabled() {
            HOST_SME_ENABLED = true
        }
        ## Streaming mode or ZA live: save it and leave SME off, or the
        ## guest could take SME traps it cannot handle.
        if sme_state_live() {
            HOST_OWNED = false
            GUEST_OWNED = false
            fpsimd_save_and_flush_cpu_state()
        }
    }
}

## kvm_arch_vcpu_ctxflush_fp()
hook enter {
    if test_thread_flag(TIF_FOREIGN_FPSTATE) {
        HOST_OWNED = false
        GUEST_OWNED = false
    }
    ## __activate_cptr_traps()
    if !GUEST_OWNED {
        arm_fp_trap()
    }
}

## kvm_hyp_handle_fpsimd(): kvm_hyp_save_fpsimd_host() if the host
hook trap {
    ## owns the registers (FPSIMD only), then the guest's state.
    disarm_fp_trap()
    if HOST_OWNED {
        fpsimd_save_state(task)
    }
    fpsimd_load_state(guest)
    HOST_OWNED = false
    GUEST_OWNED = true
}

## kvm_arch_vcpu_ctxsync_fp()
hook exit {
    if GUEST_OWNED {
        fpsimd_bind_state_to_cpu(guest)
        clear_thread_flag(TIF_FOREIGN_FPSTATE)
    }
    local_irq_enable()
}

## kvm_arch_vcpu_put_fp()
hook put {
    local_irq_save()
    ## VHE: the hyp reset CPACR_EL1; give EL0 the SME trap load saw.
    if has_vhe() && system_supports_sme() {
        if HOST_SME_ENABLED {
            sme_user_enable()
        } else {
            sme_user_disable()
        }
        isb()
    }
    if GUEST_OWNED {
        fpsimd_save_and_flush_cpu_state()
    } else {
        ## VHE: restore the EL0 SVE trap that load saw.
        if has_vhe() && system_supports_sve() {
            if HOST_SVE_ENABLED {
                sve_user_enable()
            } else {
                sve_user_disable()
            }
        }
    }
    local_irq_restore()
}
