"""The reference model on its own, one test per kernel rule it implements.

Only fpdsl.model is used: worlds are built with initial_world(), driven through
Machine primitives or runloop.step(), and KVM's side is supplied by small
Python hooks. Each test names the kernel function it models (v4.16 unless it
says v4.18) and asserts concrete state: flags, binding, register tokens, saved
tokens, recorded ops and violations."""

from __future__ import annotations

import pytest

from fpdsl.model.hosts import host_machine
from fpdsl.model.machine import ModelConfig
from fpdsl.model.runloop import initial_world, step, successors
from fpdsl.model.values import GUEST, KERNEL, VCPU_THREAD, ZERO

A = VCPU_THREAD
FP_ENABLED, FP_HOST = 0, 1  # indices of the v4.18 vcpu flags in FnHooks-based tests


class NoHooks:
    def has(self, name):
        return False

    def run(self, name, m):
        raise AssertionError(f"hook {name} run without being offered")


class FnHooks:
    """KVM hooks written as plain Python functions of the machine."""

    def __init__(self, **hooks):
        self.hooks = hooks

    def has(self, name):
        return name in self.hooks

    def run(self, name, m):
        self.hooks[name](m)


def machine(kernel="v4.16", hooks=None, flags=(), **bound):
    config = ModelConfig(kernel=kernel, **bound)
    return host_machine(config, hooks or NoHooks(), initial_world(config, flags))


def kinds(m):
    return [op.kind for op in m.ops]


def props(violations):
    return sorted(v.prop for v in violations)


def drive(config, hooks, world, *events):
    """Apply events in order, each of which must be enabled; collect ops and violations."""
    ops, violations = [], []
    for event in events:
        assert event in successors(world, config), event
        world, step_ops, step_violations = step(world, event, config, hooks)
        ops += step_ops
        violations += step_violations
    return world, ops, violations


# ---- v4.18 KVM side (arch/arm64/kvm/fpsimd.c, hyp/switch.c), per the primer ----


def _load_fp(m):
    m.world.vcpu.flags[FP_ENABLED] = False
    m.world.vcpu.flags[FP_HOST] = True


def _update_fp_enabled(m):
    flags = m.world.vcpu.flags
    if m.vcpu_thread().foreign:
        flags[FP_ENABLED] = flags[FP_HOST] = False
    if not flags[FP_ENABLED]:
        m.world.vcpu.trap_armed = True


def _hyp_switch_fpsimd(m):
    flags = m.world.vcpu.flags
    m.world.vcpu.trap_armed = False
    if flags[FP_HOST]:
        m.save_regs(f"task:{A}", "__hyp_switch_fpsimd()")
        flags[FP_HOST] = False
    m.load_regs("guest", "__hyp_switch_fpsimd()")
    flags[FP_ENABLED] = True


def _ctxsync_fp(m):
    if m.world.vcpu.flags[FP_ENABLED]:
        m.bind("guest", "kvm_arch_vcpu_ctxsync_fp()")
        m.vcpu_thread().foreign = False
        m.vcpu_thread().sve = False
    m.irq_enable("local_irq_enable()")


def _put_fp(m):
    m.irq_disable("kvm_arch_vcpu_put_fp()")
    if m.world.vcpu.flags[FP_ENABLED]:
        m.fpsimd_save("kvm_arch_vcpu_put_fp()")
        m.flush_cpu_state("kvm_arch_vcpu_put_fp()")
    m.irq_enable("kvm_arch_vcpu_put_fp()")


def v418_kvm():
    return FnHooks(load=_load_fp, enter=_update_fp_enabled, trap=_hyp_switch_fpsimd, exit=_ctxsync_fp, put=_put_fp)


# ---- kernel-mode NEON ---------------------------------------------------------


def test_kernel_neon_begin_saves_live_state_and_sets_foreign():
    """kernel_neon_begin() (v4.16): save current's live user state, set TIF_FOREIGN_FPSTATE, flush the binding."""
    m = machine()
    a, c = m.current(), m.c
    assert (a.foreign, c.bound, c.v, a.saved_v) == (False, A, (A, 1), ZERO)
    m.kernel_neon_begin("crypto")
    assert a.saved_v == (A, 1)
    assert a.foreign is True
    assert c.bound is None
    assert (c.neon_busy, c.preempt, c.bh) == (True, 1, 0)
    assert kinds(m) == ["save", "invalidate"]
    assert m.ops[0].target == f"task:{A}" and m.ops[0].value == (A, 1)
    assert m.violations == []


