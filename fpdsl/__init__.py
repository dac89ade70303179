"""fpdsl: write an arm64 KVM FPSIMD/SVE context-handling policy once; check,
simulate and emit it as a kernel patch."""

__version__ = "0.1.0"
