"""The 6.x models against independent transcriptions (tests/xcheck/
model612.py: written from Debian's 6.12.118 and the 6.12.0 snippets of the
stable backports; model61.py: from Debian's 6.1.192 and 6.1.134 as the
6.1.135 backport reversed gives it), sharing only the abstraction: values,
events, properties, the key's layout. At the default bound, exact, both
guests: the same set of canonical states, key for key, and the same
shortest counterexamples, event for event. The 6.12 transcription found
the one place the models differed (do_sve_acc()'s sve_alloc(current,
true) zeroing sve_state)."""

from __future__ import annotations

import pytest
from helpers import policy
from xcheck import model61, model612

from fpdsl.model.machine import ModelConfig
from fpdsl.model.runloop import initial_world, step, successors
from fpdsl.sim.explorer import explore
from fpdsl.sim.interpreter import PolicyHooks
from fpdsl.sim.levels import CORRUPTING


def _fpdsl_states(resolved, config) -> set:
    """Every canonical state the explorer keeps (its BFS, re-run for the keys)."""
    hooks = PolicyHooks(resolved)
    init = initial_world(config, resolved.initial_flags())
    seen = {init.key(config.symmetry)}
    frontier = [init]
    while frontier:
        nxt = []
        for world in frontier:
            for event in successors(world, config):
                res = step(world, event, config, hooks, record=False)
                if any(v.prop in CORRUPTING for v in res.violations):
                    continue
                key = res.world.key(config.symmetry)
                if key not in seen:
                    seen.add(key)
                    nxt.append(res.world)
        frontier = nxt
    return seen


@pytest.mark.parametrize("guest_sve", [False, True], ids=["fpsimd guest", "sve guest"])
@pytest.mark.parametrize("name", ["kvm_v6_12", "kvm_v6_12_0", "kvm_v6_1", "kvm_v6_1_134"])
def test_the_6x_models_reach_the_states_an_independent_transcription_reaches(name, guest_sve):
    resolved = policy(name)
    config = ModelConfig(kernel=resolved.kernel, guest_sve=guest_sve)
    transcription = model612 if name.startswith("kvm_v6_12") else model61
    theirs, their_ces = transcription.states_and_counterexamples(name, guest_sve)
    ours = _fpdsl_states(resolved, config)
    assert len(ours) == len(theirs) and ours == theirs
    ex = explore(PolicyHooks(resolved), config, resolved.initial_flags())
    assert ex.states == len(theirs)
    assert {k: ce.path for k, ce in ex.counterexamples.items()} == their_ces
    assert bool(their_ces) == (name == "kvm_v6_12_0")