def test_kernel_neon_begin_does_not_save_state_that_is_not_live():
    """kernel_neon_begin() (v4.16) via task_fpsimd_save(): nothing is saved when TIF_FOREIGN_FPSTATE is already set."""
    m = machine()
    a, c = m.current(), m.c
    a.foreign, a.saved_v = True, (A, 1)
    c.v = m.world.fresh(KERNEL)  # the registers hold someone else's data
    m.kernel_neon_begin("crypto")
    assert a.saved_v == (A, 1)
    assert kinds(m) == ["invalidate"]
    assert m.violations == []


def test_kernel_neon_begin_when_may_use_simd_is_false_is_a_violation():
    """kernel_neon_begin(): BUG_ON(!may_use_simd())."""
    for setup in ("irq", "neon_busy"):
        m = machine()
        if setup == "irq":
            m.irq_disable("local_irq_disable()")
        else:
            m.c.neon_busy = True
        m.kernel_neon_begin("crypto")
        assert props(m.violations) == ["kernel-rules"], setup
        assert "may_use_simd() is false" in m.violations[0].message


def test_kernel_neon_end_clears_busy_enables_preemption_and_restores_nothing():
    """kernel_neon_end(): clear kernel_neon_busy, preempt_enable(); the task reloads lazily at return to user."""
    m = machine()
    m.kernel_neon_begin("crypto")
    m.use_kernel_neon("crypto")
    clobbered = m.c.v
    m.kernel_neon_end("crypto")
    assert (m.c.neon_busy, m.c.preempt) == (False, 0)
    assert m.c.v == clobbered and clobbered[0] == KERNEL
    assert m.current().foreign is True
    assert "restore" not in kinds(m)
    assert m.violations == []


def test_kernel_neon_end_without_kernel_neon_begin_warns():
    """kernel_neon_end(): WARN_ON(!busy) when there was no matching kernel_neon_begin()."""
    m = machine()
    m.preempt_disable("preempt_disable()")  # so the preempt count alone does not catch it
    m.kernel_neon_end("stray")
    assert props(m.violations) == ["kernel-rules"]


# ---- may_use_simd() -----------------------------------------------------------


def test_may_use_simd_false_with_interrupts_disabled():
    """may_use_simd() (asm/simd.h, v4.16): false when irqs_disabled() (arm64 hardirq handlers run with IRQs masked)."""
    m = machine()
    assert m.may_use_simd() is True
    m.irq_disable("local_irq_disable()")
    assert m.may_use_simd() is False
    m.irq_enable("local_irq_enable()")
    assert m.may_use_simd() is True


def test_may_use_simd_false_while_kernel_neon_busy_softirq_takes_fallback():
    """may_use_simd() (v4.16): false while kernel_neon_busy; a softirq then uses the non-NEON fallback."""
    m = machine()
    m.c.neon_busy = True
    assert m.may_use_simd() is False
    before = (m.c.v, m.current().foreign, m.c.bound)
    m.take_interrupt("interrupt")
    assert kinds(m) == ["irq", "softirq_fallbacks"]
    assert (m.c.v, m.current().foreign, m.c.bound) == before
    assert m.c.softirq_pending is False
    assert m.violations == []


def test_may_use_simd_true_in_softirq_when_not_busy():
    """may_use_simd() (v4.16): softirq context is allowed, preemption disabled or not; the softirq uses NEON."""
    seen = []
    hooks = FnHooks(softirq=lambda m: seen.append((m.may_use_simd(), m.c.in_softirq, m.c.bh, m.c.preempt)))
    m = machine(hooks=hooks)
    m.world.vcpu.loaded = 0  # the softirq hook is offered only while the vcpu is loaded here
    m.preempt_disable("preempt_disable()")
    m.take_interrupt("interrupt")
    assert seen == [(True, True, 1, 1)]
    assert kinds(m) == ["irq", "save", "invalidate", "clobber", "softirq_neon"]
    assert m.c.v[0] == KERNEL
    assert (m.c.in_softirq, m.c.bh, m.c.neon_busy, m.c.preempt) == (False, 0, False, 1)
    assert m.violations == []


# ---- context switch -----------------------------------------------------------


@pytest.mark.parametrize("live", [True, False])
def test_fpsimd_thread_switch_saves_outgoing_state_only_if_live(live):
    """fpsimd_thread_switch() (v4.16): task_fpsimd_save() of prev only if TIF_FOREIGN_FPSTATE clear; loads nothing."""
    m = machine()
    a, c = m.current(), m.c
    if not live:
        a.foreign, a.saved_v = True, (A, 1)
        c.v = m.world.fresh(KERNEL)
    regs = c.v
    m.thread_switch("B1")
    assert a.saved_v == (A, 1)
    assert kinds(m) == (["save"] if live else [])
    assert c.v == regs  # nothing loaded for the incoming task
    assert m.violations == []


