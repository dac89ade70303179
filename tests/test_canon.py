"""Canonical keys: symmetry and the dead-value rules merge states without
changing what the explorer finds."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import SHIPPED, policy

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
