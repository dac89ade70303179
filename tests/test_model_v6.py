"""The 6.x host machinery models on their own, one test per rule (see
fpdsl/model/hosts/v6.py, v61.py, v612.py and the functions they cite), then
the shipped 6.x KVM policies' verdicts and the mutants of the fixed ones."""

from __future__ import annotations

import pytest
from helpers import ROOT, policy, run
from test_model import FnHooks, NoHooks, drive, machine, props

from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import load_policy
from fpdsl.model.hosts import HOSTS
from fpdsl.model.hosts.v6 import Host6
from fpdsl.model.machine import ModelConfig
from fpdsl.model.runloop import initial_world, label, successors
from fpdsl.model.values import GUEST, VCPU_THREAD, ZERO, kernel_owner
from fpdsl.sim.explorer import dead_value_rules, explore
from fpdsl.sim.interpreter import PolicyHooks

A = VCPU_THREAD


def sve_task(m):
    """A has used SVE: do_sve_acc() ran, its SVE state is live."""
    m.user_sve(m.world.tasks[A])
    return m.world.tasks[A]


@pytest.mark.parametrize("kernel", ["v6.1", "v6.12.0", "v6.12"])
def test_do_sve_acc_sets_tif_sve_and_enables_el0_sve(kernel):
    m = machine(kernel)
    a = sve_task(m)
    assert a.sve and a.sve_live and m.c.zen and m.c.bound == A
    assert m.c.v == m.c.z == (A, 2) and not m.violations


@pytest.mark.parametrize("kernel", ["v6.1", "v6.12"])
@pytest.mark.parametrize("live", [True, False], ids=["live", "foreign"])
def test_do_sve_acc_zeroes_the_saved_sve_state_first(kernel, live):
    """sve_alloc(current, true) memsets thread.sve_state before
    sve_init_regs(): an old SVE save does not survive the trap (found by the
    independent transcription, tests/xcheck)."""
    m = machine(kernel)
    a = m.world.tasks[A]
    a.saved_sv = a.saved_z = (A, 1)
    a.foreign = not live
    m.do_sve_acc(a)
    assert a.saved_z == ZERO
    assert a.saved_sv == (ZERO if live else a.saved_v)  # fpsimd_to_sve() refills the V part


@pytest.mark.parametrize("kernel", ["v6.1", "v6.12"])
def test_sve_code_traps_only_while_el0_sve_is_disabled(kernel):
    """ZEN, not TIF_SVE, decides: with ZEN enabled a task without TIF_SVE
    runs SVE code untrapped (the inconsistency of the 2025 fix's message)."""
    m = machine(kernel)
    m.c.zen = True
    a = m.world.tasks[A]
    m.user_sve(a)
    assert not a.sve and a.sve_live and m.c.z == (A, 2)
    assert "bind" not in [op.kind for op in m.ops]  # no do_sve_acc()


def test_an_sve_trap_with_tif_sve_set_is_a_kernel_warning():
    m = machine("v6.12")
    a = m.world.tasks[A]
    a.sve = True
    m.user_sve(a)
    assert props(m.violations) == ["kernel-rules"]


def test_v61_syscall_clears_tif_sve_and_traps_el0_sve():
    """6.1 fp_user_discard(): clear_thread_flag(TIF_SVE); sve_user_disable()."""
    m = machine("v6.1")
    a = sve_task(m)
    m.syscall(a)
    assert not a.sve and not m.c.zen and not a.sve_live


@pytest.mark.parametrize("kernel", ["v6.12.0", "v6.12"])
def test_v612_syscall_zeroes_the_high_bits_and_keeps_tif_sve_and_el0_sve(kernel):
    m = machine(kernel)
    a = sve_task(m)
    m.syscall(a)
    assert a.sve and m.c.zen and m.c.z == ZERO and m.c.v == (A, 2) and not a.sve_live
    assert m.c.to_save == ("fpsimd" if kernel == "v6.12" else "current")


def test_v612_fpsimd_syscall_exit_resets_to_save():
    m = machine("v6.12")
    a = sve_task(m)
    m.syscall(a)
    m.syscall_exit(a)
    assert m.c.to_save == "current"