@pytest.mark.parametrize(
    ("bound", "last_cpu", "foreign"),
    [("B1", 0, False), ("B1", 1, True), ("A", 0, True), (None, 0, True)],
)
@pytest.mark.parametrize("kernel", ["v4.16", "v4.18"])
def test_fpsimd_thread_switch_clears_foreign_only_when_binding_and_cpu_match(kernel, bound, last_cpu, foreign):
    """fpsimd_thread_switch(): next's TIF_FOREIGN_FPSTATE clear iff fpsimd_last_state is next's AND its cpu is this."""
    m = machine(kernel, cpus=2)
    b = m.world.tasks["B1"]
    m.c.bound, b.last_cpu, b.foreign = bound, last_cpu, not foreign
    m.thread_switch("B1")
    assert b.foreign is foreign
    assert m.c.bound == bound  # the switch itself never rebinds


# ---- fpsimd_flush_cpu_state() -------------------------------------------------


def test_v416_fpsimd_flush_cpu_state_does_not_set_foreign_for_current():
    """fpsimd_flush_cpu_state() (v4.16): only forgets fpsimd_last_state; current's TIF_FOREIGN_FPSTATE is untouched."""
    m = machine("v4.16")
    m.flush_cpu_state("fpsimd_flush_cpu_state()")
    assert m.c.bound is None
    assert m.current().foreign is False  # the seed's "wrinkle"
    assert kinds(m) == ["invalidate"]


def test_v418_fpsimd_flush_cpu_state_sets_foreign_for_current():
    """fpsimd_flush_cpu_state() (v4.18, "Fix TIF_FOREIGN_FPSTATE after invalidating cpu regs"): also sets the flag."""
    m = machine("v4.18")
    m.flush_cpu_state("fpsimd_flush_cpu_state()")
    assert m.c.bound is None
    assert m.current().foreign is True
    assert kinds(m) == ["invalidate"]


def test_sve_flush_cpu_state_invalidates_only_an_sve_binding():
    """sve_flush_cpu_state() (v4.16, via kvm_fpsimd_flush_cpu_state()): flush only if last->st && last->sve_in_use."""
    m = machine()
    m.sve_flush_cpu_state("kvm_fpsimd_flush_cpu_state()")
    assert m.c.bound == A and kinds(m) == []
    m.c.bound_sve = True
    m.sve_flush_cpu_state("kvm_fpsimd_flush_cpu_state()")
    assert (m.c.bound, m.c.bound_sve) == (None, False)
    assert kinds(m) == ["invalidate"]


# ---- return to user -----------------------------------------------------------


def test_fpsimd_restore_current_state_reloads_binds_and_clears_foreign():
    """fpsimd_restore_current_state() (do_notify_resume): if TIF_FOREIGN_FPSTATE, load, bind to this CPU, clear it."""
    m = machine(cpus=2)
    a, c = m.current(), m.c
    a.foreign, a.saved_v, a.last_cpu = True, (A, 1), 1
    c.v, c.z, c.bound = m.world.fresh(KERNEL), ("B1", 1), None
    m.restore_current_state()
    assert (c.v, c.z) == ((A, 1), ZERO)  # an FPSIMD-only load zeroes the SVE high bits
    assert (c.bound, c.bound_sve, a.last_cpu, a.foreign) == (A, False, 0, False)
    assert kinds(m) == ["restore", "bind"]
    m.restore_current_state()  # flag clear: nothing to do
    assert kinds(m) == ["restore", "bind"]
    assert m.violations == []


@pytest.mark.parametrize(("sve", "tif_sve", "z"), [(True, True, (A, 1)), (True, False, ZERO), (False, True, ZERO)])
def test_task_fpsimd_load_loads_sve_high_bits_only_for_tif_sve(sve, tif_sve, z):
    """task_fpsimd_load(): sve_load_state() if system_supports_sve() && TIF_SVE, else fpsimd_load_state()."""
    m = machine(sve=sve)
    a = m.current()
    a.foreign, a.sve, a.saved_v, a.saved_z = True, tif_sve, (A, 1), (A, 1)
    m.c.z = ("B1", 1)
    m.restore_current_state()
    assert m.c.z == z
    assert m.c.bound_sve is (sve and tif_sve)  # fpsimd_bind_to_cpu(): last->sve_in_use = TIF_SVE


def test_interrupt_return_to_user_reloads_state_clobbered_by_softirq():
    """el0_irq -> irq_exit() softirq kernel NEON, then do_notify_resume() reloads the task before user space."""
    config = ModelConfig()
    w = initial_world(config, ())
    w, ops, violations = drive(config, NoHooks(), w, ("irq", 0, None))
    a, c = w.tasks[A], w.cpus[0]
    assert [op.kind for op in ops] == ["irq", "save", "invalidate", "clobber", "softirq_neon", "restore", "bind"]
    assert (a.saved_v, c.v, c.bound, a.foreign) == ((A, 1), (A, 1), A, False)
    w, ops, violations = drive(config, NoHooks(), w, ("user_fp", A, None))
    assert violations == [] and w.cpus[0].v == (A, 2)


