"""Canonical keys: symmetry and the dead-value rules merge states without
changing what the explorer finds."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import SHIPPED, policy

from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.liveness import trap_set_before_guest, written_first
from fpdsl.lang.loader import load_policy
from fpdsl.model.machine import ModelConfig
from fpdsl.model.runloop import initial_world, label, step
from fpdsl.sim.explorer import dead_value_rules, explore
from fpdsl.sim.interpreter import PolicyHooks


def _findings(ex) -> dict:
    return {k: [label(e) for e in ce.path] for k, ce in ex.counterexamples.items()}


@pytest.mark.parametrize("name", SHIPPED)
def test_forgetting_dead_values_keeps_every_counterexample(name: str) -> None:
    resolved = policy(name)
    hooks = PolicyHooks(resolved)
    config = ModelConfig(kernel=resolved.kernel)
    exact = explore(hooks, config, resolved.initial_flags())
    reduced = explore(hooks, replace(config, dead_values=True), resolved.initial_flags())
    assert _findings(reduced) == _findings(exact)
    assert reduced.states < exact.states


def test_sve_rules_only_for_policies_that_cannot_revive_the_bits() -> None:
    assert dead_value_rules(PolicyHooks(policy("host_machinery"))).task_sve_bits
    assert dead_value_rules(PolicyHooks(policy("host_machinery"))).bound_sve
    assert not dead_value_rules(PolicyHooks(policy("host_machinery"))).cpu_sve_bits  # clears TIF_FOREIGN_FPSTATE
    lazy = dead_value_rules(PolicyHooks(policy("lazy_until_put")))
    assert lazy.cpu_sve_bits and not lazy.bound_sve  # lazy calls sve_flush_cpu_state()


def test_renamed_cpus_give_the_same_key() -> None:
    resolved = policy("host_machinery")
    config = ModelConfig(kernel=resolved.kernel, cpus=2)
    hooks = PolicyHooks(resolved)
    world = initial_world(config, resolved.initial_flags())
    # The same world with the CPUs' roles swapped: A running on CPU 1.
    mirrored = world.clone()
    mirrored.cpus = [world.cpus[1].clone(), world.cpus[0].clone()]
    mirrored.tasks["A"].cpu = mirrored.tasks["A"].last_cpu = 1
    assert mirrored.key() == world.key() and mirrored.key(False) != world.key(False)
    assert step(world, ("switch", 1, "B1"), config, hooks).world.key() != world.key()


_LIVENESS_POLICY = """policy liveness "flags the load hook assigns before reading them"
kernel v6.12

flag READ_FIRST
flag BOTH_BRANCHES
flag ONE_BRANCH
flag PLAIN
flag UNTOUCHED

hook load {
    if READ_FIRST {
        BOTH_BRANCHES = true
    } else {
        BOTH_BRANCHES = false
        ONE_BRANCH = true
    }
    READ_FIRST = false
    PLAIN = true
    if PLAIN && BOTH_BRANCHES {
        fpsimd_save_and_flush_cpu_state()
    }
}