@pytest.mark.parametrize("kernel", ["v6.12.0", "v6.12"])
def test_a_save_during_a_syscall_discards_sve_lazily(kernel):
    """6.12.0: !in_syscall(current); 6.12: to_save == FP_STATE_FPSIMD. Either
    way the save is FPSIMD only, fp_type FPSIMD, TIF_SVE left set; the reload
    then clears TIF_SVE and traps EL0 SVE (task_fpsimd_load() by fp_type)."""
    m = machine(kernel)
    a = sve_task(m)
    m.syscall(a)
    a.pc = "kernel"
    m.c.bh += 1
    m.fpsimd_save("save")
    m.c.bh -= 1
    assert a.fp_type == "fpsimd" and a.sve and a.saved_v == (A, 2) and a.saved_z == ZERO
    a.foreign = True
    m.restore_current_state()
    assert not a.sve and not m.c.zen and m.c.z == ZERO


def test_v612_save_in_user_space_is_sve_and_the_reload_restores_it():
    m = machine("v6.12")
    a = sve_task(m)
    m.c.bh += 1
    m.fpsimd_save("save")
    m.c.bh -= 1
    assert a.fp_type == "sve" and (a.saved_sv, a.saved_z) == ((A, 2), (A, 2))
    a.foreign, m.c.z, m.c.zen = True, ZERO, False
    m.restore_current_state()
    assert a.sve and m.c.zen and m.c.z == (A, 2)


def test_v61_reload_goes_by_tif_sve_and_warns_on_a_type_mismatch():
    m = machine("v6.1")
    a = m.world.tasks[A]
    a.sve, a.fp_type, a.foreign = True, "fpsimd", True
    m.restore_current_state()
    assert props(m.violations) == ["kernel-rules"]


def test_binding_a_task_sets_el0_sve_from_tif_sve_and_the_vhe_exit_traps_it():
    m = machine("v6.12")
    a = m.world.tasks[A]
    a.sve = True
    m.c.bh += 1
    m.bind(f"task:{A}", "bind")
    assert m.c.zen and m.c.to_save == "current"
    m.guest_exited()
    assert not m.c.zen


@pytest.mark.parametrize("guest_sve", [False, True])
def test_binding_the_guest_sets_to_save_from_vcpu_has_sve(guest_sve):
    """kvm_arch_vcpu_ctxsync_fp(): to_save = vcpu_has_sve ? SVE : FPSIMD;
    a later save writes exactly that much of the guest's registers."""
    m = machine("v6.12", guest_sve=guest_sve)
    m.c.v = m.c.z = m.world.fresh(GUEST)
    m.c.irq += 1
    m.bind("guest", "ctxsync")
    m.fpsimd_save("save")
    assert m.c.to_save == ("sve" if guest_sve else "fpsimd")
    assert m.world.vcpu.saved_z == ((GUEST, 2) if guest_sve else ZERO)


def test_v61_134_saves_sve_exactly_when_current_has_tif_sve():
    """6.1.134 fpsimd_save() has no to_save: KVM sets the vcpu thread's TIF_SVE."""
    m = machine("v6.1.134", guest_sve=True)
    m.c.v = m.c.z = m.world.fresh(GUEST)
    m.c.irq += 1
    m.bind("guest", "ctxsync")
    m.fpsimd_save("save")
    assert m.world.vcpu.saved_z == (GUEST, 1)  # FPSIMD only: the high bits in memory are the old ones
    m.world.tasks[A].foreign = False
    m.world.tasks[A].sve = True
    m.fpsimd_save("save")
    assert m.world.vcpu.saved_z == (GUEST, 2)


def test_fpsimd_kvm_prepare_clears_tif_sve_and_converts_the_saved_state():
    m = machine("v6.12.0")
    a = sve_task(m)
    a.saved_sv = (A, 2)
    m.fpsimd_kvm_prepare("load")
    assert not a.sve and a.fp_type == "fpsimd" and a.saved_v == (A, 2)
    assert m.c.zen and m.c.z == (A, 2)  # the live registers and ZEN are left alone


