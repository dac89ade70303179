# Fix (c) sketched by Dave Martin in the seed thread (kvmarm, 2018-02-14):
# "A better fix would be to set the cpu's kernel_neon_busy flag, which makes
# softirq code use non-NEON fallback code. We could expose an interface from
# fpsimd.c to support that." Lazy-until-put with kernel_neon_busy set from
# kvm_arch_vcpu_load() to kvm_arch_vcpu_put(); softirqs take the fallback.

policy neon_busy "Lazy until put, this CPU's kernel_neon_busy set from load to put (seed fix c)"
extends lazy_until_put

hook load {
    set_kernel_neon_busy()
}

hook put {
    if GUEST_VFP_LOADED {
        fpsimd_save_state(guest)
        fpsimd_load_state(host)
        GUEST_VFP_LOADED = false
    }
    clear_kernel_neon_busy()
}
