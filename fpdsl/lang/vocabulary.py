"""What a policy may say: hooks, primitives, predicates and their argument
kinds, with the interrupt/softirq/preemption effect of each primitive. The
names are the kernel's where the kernel has one."""

from __future__ import annotations

from dataclasses import dataclass

# Argument kinds.
STORAGE = ("guest", "host", "task")  # vcpu->arch.ctxt, kvm_host_cpu_state, current->thread
BINDABLE = ("guest", "task")
THREAD_FLAG = ("TIF_FOREIGN_FPSTATE", "TIF_SVE")

ARG_KINDS: dict[str, tuple[str, ...]] = {
    "storage": STORAGE,
    "bindable": BINDABLE,
    "thread_flag": THREAD_FLAG,
}


@dataclass(frozen=True)
class HookInfo:
    name: str
    when: str
    # Net change of the irq-disable depth the hook must make (the exit hook
    # contains the run loop's own local_irq_enable()).
    irq_delta: int = 0
    # Where its code runs: "host" (the kernel, EL1 or VHE's EL2 as kernel
    # code) or "hyp" (KVM's EL2 world switch, which can call no kernel function).
    context: str = "host"


HOOKS: dict[str, HookInfo] = {
    h.name: h
    for h in (
        HookInfo("load", "kvm_arch_vcpu_load(): vcpu_load() or a switch back to the vcpu thread; preemption off"),
        HookInfo("put", "kvm_arch_vcpu_put(): vcpu_put() (irqs on) or the sched-out notifier (irqs off)"),
        HookInfo("enter", "just before guest entry; preemption and interrupts off"),
        HookInfo("trap", "the guest's first FP/SIMD access while the FP trap is armed (hyp, irqs off)", context="hyp"),
        HookInfo(
            "exit",
            "after guest exit, interrupts off; contains the run loop's local_irq_enable()",
            irq_delta=-1,
        ),
        HookInfo("softirq", "a softirq wants kernel-mode NEON on a CPU where this vcpu is loaded"),
    )
}

# Hooks that may carry an imbalance as long as the pair cancels out.
PAIRED_HOOKS = {"load": "put", "put": "load"}


@dataclass(frozen=True)
class Effect:
    """Change in (preempt count, softirq-disable count, irq-disable depth)."""

    preempt: int = 0
    bh: int = 0
    irq: int = 0
    neon: int = 0  # kernel_neon_begin/end nesting


@dataclass(frozen=True)
class Primitive:
    name: str
    args: tuple[str, ...]  # argument kinds
    doc: str
    effect: Effect = Effect()
    since: str | None = None  # first kernel model version that has it
    until: str | None = None  # last kernel model version that has it
    # First kernel version whose hyp code can do it; None: kernel code only
    # (the hyp runs with the kernel's functions and most of its data unmapped).
    hyp: str | None = None
    # (kernel version, effect from that version on), oldest first: where the
    # call's effect changed over the years.
    effect_since: tuple[tuple[str, Effect], ...] = ()


