# Lazy until vcpu_put: Christoffer Dall's VHE optimisation series as posted
# (kvmarm, early 2018; "KVM: arm64: Defer saving/restoring host FP state to
# vcpu_put" in spirit). The guest's FPSIMD state stays live across exits; the
# host's is restored only in kvm_arch_vcpu_put() (kvm_vcpu_put_sysregs()).
# The seed thread: Dave Martin points out that a softirq may use kernel-mode
# NEON between load and put and trash the live guest registers.

policy lazy_until_put "Guest FPSIMD stays live across exits until vcpu_put (VHE series as posted)"
kernel v4.16
extends eager

## vcpu->arch.guest_vfp_loaded
flag GUEST_VFP_LOADED

hook enter {
    ## kvm_fpsimd_flush_cpu_state(), unchanged from v4.16.
    if system_supports_sve() {
        sve_flush_cpu_state()
    }
    ## Keep trapping only until the guest's registers are loaded.
    if !GUEST_VFP_LOADED {
        arm_fp_trap()
    }
}

hook trap {
    disarm_fp_trap()
    fpsimd_save_state(host)
    fpsimd_load_state(guest)
    GUEST_VFP_LOADED = true
}

hook exit {
    ## The guest's registers stay live: nothing to do on exit.
    local_irq_enable()
}

hook put {
    ## kvm_vcpu_put_sysregs(): give the host its registers back.
    if GUEST_VFP_LOADED {
        fpsimd_save_state(guest)
        fpsimd_load_state(host)
        GUEST_VFP_LOADED = false
    }
}
