# Eager, per exit: what upstream KVM/arm64 did in v4.15-v4.17.
# Source: virt/kvm/arm/arm.c, arch/arm64/kvm/hyp/switch.c and hyp/entry.S of
# v4.16 (primer section 4). The hyp arms the FP trap on every guest entry; on
# the guest's first FP/SIMD access (__fpsimd_guest_restore) it saves the host
# registers into the per-CPU kvm_host_cpu_state and loads the guest's; on
# every exit after which the guest had FP enabled it saves the guest's
# registers and reloads the host's. Guest values are live only inside the
# hyp, with interrupts masked.

policy eager "Eager per-exit FPSIMD switch in the hyp (upstream v4.15-v4.17)"
kernel v4.16

hook enter {
    ## kvm_fpsimd_flush_cpu_state(): the hyp's FPSIMD-only save/restore
    ## destroys the SVE high bits, so forget the binding if the bound
    ## state has SVE in use.
    if system_supports_sve() {
        sve_flush_cpu_state()
    }
    ## __activate_traps(): trap the guest's first FP/SIMD access.
    arm_fp_trap()
}

hook trap {
    ## __fpsimd_guest_restore: host registers out, guest registers in.
    disarm_fp_trap()
    fpsimd_save_state(host)
    fpsimd_load_state(guest)
}

hook exit {
    ## __kvm_vcpu_run(): if the guest had FP enabled, switch back in hyp.
    if !fp_trap_armed() {
        fpsimd_save_state(guest)
        fpsimd_load_state(host)
    }
    local_irq_enable()
}