PRIMITIVES: dict[str, Primitive] = {
    p.name: p
    for p in (
        Primitive("fpsimd_save_state", ("storage",), "save the CPU's FPSIMD registers into a saved state", hyp="v4.16"),
        Primitive("fpsimd_load_state", ("storage",), "load a saved state into the CPU's FPSIMD registers", hyp="v4.16"),
        Primitive(
            "fpsimd_save",
            (),
            "save the live registers into the state bound to this CPU, unless TIF_FOREIGN_FPSTATE",
            since="v4.18",
            until="v4.18",  # static in 6.x fpsimd.c (6.12: fpsimd_save_user_state())
        ),
        Primitive(
            "fpsimd_bind_state_to_cpu", ("bindable",), "bind a saved state to this CPU's registers", since="v4.18"
        ),
        Primitive("fpsimd_flush_cpu_state", (), "forget which saved state this CPU's registers hold", until="v4.18"),
        Primitive(
            "fpsimd_save_and_flush_cpu_state",
            (),
            "with interrupts masked, save the bound state and unbind it (current gets TIF_FOREIGN_FPSTATE)",
            since="v6.1.134",
        ),
        Primitive(
            "fpsimd_kvm_prepare",
            (),
            "if current has TIF_SVE, clear it and convert its saved state to FPSIMD (the 2022 fix)",
            since="v6.12.0",  # 6.1.y had it only between the 2025 backport's first and fifth patch
            until="v6.12.0",  # removed by the 2025 fix
        ),
        Primitive(
            "sve_user_enable", (), "let EL0 use SVE without trapping (CPACR_EL1.ZEN_EL0EN set)", since="v6.1.134"
        ),
        Primitive("sve_user_disable", (), "make EL0's SVE use trap (CPACR_EL1.ZEN_EL0EN clear)", since="v6.1.134"),
        # SME: the 6.x models have none (system_supports_sme() is false; SME is
        # `depends on BROKEN` in Debian's 6.1 and 6.12), so these only let a
        # policy say what KVM's SME code does; in the model they do nothing.
        Primitive(
            "sme_user_enable", (), "let EL0 and EL1 use SME (CPACR_EL1.SMEN); no SME in the model", since="v6.1.134"
        ),
        Primitive(
            "sme_user_disable",
            (),
            "make EL0's SME use trap (CPACR_EL1.SMEN_EL0EN clear); no SME in the model",
            since="v6.1.134",
        ),
        Primitive(
            "isb",
            (),
            "instruction barrier: system register writes take effect (at once in the model)",
            since="v6.1.134",
        ),
        Primitive(
            "sve_flush_cpu_state",
            (),
            "forget the binding if the bound state has SVE in use (kvm_fpsimd_flush_cpu_state())",
            until="v4.16",
        ),
        Primitive("set_thread_flag", ("thread_flag",), "set a flag of the vcpu thread"),
        Primitive("clear_thread_flag", ("thread_flag",), "clear a flag of the vcpu thread"),
        Primitive(
            "arm_fp_trap", (), "trap the guest's next FP/SIMD access (CPTR_EL2.TFP / CPACR_EL1.FPEN)", hyp="v4.16"
        ),
        Primitive("disarm_fp_trap", (), "let the guest use FP/SIMD without trapping", hyp="v4.16"),
        Primitive("local_bh_disable", (), "mask softirqs on this CPU", Effect(bh=1)),
        Primitive("local_bh_enable", (), "unmask softirqs; runs pending ones", Effect(bh=-1)),
        Primitive("preempt_disable", (), "disable preemption", Effect(preempt=1)),
        Primitive("preempt_enable", (), "enable preemption", Effect(preempt=-1)),
        Primitive("local_irq_disable", (), "mask interrupts", Effect(irq=1)),
        Primitive("local_irq_enable", (), "unmask interrupts; pending ones are taken", Effect(irq=-1)),
        Primitive("local_irq_save", (), "mask interrupts, remembering the previous state", Effect(irq=1)),
        Primitive("local_irq_restore", (), "restore the interrupt state saved by local_irq_save()", Effect(irq=-1)),
        # 2018: preempt_disable() until kernel_neon_end(); 6.1: the fpsimd
        # context, local_bh_disable() (not PREEMPT_RT), until then; 6.12:
        # the context only inside kernel_neon_begin(), task context stays
        # preemptible (TIF_KERNEL_FPSTATE).
        Primitive(
            "kernel_neon_begin",
            (),
            "claim the FPSIMD registers for kernel-mode NEON",
            Effect(preempt=1, neon=1),
            effect_since=(("v6.1.134", Effect(bh=1, neon=1)), ("v6.12.0", Effect(neon=1))),
        ),
        Primitive(
            "kernel_neon_end",
            (),
            "release kernel-mode NEON",
            Effect(preempt=-1, neon=-1),
            effect_since=(("v6.1.134", Effect(bh=-1, neon=-1)), ("v6.12.0", Effect(neon=-1))),
        ),
        Primitive("set_kernel_neon_busy", (), "mark kernel-mode NEON busy on this CPU (softirqs fall back)"),
        Primitive("clear_kernel_neon_busy", (), "clear this CPU's kernel_neon_busy"),
    )
}