# ---- SVE ----------------------------------------------------------------------


def test_do_sve_acc_converts_to_sve_and_reloads():
    """do_sve_acc(): save, zero-padded fpsimd_to_sve(), flush task state, set TIF_SVE; ret_to_user reloads with SVE."""
    config = ModelConfig()
    w, ops, violations = drive(config, NoHooks(), initial_world(config, ()), ("user_sve", A, None))
    a, c = w.tasks[A], w.cpus[0]
    assert (a.sve, a.foreign, a.saved_v, a.saved_z) == (True, False, (A, 1), ZERO)
    assert (c.v, c.z) == ((A, 2), (A, 2))  # the first SVE write owns the whole Z register
    assert (c.bound, c.bound_sve, a.last_cpu) == (A, True, 0)
    assert [op.kind for op in ops] == ["save", "restore", "bind", "read", "write"]
    assert violations == []


def test_syscall_entry_discards_sve_high_bits_never_foreign():
    """el0_svc -> sve_user_discard() (v4.16): TIF_SVE cleared; the high bits are then zero or own, never foreign."""
    config = ModelConfig()
    w, _, violations = drive(
        config,
        NoHooks(),
        initial_world(config, ()),
        ("switch", 0, "B1"),
        ("ret_to_user", "B1", None),
        ("user_sve", "B1", None),
    )
    assert w.tasks["B1"].sve is True and w.cpus[0].z == ("B1", 2)
    w, _, more = drive(config, NoHooks(), w, ("syscall", "B1", None))
    b, c = w.tasks["B1"], w.cpus[0]
    assert (b.sve, b.pc) == (False, "kernel")
    assert c.z[0] in ("0", "B1")  # own high bits left in the registers
    # A comes back: its FPSIMD-only reload zeroes the high bits B1 left behind
    w, ops, last = drive(config, NoHooks(), w, ("switch", 0, A))
    c = w.cpus[0]
    assert w.tasks["B1"].saved_v == ("B1", 2) and w.tasks["B1"].saved_z == ZERO  # B1 saved without SVE
    assert (c.v, c.z) == ((A, 1), ZERO)
    w, _, reads = drive(config, NoHooks(), w, ("user_fp", A, None))
    assert violations == more == last == reads == []


def test_kvm_run_ioctl_is_a_syscall_that_discards_sve():
    """ioctl(KVM_RUN) enters through el0_svc: the vcpu thread never has TIF_SVE in kvm_arch_vcpu_ioctl_run()."""
    config = ModelConfig()
    w, ops, violations = drive(config, NoHooks(), initial_world(config, ()), ("user_sve", A, None), ("ioctl", A, None))
    a = w.tasks[A]
    assert (a.sve, a.pc, w.vcpu.loaded, w.runs) == (False, "loop", 0, 1)
    assert w.cpus[0].z in (ZERO, (A, 2))
    assert "kvm_run" in [op.kind for op in ops]
    assert violations == []


# ---- values: fresh tokens, lost and leaked state -------------------------------


def test_user_fpsimd_write_makes_a_fresh_token_and_zeroes_sve_high_bits():
    """Architecture: a V-register write zeroes the Z high bits; every write is a fresh token (as in fpsimd.tla)."""
    config = ModelConfig()
    w = initial_world(config, ())
    w.cpus[0].z = (A, 1)
    w, ops, violations = drive(config, NoHooks(), w, ("user_fp", A, None))
    assert (w.cpus[0].v, w.cpus[0].z, w.versions[A]) == ((A, 2), ZERO, 2)
    assert [(op.kind, op.target, op.value) for op in ops] == [("read", A, (A, 1)), ("write", A, (A, 2))]
    assert violations == []


def test_read_of_a_value_not_last_written_is_lost_state():
    """fpsimd.tla's check: a context must read its own last write; a stale own value or zeroes is lost state."""
    m = machine()
    m.world.fresh(A)  # A's last write is now A#2
    m.check_read(A, (A, 1), "user space")
    m.check_read(A, ZERO, "user space")
    m.check_read(A, (A, 2), "user space")
    assert [(v.prop, v.subject) for v in m.violations] == [("lost-state", A), ("lost-state", A)]
    assert "reads A#1 from the FPSIMD registers, but its last write was A#2" in m.violations[0].message
    assert "reads zeroes" in m.violations[1].message
    assert kinds(m) == ["read", "read", "read"]


def test_read_of_a_foreign_value_is_lost_and_leaked_state():
    """A context that reads another context's value has lost its own and sees leaked data."""
    m = machine()
    m.check_read(GUEST, (A, 1), "the guest")
    assert [(v.prop, v.subject) for v in m.violations] == [("lost-state", GUEST), ("leaked-state", GUEST)]
    assert m.violations[1].message == "the guest reads A#1 from the FPSIMD registers: the vcpu thread's data"


