# Fix (b) sketched by Dave Martin in the seed thread (kvmarm, 2018-02-14):
# "Putting kernel_neon_begin() in _load() and kernel_neon_end() in _put()
# achieves the same without disabling softirq, but preemption is still
# disabled throughout, which is bad." Lazy-until-put with the vcpu's whole
# loaded period claimed as kernel-mode NEON.

policy neon_begin_in_load "Lazy until put, kernel_neon_begin() in load and kernel_neon_end() in put (seed fix b)"
extends lazy_until_put

hook load {
    kernel_neon_begin()
}

hook put {
    if GUEST_VFP_LOADED {
        fpsimd_save_state(guest)
        fpsimd_load_state(host)
        GUEST_VFP_LOADED = false
    }
    kernel_neon_end()
}