def test_fpsimd_save_and_flush_cpu_state_saves_unbinds_and_wants_preemption_off():
    m = machine("v6.1")
    m.fpsimd_save_and_flush_cpu_state("load")
    assert props(m.violations) == ["kernel-rules"]
    m = machine("v6.1")
    m.c.preempt += 1
    m.user_fp(m.world.tasks[A])
    m.fpsimd_save_and_flush_cpu_state("load")
    a = m.world.tasks[A]
    assert not m.violations and a.saved_v == (A, 2) and a.foreign and m.c.bound is None and m.c.irq == 0


def test_v61_kernel_neon_holds_the_fpsimd_context_until_end():
    m = machine("v6.1")
    m.kernel_neon_begin("neon")
    assert m.c.neon_busy and m.c.bh == 1 and not m.may_use_simd()
    m.kernel_neon_end("neon")
    assert not m.c.neon_busy and m.c.bh == 0 and m.may_use_simd()


def test_v612_kernel_neon_releases_the_context_within_begin():
    m = machine("v6.12")
    m.kernel_neon_begin("neon")
    assert m.c.bh == 0 and m.c.preempt == 0 and m.may_use_simd() and m.world.tasks[A].foreign
    m.c.irq += 1
    assert not m.may_use_simd()


# ---- 6.12: task-context kernel-mode NEON (TIF_KERNEL_FPSTATE) ----------------

B1 = "B1"
B1K = kernel_owner(B1)


def _neon_world(kernel="v6.12", **bound):
    config = ModelConfig(kernel=kernel, **bound)
    return config, initial_world(config, ())


def test_v612_task_kernel_neon_sets_tif_kernel_fpstate_and_stays_preemptible():
    config, world = _neon_world()
    world, _ops, violations = drive(config, NoHooks(), world, ("switch", 0, B1), ("kneon_begin", B1, None))
    b1, c = world.tasks[B1], world.cpus[0]
    assert b1.kfp and b1.foreign and c.bound is None and c.bh == c.preempt == 0 and not violations
    assert c.v == (B1K, 1) and world.tasks[A].saved_v == (A, 1)  # A's user state saved at the switch
    events = successors(world, config)
    assert ("switch", 0, A) in events and ("switch", 0, None) in events  # preemptible
    assert ("ret_to_user", B1, None) not in events and ("kneon_begin", B1, None) not in events
    assert {("kneon_use", B1, None), ("kneon_end", B1, None)} <= set(events)


def test_v61_task_kernel_neon_is_not_an_event_of_its_own():
    """6.1's kernel_neon_begin() keeps preemption off until _end(): the same
    state change as a softirq's (the `irq` event)."""
    config, world = _neon_world("v6.1")
    world, _ops, _violations = drive(config, NoHooks(), world, ("switch", 0, B1))
    assert not world.task_neon
    assert not {e[0] for e in successors(world, config)} & {"kneon_begin", "kneon_use", "kneon_end"}


def test_v612_switch_saves_the_kernel_neon_state_and_switching_back_reloads_it():
    """fpsimd_save_kernel_state() at the switch out (the state bound to the
    CPU, kernel_fpsimd_cpu set); fpsimd_flush_cpu_state() then
    fpsimd_load_kernel_state() at the switch back: never elided there."""
    config, world = _neon_world()
    world, _ops, _v = drive(config, NoHooks(), world, ("switch", 0, B1), ("kneon_begin", B1, None))
    world, ops, violations = drive(config, NoHooks(), world, ("kneon_use", B1, None), ("switch", 0, A))
    b1, c, a = world.tasks[B1], world.cpus[0], world.tasks[A]
    assert [(op.kind, op.target) for op in ops if op.kind in ("save", "bind", "restore")] == [
        ("save", "kstate:B1"),
        ("bind", "kstate:B1"),
        ("restore", "task:A"),  # A is not bound here (wrong_task): it returns to user space reloaded
        ("bind", "task:A"),
    ]
    assert b1.saved_k == (B1K, 2) and b1.kcpu == 0 and c.v == (A, 1) and not a.foreign and not violations
    world, ops, violations = drive(config, NoHooks(), world, ("user_fp", A, None), ("switch", 0, B1))
    assert ("restore", "kstate:B1") in [(op.kind, op.target) for op in ops]
    assert world.cpus[0].v == (B1K, 2) and world.cpus[0].bound is None and world.tasks[A].foreign
    world, _ops, violations = drive(config, NoHooks(), world, ("kneon_use", B1, None), ("kneon_end", B1, None))
    assert not violations and not world.tasks[B1].kfp


