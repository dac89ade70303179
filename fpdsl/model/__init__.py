"""The reference model of the 2018 arm64 kernel: CPUs, host fpsimd machinery,
KVM's run loop, interrupts, softirqs and preemption. It knows nothing of the
policy language: KVM's hooks are supplied through the `Hooks` protocol."""