def test_saving_a_foreign_value_into_a_context_storage_is_leaked_state():
    """Saving another context's value into a task struct or the vcpu is a leak; KVM's host copy has no owner."""
    m = machine()
    m.c.v = (GUEST, 1)
    m.save_regs(f"task:{A}", "hyp")
    m.save_regs("host:0", "hyp")
    m.save_regs("guest", "hyp")
    assert [(v.prop, v.subject) for v in m.violations] == [("leaked-state", A)]
    assert "saved into the vcpu thread's storage (task:A)" in m.violations[0].message
    assert (m.world.tasks[A].saved_v, m.c.host, m.world.vcpu.saved_v) == ((GUEST, 1),) * 3


# ---- interrupts, softirqs, preemption counts -----------------------------------


def test_local_bh_enable_with_irqs_disabled_is_a_violation():
    """local_bh_enable() -> __local_bh_enable_ip(): WARN_ON_ONCE(irqs_disabled()) (lockdep)."""
    m = machine()
    m.bh_disable("local_bh_disable()")
    m.irq_disable("local_irq_disable()")
    m.c.softirq_pending = True
    regs = m.c.v
    m.bh_enable("local_bh_enable()")
    assert props(m.violations) == ["kernel-rules"]
    assert "local_bh_enable() called with interrupts disabled" in m.violations[0].message
    assert m.c.bh == 0
    assert m.c.softirq_pending is True and m.c.v == regs  # no softirq with interrupts off


@pytest.mark.parametrize(
    ("call", "words"),
    [
        ("preempt_enable", "preempt_enable() without a matching preempt_disable()"),
        ("bh_enable", "local_bh_enable() without a matching local_bh_disable()"),
        ("irq_enable", "interrupts enabled without being disabled"),
    ],
)
def test_unbalanced_enable_is_a_violation(call, words):
    """preempt_count / softirq count / irq disabling must balance (preempt_count underflow, lockdep)."""
    m = machine()
    getattr(m, call)("unbalanced")
    assert [(v.prop, v.message) for v in m.violations] == [("kernel-rules", words)]
    assert (m.c.preempt, m.c.bh, m.c.irq) == (0, 0, 0)


def test_softirq_runs_at_irq_exit_when_softirqs_not_masked():
    """irq_exit() -> invoke_softirq() when !in_interrupt(): a kernel-NEON softirq runs, preemption disabled or not."""
    m = machine()
    m.preempt_disable("preempt_disable()")
    m.take_interrupt("interrupt")
    assert m.c.softirq_pending is False
    assert kinds(m) == ["irq", "save", "invalidate", "clobber", "softirq_neon"]
    assert m.c.v[0] == KERNEL and m.world.tasks[A].saved_v == (A, 1)


def test_softirq_deferred_while_masked_until_local_bh_enable():
    """irq_exit() skips softirqs inside local_bh_disable(); the outermost local_bh_enable() runs them."""
    m = machine()
    regs = m.c.v
    m.bh_disable("local_bh_disable()")
    m.bh_disable("local_bh_disable()")
    m.take_interrupt("interrupt")
    assert m.c.softirq_pending is True and m.c.v == regs
    m.bh_enable("local_bh_enable()")
    assert m.c.softirq_pending is True and m.c.v == regs  # still masked once
    m.bh_enable("local_bh_enable()")
    assert m.c.softirq_pending is False and m.c.v[0] == KERNEL
    assert kinds(m) == ["irq", "save", "invalidate", "clobber", "softirq_neon"]
    assert m.violations == []


def test_softirq_does_not_nest_inside_a_softirq():
    """irq_exit(): no softirq processing when in_interrupt() includes softirq context (no nesting)."""
    m = machine()
    m.c.in_softirq = True
    regs = m.c.v
    m.take_interrupt("interrupt")
    assert kinds(m) == ["irq"]
    assert m.c.softirq_pending is True and m.c.v == regs


def test_interrupt_masked_until_outermost_local_irq_enable():
    """local_irq_enable(): an interrupt that arrived while masked is taken when interrupts are enabled again."""
    m = machine()
    m.irq_disable("local_irq_save()")
    m.irq_disable("local_irq_disable()")
    m.c.irq_pending = True
    m.irq_enable("local_irq_restore()")
    assert kinds(m) == [] and m.c.irq_pending is True
    m.irq_enable("local_irq_enable()")
    assert m.c.irq_pending is False
    assert kinds(m) == ["irq", "save", "invalidate", "clobber", "softirq_neon"]


