# Fix (a) sketched by Dave Martin in the seed thread (kvmarm, 2018-02-14):
# "The simplest fix is to disable softirqs and preemption for that whole
# region, but since we can stay in it indefinitely that's obviously not the
# right approach." Lazy-until-put with softirqs and preemption disabled from
# kvm_arch_vcpu_load() to kvm_arch_vcpu_put().

policy no_softirq_no_preempt "Lazy until put, softirqs and preemption disabled from load to put (seed fix a)"
extends lazy_until_put

hook load {
    local_bh_disable()
    preempt_disable()
}

hook put {
    if GUEST_VFP_LOADED {
        fpsimd_save_state(guest)
        fpsimd_load_state(host)
        GUEST_VFP_LOADED = false
    }
    preempt_enable()
    local_bh_enable()
}