def test_v612_kernel_neon_state_follows_its_task_to_another_cpu():
    config, world = _neon_world(cpus=2)
    world, _ops, violations = drive(
        config,
        NoHooks(),
        world,
        ("switch", 1, B1),
        ("kneon_begin", B1, None),
        ("switch", 1, None),
        ("switch", 0, B1),
        ("kneon_use", B1, None),
        ("kneon_end", B1, None),
    )
    assert not violations and world.tasks[B1].kcpu == 1 and world.cpus[1].bound == "k:B1"


def test_v612_a_softirq_over_task_kernel_neon_saves_and_reloads_it():
    """kernel_neon_begin() in_serving_softirq() with TIF_KERNEL_FPSTATE:
    fpsimd_save_kernel_state(); kernel_neon_end(): fpsimd_load_kernel_state()."""
    config, world = _neon_world()
    world, _ops, _v = drive(config, NoHooks(), world, ("switch", 0, B1), ("kneon_begin", B1, None))
    world, ops, violations = drive(config, NoHooks(), world, ("irq", 0, None))
    assert [(op.kind, op.target) for op in ops if op.kind in ("save", "clobber", "restore")] == [
        ("save", "kstate:B1"),
        ("clobber", "kernel-mode NEON"),
        ("restore", "kstate:B1"),
    ]
    assert world.tasks[B1].kfp and world.cpus[0].v == (B1K, 1) and not violations
    world, _ops, violations = drive(config, NoHooks(), world, ("kneon_end", B1, None))
    assert not violations


def test_v612_kernel_neon_end_clears_the_flag_and_the_return_reloads_user_state():
    config, world = _neon_world()
    world, _ops, violations = drive(
        config,
        NoHooks(),
        world,
        ("switch", 0, B1),
        ("kneon_begin", B1, None),
        ("kneon_end", B1, None),
        ("ret_to_user", B1, None),
        ("user_fp", B1, None),
    )
    assert not violations and not world.tasks[B1].kfp and world.cpus[0].bound == B1


def test_v612_nested_task_kernel_neon_and_a_user_load_under_it_are_kernel_warnings():
    m = machine("v6.12")
    m.kernel_neon_begin("neon")
    assert m.world.tasks[A].kfp and not m.violations
    m.c.v = m.world.fresh(kernel_owner(A))
    m.kernel_neon_begin("neon again")  # BUG_ON(!in_serving_softirq())
    m.task_fpsimd_load(m.world.tasks[A], "reload")  # WARN_ON(TIF_KERNEL_FPSTATE)
    assert props(m.violations) == ["kernel-rules", "kernel-rules"]


class _LoadThenFlag(HOSTS["v6.12"]):
    """v6.8-v6.9 ("Implement lazy restore for kernel mode FPSIMD"): the
    switch loaded next's kernel-mode state, then set its
    TIF_FOREIGN_FPSTATE, leaving the CPU bound to the last user state."""

    def switch_to_kernel_neon(self, task, origin):
        self.load_kernel_state(task, origin)
        task.foreign = True


class _NoKernelSave(HOSTS["v6.12"]):
    """A switch that saves the user state even under TIF_KERNEL_FPSTATE."""

    def save_kernel_state(self, task, origin):
        if self.c.in_softirq:
            super().save_kernel_state(task, origin)


def test_the_erroneous_elide_of_e92bee9f861b_is_found(monkeypatch):
    """Without the flush before the load, the vcpu thread returns to user
    space with B1's kernel-mode NEON data in its registers: 7 steps, 1 CPU,
    as "arm64/fpsimd: Avoid erroneous elide of user state reload" says."""
    resolved = policy("kvm_v6_12")
    monkeypatch.setitem(HOSTS, "v6.12", _LoadThenFlag)
    found = _explore(resolved).counterexamples
    assert set(found) == {("lost-state", A), ("leaked-state", A)}
    assert [label(e) for e in found[("leaked-state", A)].path] == [
        "cpu0:switch:B1",
        "B1:kneon_begin",
        "cpu0:switch:A",
        "cpu0:switch:B1",
        "B1:kneon_end",
        "cpu0:switch:A",
        "A:user_fp",
    ]