def test_interrupts_offered_only_with_irqs_enabled_and_outside_the_guest():
    """The environment raises interrupts only where the CPU has them enabled (not in the guest run, IRQs masked)."""
    config = ModelConfig()
    w = initial_world(config, ())
    assert ("irq", 0, None) in successors(w, config)
    w.cpus[0].irq = 1
    assert ("irq", 0, None) not in successors(w, config)
    w.cpus[0].irq = 0
    w, _, _ = drive(config, NoHooks(), w, ("ioctl", A, None), ("enter", A, None))
    assert w.cpus[0].irq == 1
    assert ("irq", 0, None) not in successors(w, config)


def test_preemption_only_when_preempt_count_zero_and_irqs_enabled():
    """preemptible(): preempt_count() == 0 && !irqs_disabled(); otherwise no context switch is offered."""
    config = ModelConfig()
    w = initial_world(config, ())
    assert {e for e in successors(w, config) if e[0] == "switch"} == {("switch", 0, "B1"), ("switch", 0, None)}
    for field in ("preempt", "irq"):
        setattr(w.cpus[0], field, 1)
        assert not [e for e in successors(w, config) if e[0] == "switch"], field
        setattr(w.cpus[0], field, 0)


def test_no_preemption_while_softirqs_masked():
    """preemptible(): local_bh_disable() raises preempt_count, so no preemption with softirqs masked."""
    config = ModelConfig()
    w, _, _ = drive(config, NoHooks(), initial_world(config, ()), ("ioctl", A, None))
    w.cpus[0].bh = 1
    assert not [e for e in successors(w, config) if e[0] == "switch"]


# ---- KVM run loop control points -----------------------------------------------


def test_vcpu_load_and_put_run_around_every_context_switch():
    """vcpu_load()/kvm_arch_vcpu_put() via preempt notifiers: put at sched-out with IRQs off, load at sched-in."""
    calls = []
    hooks = FnHooks(
        load=lambda m: calls.append(("load", m.c.preempt, m.c.irq)),
        put=lambda m: calls.append(("put", m.c.preempt, m.c.irq)),
    )
    config = ModelConfig()
    w = initial_world(config, ())
    w, ops, violations = drive(config, hooks, w, ("ioctl", A, None), ("switch", 0, "B1"))
    assert w.vcpu.loaded is None
    assert w.tasks[A].saved_v == (A, 1)  # fpsimd_thread_switch() saved the live state
    w, ops, more = drive(config, hooks, w, ("switch", 0, A))
    assert calls == [("load", 1, 0), ("put", 1, 1), ("load", 1, 0)]
    assert w.vcpu.loaded == 0 and w.tasks[A].foreign is False  # binding and CPU still match
    assert (w.cpus[0].preempt, w.cpus[0].irq) == (0, 0)
    assert violations == more == []


def test_local_bh_enable_in_vcpu_put_from_preemption_is_a_violation():
    """kvm_arch_vcpu_put() from the sched-out notifier runs with IRQs off ("Don't mask softirq ... in vcpu_put()")."""
    hooks = FnHooks(put=lambda m: (m.bh_disable("put"), m.bh_enable("put")))
    config = ModelConfig()
    w, _, violations = drive(config, hooks, initial_world(config, ()), ("ioctl", A, None), ("switch", 0, "B1"))
    assert [v.message for v in violations] == [
        "local_bh_enable() called with interrupts disabled (lockdep: softirqs would run with IRQs off)"
    ]
    # the same put from the exit to user space runs with interrupts on
    _, _, violations = drive(
        config,
        hooks,
        initial_world(config, ()),
        ("ioctl", A, None),
        ("enter", A, None),
        ("exit", A, None),
        ("to_user", A, None),
    )
    assert violations == []


def test_guest_exit_takes_pending_interrupt_at_local_irq_enable():
    """kvm_arch_vcpu_ioctl_run(): interrupts that hit during the guest run are taken at local_irq_enable()."""
    config = ModelConfig()
    w, ops, violations = drive(
        config, NoHooks(), initial_world(config, ()), ("ioctl", A, None), ("enter", A, None), ("exit_irq", A, None)
    )
    a, c = w.tasks[A], w.cpus[0]
    assert [op.kind for op in ops] == ["kvm_run", "exits", "irq", "save", "invalidate", "clobber", "softirq_neon"]
    assert (a.pc, a.saved_v, a.foreign, c.bound, c.v[0]) == ("handle", (A, 1), True, None, KERNEL)
    assert (c.irq, c.preempt, c.bh, c.irq_pending) == (0, 0, 0, False)
    assert violations == []


def test_exit_hook_leaving_interrupts_disabled_is_a_violation():
    """kvm_arch_vcpu_ioctl_run(): interrupts must be re-enabled after the guest exit (irq disabling balances)."""
    hooks = FnHooks(exit=lambda m: None)
    config = ModelConfig()
    w, _, violations = drive(
        config, hooks, initial_world(config, ()), ("ioctl", A, None), ("enter", A, None), ("exit", A, None)
    )
    assert [(v.prop, v.message) for v in violations] == [("kernel-rules", "the exit hook left interrupts disabled")]
    assert w.cpus[0].irq == 0


