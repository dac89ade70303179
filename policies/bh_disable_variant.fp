# Fix (d): the diff Dave Martin posted in the seed thread (kvmarm,
# 2018-02-14) against virt/kvm/arm/arm.c, kvm_arch_vcpu_ioctl_run(), on top
# of the lazy-until-put series, which he called "a rather gross abstraction
# violation". Transcribed faithfully: local_bh_disable() before the run
# loop's local_irq_enable(); then, if a softirq is pending and the guest's
# FPSIMD is untrapped, the two steps the diff leaves as comments ("save vcpu
# FPSIMD context", "enable FPSIMD trap for guest") and nothing more; then
# local_bh_enable().

policy bh_disable_variant "Lazy until put, FPSIMD given back to the host when a softirq is pending at exit (seed fix d)"
extends lazy_until_put

hook exit {
    local_bh_disable()
    local_irq_enable()
    ## If we exited due to one or mode pending interrupts, they
    ## have now been handled. If such an interrupt pended a
    ## softirq, we shouldn't prevent that softirq from using
    ## kernel-mode NEON indefinitely: instead, give FPSIMD back to
    ## the host to manage as it likes. We'll grab it again on the
    ## next FPSIMD trap from the guest (if any).
    if local_softirq_pending() && !fp_trap_armed() {
        ## save vcpu FPSIMD context
        fpsimd_save_state(guest)
        ## enable FPSIMD trap for guest
        arm_fp_trap()
    }
    local_bh_enable()
}