def test_a_switch_that_does_not_save_kernel_neon_loses_it(monkeypatch):
    monkeypatch.setitem(HOSTS, "v6.12", _NoKernelSave)
    found = _explore(policy("kvm_v6_12")).counterexamples
    assert ("lost-state", B1K) in found


def test_an_sve_guest_loads_and_writes_its_high_bits():
    config = ModelConfig(kernel="v6.12", guest_sve=True)
    hooks = FnHooks(trap=lambda m: (setattr(m.world.vcpu, "trap_armed", False), m.load_state("guest", "trap")))
    world = initial_world(config, ())
    world, ops, violations = drive(config, hooks, world, ("ioctl", A, None), ("enter", A, None), ("guest_fp", A, None))
    assert not violations and world.cpus[0].z == world.cpus[0].v == (GUEST, 2)


def test_every_6x_kernel_has_its_own_host_module():
    assert {k: HOSTS[k].__module__.rsplit(".", 1)[1] for k in ("v6.1.134", "v6.1", "v6.12.0", "v6.12")} == {
        "v6.1.134": "v61",
        "v6.1": "v61",
        "v6.12.0": "v612",
        "v6.12": "v612",
    }


# ---- the shipped policies and the mutants of the fixed ones ----------------------

VERDICTS = {
    "kvm_v6_1_134": ("v6.1.134", False),
    "kvm_v6_1": ("v6.1", False),
    "kvm_v6_12_0": ("v6.12.0", True),
    "kvm_v6_12_0_no_prepare": ("v6.12.0", True),
    "kvm_v6_12": ("v6.12", False),
}


def _explore(resolved, **bound):
    config = ModelConfig(kernel=resolved.kernel, dead_values=True, **bound)
    return explore(PolicyHooks(resolved), config, resolved.initial_flags())


@pytest.mark.parametrize("name", sorted(VERDICTS))
@pytest.mark.parametrize("guest_sve", [False, True])
def test_shipped_6x_policies_verdicts(name, guest_sve):
    kernel, violated = VERDICTS[name]
    resolved = policy(name)
    assert resolved.kernel == kernel
    result = _explore(resolved, guest_sve=guest_sve)
    assert not result.truncated
    found = {prop for prop, _subject in result.counterexamples}
    assert found == ({"lost-state"} if violated else set()), found


def test_the_qemu_crash_trace_on_6_12_0():
    """RHEL-68997: put restores EL0 SVE (HOST_SVE_ENABLED) after
    fpsimd_kvm_prepare() cleared TIF_SVE; user SVE runs untrapped; a
    softirq's save keeps only FPSIMD and the SVE high bits are lost."""
    result = _explore(policy("kvm_v6_12_0"))
    (cex,) = result.counterexamples.values()
    kinds = [kind for kind, _actor, _arg in cex.path]
    assert kinds == ["user_sve", "ioctl", "enter", "exit", "to_user", "user_sve", "irq", "user_fp"]
    assert "SVE high bits" in cex.violation.message


def test_the_2022_bug_trace_without_fpsimd_kvm_prepare():
    """The hyp saves only the FPSIMD registers of a task whose saved state
    is SVE: the return to user space loads the stale SVE copy."""
    result = _explore(policy("kvm_v6_12_0_no_prepare"))
    (cex,) = result.counterexamples.values()
    kinds = [kind for kind, _actor, _arg in cex.path]
    assert "guest_fp" in kinds and kinds[-1] == "user_fp" and "FPSIMD registers" in cex.violation.message


def _mutant(tmp_path, base: str, what: str, drop: str):
    source = policy(base).policy.source.text
    assert source.count(drop) == 1, drop
    path = tmp_path / f"{base}_{what}.fp"
    path.write_text(source.replace(f"policy {base} ", f"policy {base}_{what} ", 1).replace(drop, "", 1))
    return check_or_raise(load_policy(path))