def test_run_loop_must_be_preemptible_at_cond_resched():
    """kvm_arch_vcpu_ioctl_run(): cond_resched() at the top of the loop needs preemption and softirqs enabled."""
    hooks = FnHooks(load=lambda m: (m.preempt_disable("load"), m.bh_disable("load")))
    config = ModelConfig()
    _, _, violations = drive(config, hooks, initial_world(config, ()), ("ioctl", A, None))
    assert [(v.prop, v.message) for v in violations] == [
        (
            "preemptibility",
            "the run loop reaches cond_resched() with preemption disabled (preempt count 1) and softirqs masked",
        )
    ]


def test_guest_fp_access_traps_while_armed_and_trap_must_disarm():
    """CPTR_EL2.TFP trap: an armed trap calls the hyp handler, which must disarm it or the guest traps forever."""
    config = ModelConfig()
    w, ops, violations = drive(
        config, NoHooks(), initial_world(config, ()), ("ioctl", A, None), ("enter", A, None), ("guest_fp", A, None)
    )
    assert [op.kind for op in ops] == ["kvm_run", "trap"]
    assert [v.prop for v in violations] == ["kernel-rules"]
    assert w.cpus[0].v == (A, 1)  # the guest never ran its FP instruction


# ---- v4.18 host machinery ------------------------------------------------------


def test_v418_fpsimd_save_saves_into_whatever_state_is_bound():
    """fpsimd_save() (v4.18): unless TIF_FOREIGN_FPSTATE, save the registers into the bound state (here the guest's)."""
    m = machine("v4.18")
    m.irq_disable("local_irq_save()")
    m.bind("guest", "kvm_arch_vcpu_ctxsync_fp()")
    m.c.v = m.world.fresh(GUEST)
    m.fpsimd_save("kvm_arch_vcpu_put_fp()")
    assert (m.world.vcpu.saved_v, m.world.tasks[A].saved_v) == ((GUEST, 2), ZERO)
    m.current().foreign = True
    m.c.v = m.world.fresh(GUEST)
    m.fpsimd_save("kvm_arch_vcpu_put_fp()")
    assert m.world.vcpu.saved_v == (GUEST, 2)  # flag set: nothing saved
    assert kinds(m) == ["bind", "save"]
    assert m.violations == []


def test_v418_fpsimd_bind_state_to_cpu_binds_a_non_task_state():
    """fpsimd_bind_state_to_cpu() (v4.18): last->st = the guest's buffer; no task's fpsimd_cpu changes."""
    m = machine("v4.18")
    m.bind("guest", "kvm_arch_vcpu_ctxsync_fp()")
    a = m.world.tasks[A]
    assert (m.c.bound, m.c.bound_sve, a.last_cpu) == ("guest", False, 0)
    m.c.curr = None  # A was switched out; switching it back in finds the guest's state bound
    m.thread_switch(A)
    assert a.foreign is True


def test_v418_kvm_arch_vcpu_load_fp_and_hyp_switch_fpsimd():
    """kvm_arch_vcpu_load_fp() + __hyp_switch_fpsimd() (v4.18): host regs saved into the task once, guest loaded."""
    config = ModelConfig(kernel="v4.18")
    w, ops, violations = drive(
        config, v418_kvm(), initial_world(config, [False, False]), ("ioctl", A, None), ("enter", A, None)
    )
    assert w.vcpu.flags == [False, True] and w.vcpu.trap_armed is True
    w, ops, more = drive(config, v418_kvm(), w, ("guest_fp", A, None))
    assert w.vcpu.flags == [True, False] and w.vcpu.trap_armed is False
    assert w.tasks[A].saved_v == (A, 1)
    assert [(op.kind, op.target, op.value) for op in ops if op.kind in ("save", "restore")] == [
        ("save", "task:A", (A, 1)),
        ("restore", "guest", (GUEST, 1)),
    ]
    assert w.cpus[0].v == (GUEST, 2)
    assert violations == more == []


def test_v418_kvm_arch_vcpu_ctxsync_fp_hands_guest_state_to_host():
    """kvm_arch_vcpu_ctxsync_fp() (v4.18): bind the guest's state to the CPU, clear TIF_FOREIGN_FPSTATE and TIF_SVE."""
    config = ModelConfig(kernel="v4.18")
    w, _, violations = drive(
        config,
        v418_kvm(),
        initial_world(config, [False, False]),
        ("ioctl", A, None),
        ("enter", A, None),
        ("guest_fp", A, None),
        ("exit", A, None),
    )
    a, c = w.tasks[A], w.cpus[0]
    assert (c.bound, a.foreign, a.sve, c.v) == ("guest", False, False, (GUEST, 2))
    # a context switch now saves the guest's values into the vcpu, not into the task
    w, ops, more = drive(config, FnHooks(), w, ("switch", 0, "B1"))
    assert (w.vcpu.saved_v, w.tasks[A].saved_v) == ((GUEST, 2), (A, 1))
    assert [(op.kind, op.target) for op in ops if op.kind == "save"] == [("save", "guest")]
    assert violations == more == []