hook put {
    if READ_FIRST || ONE_BRANCH || UNTOUCHED {
        fpsimd_save_and_flush_cpu_state()
    }
}
"""


def test_the_load_hook_kills_only_the_flags_it_assigns_on_every_path_before_reading(tmp_path) -> None:
    path = tmp_path / "liveness.fp"
    path.write_text(_LIVENESS_POLICY)
    resolved = check_or_raise(load_policy(path))
    hooks = PolicyHooks(resolved)
    assert written_first(resolved.hooks["load"]) == {"BOTH_BRANCHES", "PLAIN"}
    assert hooks.written_first_by_load == (1, 3)
    assert dead_value_rules(hooks, resolved.kernel).unloaded_flags == (1, 3)
    # The shipped policies: 6.12.0's load resets its fp_owner and
    # HOST_SVE_ENABLED; the 2018 designs that carry GUEST_VFP_LOADED across
    # put and load keep it.
    names = {n: [policy(n).flags[i].name for i in PolicyHooks(policy(n)).written_first_by_load] for n in SHIPPED}
    assert names["kvm_v6_12_0"] == ["HOST_OWNED", "GUEST_OWNED", "HOST_SVE_ENABLED"]
    assert names["kvm_v6_1"] == names["kvm_v6_12"] == ["FP_ENABLED"]
    assert names["lazy_until_put"] == names["neon_busy"] == []


def test_flags_the_load_hook_kills_are_forgotten_only_while_the_vcpu_is_unloaded(tmp_path) -> None:
    path = tmp_path / "liveness.fp"
    path.write_text(_LIVENESS_POLICY)
    resolved = check_or_raise(load_policy(path))
    forget = dead_value_rules(PolicyHooks(resolved), resolved.kernel)
    world = initial_world(ModelConfig(kernel=resolved.kernel), resolved.initial_flags())

    def with_flag(index: int, loaded: int | None):
        w = world.clone()
        w.vcpu.flags[index] = True
        w.vcpu.loaded = loaded
        return w

    for index in range(5):
        for loaded in (None, 0):
            base = world.clone()
            base.vcpu.loaded = loaded
            merged = with_flag(index, loaded).key(True, forget) == base.key(True, forget)
            assert merged == (loaded is None and index in (1, 3)), (index, loaded)
            assert with_flag(index, loaded).key(True) != base.key(True)


def _trap_policy(tmp_path, load: str, softirq: str = "", enter: str = "if !F {\n        arm_fp_trap()\n    }"):
    text = f"""policy trap "when the guest's FP trap is set"
kernel v6.1

flag F

hook load {{
    {load}
}}

hook enter {{
    {enter}
}}

hook trap {{
    disarm_fp_trap()
    fpsimd_load_state(guest)
    F = true
}}
"""
    if softirq:
        text += f"\nhook softirq {{\n    {softirq}\n}}\n"
    path = tmp_path / "trap.fp"
    path.write_text(text)
    return check_or_raise(load_policy(path))


@pytest.mark.parametrize(
    "load,softirq,enter,dead",
    [
        ("F = false", "", None, True),  # load clears F, so enter arms
        ("pass", "", None, False),  # F survives from before the load
        ("F = false", "F = true", None, False),  # a softirq in between may set F
        ("F = false", "F = false", None, True),
        ("pass", "", "if may_use_simd() {\n        arm_fp_trap()\n    } else {\n        disarm_fp_trap()\n    }", True),
    ],
    ids=["load clears", "no load", "softirq sets", "softirq clears", "both branches"],
)
def test_the_guest_trap_is_dead_while_unloaded_only_if_set_before_the_guest_runs(
    tmp_path, load, softirq, enter, dead
) -> None:
    resolved = _trap_policy(tmp_path, load, softirq, *([enter] if enter else []))
    hooks = PolicyHooks(resolved)
    assert trap_set_before_guest(resolved.hooks, ["F"]) is dead
    forget = dead_value_rules(hooks, resolved.kernel)
    assert forget.unloaded_trap is dead
    world = initial_world(ModelConfig(kernel=resolved.kernel), resolved.initial_flags())
    for loaded in (None, 0):
        armed, off = world.clone(), world.clone()
        armed.vcpu.loaded = off.vcpu.loaded = loaded
        off.vcpu.trap_armed = False
        assert (armed.key(True, forget) == off.key(True, forget)) == (dead and loaded is None)


def test_a_policy_that_tests_the_trap_keeps_it() -> None:
    resolved = policy("eager")  # its exit hook asks fp_trap_armed()
    assert not trap_set_before_guest(resolved.hooks, [f.name for f in resolved.flags])
    assert trap_set_before_guest(policy("kvm_v6_12_0").hooks, [f.name for f in policy("kvm_v6_12_0").flags])