MUTATIONS = {
    # kvm_arch_vcpu_load_fp() without fpsimd_save_and_flush_cpu_state()
    "no_save_at_load": "    ## kvm_arch_vcpu_load_fp()\n    fpsimd_save_and_flush_cpu_state()\n",
    # kvm_arch_vcpu_put_fp() without it
    "no_flush_at_put": "    if FP_ENABLED {\n        fpsimd_save_and_flush_cpu_state()\n    }\n",
}


@pytest.mark.parametrize("base", ["kvm_v6_1", "kvm_v6_12"])
@pytest.mark.parametrize("what", sorted(MUTATIONS))
def test_mutants_of_the_fixed_policies_are_flagged(tmp_path, base, what):
    mutant = _mutant(tmp_path, base, what, MUTATIONS[what])
    assert "fpsimd_save_and_flush_cpu_state" in mutant.policy.source.text  # only one of the two went
    result = _explore(mutant, guest_sve=True)
    assert result.counterexamples, f"{what} of {base} is not flagged"


@pytest.mark.parametrize("kernel,name", [("v6.1", "kvm_v6_1"), ("v6.12", "kvm_v6_12")])
def test_the_mutant_that_forgets_to_save_is_flagged(monkeypatch, kernel, name):
    """KVM binding an SVE guest's state with to_save = FP_STATE_FPSIMD."""

    class ForgetsToSave(HOSTS[kernel]):
        def _bind(self, target, origin):
            super()._bind(target, origin)
            if target == "guest":
                self.c.to_save = "fpsimd"

    assert issubclass(ForgetsToSave, Host6)
    assert not _explore(policy(name), guest_sve=True).counterexamples
    monkeypatch.setitem(HOSTS, kernel, ForgetsToSave)
    result = _explore(policy(name), guest_sve=True)
    assert {prop for prop, _ in result.counterexamples} == {"lost-state"}


# ---- scenarios: the built-in QEMU trace and the `guest sve` header ------------


@pytest.mark.parametrize(
    "name,verdict",
    [("kvm_v6_12_0", "VIOLATED (lost-state)"), ("kvm_v6_12", None), ("kvm_v6_1", None), ("kvm_v6_1_134", None)],
)
def test_the_qemu_scenario_replays_as_the_fix_says(name, verdict):
    result = run("simulate", str(ROOT / "policies" / f"{name}.fp"), "--scenario", "qemu_sve_2025")
    assert result.exit_code == (1 if verdict else 0), result.output
    last = result.output.strip().split("\n")[-1]
    if verdict:
        assert last == f"verdict: {verdict} on this scenario"
    else:
        assert last.startswith("verdict: no property broken on this scenario")


def test_a_saved_counterexample_keeps_its_sve_guest(tmp_path):
    saved = tmp_path / "c.scn"
    path = str(ROOT / "policies" / "kvm_v6_12_0.fp")
    assert run("simulate", path, "-q", "--guest-sve", "--save-scenario", str(saved)).exit_code == 1
    assert "\nguest sve\n" in saved.read_text()
    replay = run("simulate", path, "--scenario", str(saved))
    assert replay.exit_code == 1 and "verdict: VIOLATED (lost-state) on this scenario" in replay.output
    refused = run("simulate", str(ROOT / "policies" / "eager.fp"), "--scenario", str(saved))
    assert refused.exit_code == 1 and "eager runs on the v4.16 model, which has no SVE guests" in refused.output
    assert "Traceback" not in refused.output


def _forget_cases():
    """Every 6.x policy and guest at the default bound, and with 2 runs; the
    largest exact spaces (6.12.0's, with task-context kernel-mode NEON)
    with the SVE guest only where it is cheap."""
    for name in sorted(VERDICTS):
        for bound, bid in (({}, "default"), ({"runs": 2, "exits": 1}, "2 runs")):
            for guest_sve in (False, True):
                costly = name == "kvm_v6_12_0_no_prepare" or (name.startswith("kvm_v6_12") and bound)
                if guest_sve and costly:
                    continue
                yield pytest.param(name, guest_sve, bound, id=f"{name}-{'sve' if guest_sve else 'fpsimd'} guest-{bid}")