def test_v418_softirq_kernel_neon_saves_bound_guest_state_into_vcpu():
    """kernel_neon_begin() (v4.18) -> fpsimd_save() after ctxsync: a softirq saves the guest's regs into the vcpu."""
    config = ModelConfig(kernel="v4.18")
    hooks = v418_kvm()
    w, _, violations = drive(
        config,
        hooks,
        initial_world(config, [False, False]),
        ("ioctl", A, None),
        ("enter", A, None),
        ("guest_fp", A, None),
        ("exit_irq", A, None),
    )
    a, c = w.tasks[A], w.cpus[0]
    assert (w.vcpu.saved_v, a.saved_v) == ((GUEST, 2), (A, 1))
    assert (a.foreign, c.bound, c.v[0]) == (True, None, KERNEL)
    # update_fp_enabled() sees TIF_FOREIGN_FPSTATE: trap again, reload the guest from the vcpu
    w, _, more = drive(config, hooks, w, ("resume", A, None), ("enter", A, None))
    assert w.vcpu.flags == [False, False] and w.vcpu.trap_armed is True
    w, ops, last = drive(config, hooks, w, ("guest_fp", A, None))
    assert [(op.kind, op.target) for op in ops if op.kind in ("save", "restore")] == [("restore", "guest")]
    assert w.cpus[0].v == (GUEST, 3)
    assert violations == more == last == []


def test_v418_kvm_arch_vcpu_put_fp_saves_guest_and_invalidates_cpu():
    """kvm_arch_vcpu_put_fp() (v4.18): fpsimd_save() + fpsimd_flush_cpu_state(); the host reloads at return to user."""
    config = ModelConfig(kernel="v4.18")
    hooks = v418_kvm()
    w, _, violations = drive(
        config,
        hooks,
        initial_world(config, [False, False]),
        ("ioctl", A, None),
        ("enter", A, None),
        ("guest_fp", A, None),
        ("exit", A, None),
        ("to_user", A, None),
    )
    a, c = w.tasks[A], w.cpus[0]
    assert w.vcpu.saved_v == (GUEST, 2)
    assert (a.pc, a.foreign, c.bound, c.v, w.vcpu.loaded) == ("user", False, A, (A, 1), None)
    w, _, more = drive(config, hooks, w, ("user_fp", A, None))
    assert violations == more == []


def test_v418_fpsimd_save_outside_softirq_with_irqs_on_warns():
    """fpsimd_save() (v4.18): WARN_ON(!in_softirq() && !irqs_disabled()) -- softirqs or interrupts must be off."""
    m = machine("v4.18")
    assert (m.c.irq, m.c.bh, m.c.in_softirq) == (0, 0, False)
    m.fpsimd_save("hook")
    assert props(m.violations) == ["kernel-rules"]


def test_v418_fpsimd_save_and_bind_are_quiet_with_softirqs_or_irqs_off():
    """The same WARN_ON is satisfied by local_bh_disable(), local_irq_save() or
    softirq context, and fpsimd_bind_state_to_cpu() carries it too."""
    for mask, unmask in (("bh_disable", "bh_enable"), ("irq_disable", "irq_enable")):
        m = machine("v4.18")
        getattr(m, mask)("hook")
        m.fpsimd_save("hook")
        m.bind("guest", "hook")
        getattr(m, unmask)("hook")
        assert m.violations == [], mask
    m = machine("v4.18")
    m.bind("guest", "hook")
    assert [v.message for v in m.violations] == [
        "fpsimd_bind_state_to_cpu() called with softirqs and interrupts enabled "
        "(WARN_ON(!in_softirq() && !irqs_disabled()))"
    ]


def test_v418_kernel_paths_satisfy_the_fpsimd_save_warn():
    """The kernel's own callers mask what the WARN wants: the context switch
    (interrupts off), return to user (local_bh_disable()) and a softirq's
    kernel_neon_begin(); none of them trips it."""
    m = machine("v4.18")
    m.thread_switch(None)
    m.current().foreign = True
    m.restore_current_state()
    m.kernel_neon_begin("softirq")
    m.kernel_neon_end("softirq")
    assert [op.kind for op in m.ops].count("restore") == 1
    assert m.violations == []
    assert (m.c.irq, m.c.bh) == (0, 0)