PREDICATES: dict[str, Primitive] = {
    p.name: p
    for p in (
        Primitive("local_softirq_pending", (), "a softirq is pending on this CPU"),
        Primitive("may_use_simd", (), "kernel-mode NEON is allowed here"),
        # v4.18's kvm_arch_vcpu_run_map_fp() maps the vcpu thread's thread_info at EL2.
        Primitive("test_thread_flag", ("thread_flag",), "a flag of the vcpu thread is set", hyp="v4.18"),
        Primitive("fp_trap_armed", (), "the guest's FP/SIMD accesses trap", hyp="v4.16"),
        Primitive("system_supports_sve", (), "the system has SVE", hyp="v4.16"),
        Primitive("irqs_disabled", (), "interrupts are masked on this CPU"),
        Primitive("kernel_neon_busy", (), "this CPU's kernel_neon_busy is set"),
        Primitive("sve_user_enabled", (), "EL0 may use SVE without trapping (CPACR_EL1.ZEN_EL0EN)", since="v6.1.134"),
        Primitive("vcpu_has_sve", (), "the guest has SVE (vcpu_has_sve())", since="v6.1.134", hyp="v6.1.134"),
        # The 6.x models run VHE (the configuration whose CPACR_EL1 the hyp
        # rewrites at every exit): has_vhe() is true there.
        Primitive("has_vhe", (), "the host kernel runs at EL2 (VHE; always, in the 6.x models)", since="v6.1.134"),
        Primitive("system_supports_sme", (), "the system has SME (never, in the 6.x models)", since="v6.1.134"),
        Primitive("sme_user_enabled", (), "EL0 may use SME without trapping (CPACR_EL1.SMEN_EL0EN)", since="v6.1.134"),
        Primitive("sme_state_live", (), "PSTATE.SM or PSTATE.ZA is set (SVCR)", since="v6.1.134"),
    )
}


@dataclass(frozen=True)
class ArgumentRule:
    """An argument a primitive cannot take in some kernels and contexts."""

    primitive: str
    arg: str
    context: str  # "hyp" or "host"
    kernels: tuple[str, ...]
    reason: str


ARGUMENT_RULES = (
    ArgumentRule(
        "fpsimd_save_state",
        "task",
        "hyp",
        ("v4.16",),
        "the hyp has no mapping of the vcpu thread's saved state before v4.18 (kvm_arch_vcpu_run_map_fp())",
    ),
    ArgumentRule(
        "fpsimd_load_state",
        "task",
        "hyp",
        ("v4.16",),
        "the hyp has no mapping of the vcpu thread's saved state before v4.18 (kvm_arch_vcpu_run_map_fp())",
    ),
    ArgumentRule(
        "fpsimd_bind_state_to_cpu",
        "task",
        "host",
        ("v4.18",),
        "fpsimd_bind_task_to_cpu() is static to arch/arm64/kernel/fpsimd.c: KVM binds only the vcpu's state",
    ),
)

# The host machinery models, oldest first (fpdsl.model.hosts): v6.1.134 and
# v6.12.0 are the releases before the 2025 fixes, v6.1 and v6.12 the 6.1.y and
# 6.12.y after them (Debian's 6.1.192 and 6.12.117; 6.12.118 changed nothing
# here).
KERNEL_VERSIONS = ("v4.16", "v4.18", "v6.1.134", "v6.1", "v6.12.0", "v6.12")
DEFAULT_KERNEL = "v4.16"

# What to write instead of a primitive a later kernel lacks.
REPLACEMENTS = {
    "sve_flush_cpu_state": "use fpsimd_flush_cpu_state(), or declare 'kernel v4.16'",
    "fpsimd_save": "6.x KVM calls fpsimd_save_and_flush_cpu_state()",
    "fpsimd_flush_cpu_state": "6.x KVM calls fpsimd_save_and_flush_cpu_state()",
}


def kernel_index(kernel: str) -> int:
    """Position of a known kernel model in time (KERNEL_VERSIONS)."""
    return KERNEL_VERSIONS.index(kernel)


def effect_in(primitive: Primitive, kernel: str | None) -> Effect:
    """What the call does to the preempt, softirq, interrupt and NEON counts
    in `kernel` (an unknown kernel: the oldest effect)."""
    effect = primitive.effect
    if kernel in KERNEL_VERSIONS:
        for version, later in primitive.effect_since:
            if kernel_index(kernel) >= kernel_index(version):
                effect = later
    return effect