@pytest.mark.parametrize("name,guest_sve,bound", list(_forget_cases()))
def test_forgetting_dead_values_keeps_verdicts_and_shortest_counterexamples(name, guest_sve, bound):
    """The 6.x models' Forget rules (last_cpu, to_save; 6.12's sve_state of
    an FP_STATE_FPSIMD task) merge states, never verdicts: the same
    counterexamples, just as short, as --exact finds."""
    resolved = policy(name)
    hooks = PolicyHooks(resolved)
    results = []
    for dead_values in (False, True):
        config = ModelConfig(kernel=resolved.kernel, dead_values=dead_values, guest_sve=guest_sve, **bound)
        results.append(explore(hooks, config, resolved.initial_flags()))
    exact, forgetful = results
    assert forgetful.states < exact.states
    assert {k: len(c.path) for k, c in exact.counterexamples.items()} == {
        k: len(c.path) for k, c in forgetful.counterexamples.items()
    }


def test_6_12_forgets_the_sve_state_of_an_fpsimd_typed_task_but_what_fpsimd_kvm_prepare_reads():
    """6.12's task_fpsimd_load() reads sve_state only for FP_STATE_SVE; 6.1's
    goes by TIF_SVE, so 6.1 keeps it; fpsimd_kvm_prepare() reads the vcpu
    thread's V part of sve_state whatever fp_type says when it has TIF_SVE,
    so a policy calling it keeps that then."""
    rules = {name: dead_value_rules(PolicyHooks(policy(name)), policy(name).kernel) for name in VERDICTS}
    assert rules["kvm_v6_12"].fpsimd_typed_sve_state and rules["kvm_v6_12"].vcpu_thread_sve_v
    assert rules["kvm_v6_12_0_no_prepare"].vcpu_thread_sve_v
    assert rules["kvm_v6_12_0"].fpsimd_typed_sve_state and not rules["kvm_v6_12_0"].vcpu_thread_sve_v
    assert not rules["kvm_v6_1"].fpsimd_typed_sve_state and not rules["kvm_v6_1_134"].fpsimd_typed_sve_state

    config = ModelConfig(kernel="v6.12.0", tasks=1)
    world = initial_world(config, ())

    def variant(task: str, fp_type: str, tif_sve: bool):
        w = world.clone()
        w.tasks[task].fp_type = fp_type
        w.tasks[task].sve = tif_sve
        w.tasks[task].saved_sv = w.tasks[task].saved_z = w.fresh(task)
        return w

    for task in (A, "B1"):
        for fp_type in ("fpsimd", "sve"):
            for tif_sve in (False, True):
                other = variant(task, fp_type, tif_sve)
                base = other.clone()
                base.tasks[task].saved_sv = base.tasks[task].saved_z = ZERO
                for prepares in (False, True):
                    forget = rules["kvm_v6_12_0" if prepares else "kvm_v6_12_0_no_prepare"]
                    merged = base.key(True, forget) == other.key(True, forget)
                    # fpsimd_kvm_prepare() reads the vcpu thread's V part only with TIF_SVE.
                    read = prepares and task == A and tif_sve
                    assert merged == (fp_type == "fpsimd" and not read), (task, fp_type, tif_sve, prepares)


def test_6_12_forgets_the_fpsimd_state_of_an_sve_typed_task():
    """With fp_type FP_STATE_SVE, 6.12's reload reads sve_state, so
    fpsimd_state is dead; 6.1's reload goes by TIF_SVE and keeps it."""
    rules = dead_value_rules(PolicyHooks(policy("kvm_v6_12_0")), "v6.12.0")
    assert rules.sve_typed_fpsimd_state
    assert not dead_value_rules(PolicyHooks(policy("kvm_v6_1")), "v6.1").sve_typed_fpsimd_state
    world = initial_world(ModelConfig(kernel="v6.12.0", tasks=1), ())
    for task in (A, "B1"):
        for fp_type in ("fpsimd", "sve"):
            base = world.clone()
            base.tasks[task].fp_type = fp_type
            other = base.clone()
            other.tasks[task].saved_v = other.vcpu.saved_v  # some other content
            merged = base.key(True, rules) == other.key(True, rules)
            assert merged == (fp_type == "sve"), (task, fp_type)
            assert base.key(True) != other.key(True)
