"""Exhaustive exploration: verdicts for every 2018 proposal, counterexample
traces, and mutants of the merged design that the checker must catch."""

from __future__ import annotations

import json

import pytest
from helpers import POLICIES, ROOT, SHIPPED, policy, run, run_cli

from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import load_policy
from fpdsl.model.machine import ModelConfig
from fpdsl.model.records import PROPERTIES
from fpdsl.model.runloop import initial_world, label, step
from fpdsl.sim.explorer import explore
from fpdsl.sim.interpreter import PolicyHooks

DEFAULT = {"cpus": 1, "tasks": 1, "runs": 1, "exits": 2}


def explore_policy(resolved, **bound):
    config = ModelConfig(kernel=resolved.kernel, **(DEFAULT | bound))
    return explore(PolicyHooks(resolved), config, resolved.initial_flags())


@pytest.fixture(scope="module")
def results():
    return {name: explore_policy(policy(name)) for name in SHIPPED}


def broken(ex) -> set[str]:
    return {p for p in PROPERTIES if not ex.holds(p)}


def test_verdicts_of_every_shipped_policy(results) -> None:
    assert broken(results["eager"]) == set()
    assert broken(results["host_machinery"]) == set()
    assert broken(results["neon_busy"]) == set()
    assert broken(results["lazy_until_put"]) == {"lost-state", "leaked-state"}
    assert broken(results["no_softirq_no_preempt"]) == {"preemptibility"}
    assert broken(results["neon_begin_in_load"]) == {"preemptibility"}
    # what the faithful model finds for Dave's local_bh_disable() diff
    assert broken(results["bh_disable_variant"]) == {"lost-state", "leaked-state"}
    assert all(not ex.truncated for ex in results.values())


def test_lazy_loses_guest_state_through_softirq_neon(results) -> None:
    ce = next(c for c in results["lazy_until_put"].for_property("lost-state") if c.violation.subject == "G")
    assert [label(e) for e in ce.path] == [
        "A:ioctl", "cpu0:irq", "A:enter", "A:guest_fp", "A:exit_irq", "A:resume", "A:enter", "A:guest_fp",
    ]  # fmt: skip
    assert ce.violation.message == "the guest reads K#2 from the FPSIMD registers, not its last write G#2"
    out = run_cli("simulate", "policies/lazy_until_put.fp", "-q")
    assert out.returncode == 1
    assert "counterexample 1, lost-state [the guest] (8 steps)" in out.stdout
    assert "kernel-mode NEON writes K#2  (softirq)" in out.stdout
    assert "policies/lazy_until_put.fp:35      local_irq_enable()" in out.stdout


def test_lazy_leaks_guest_values_into_the_vcpu_threads_task_struct(results) -> None:
    ce = next(c for c in results["lazy_until_put"].for_property("leaked-state") if c.violation.subject == "A")
    assert [label(e) for e in ce.path] == ["A:ioctl", "A:enter", "A:guest_fp", "A:exit_irq"]
    assert "saved into the vcpu thread's storage (task:A)" in ce.violation.message


def test_disable_from_load_to_put_keeps_state_but_not_preemptibility(results) -> None:
    for name, words in (
        ("no_softirq_no_preempt", "preemption disabled (preempt count 1) and softirqs masked"),
        ("neon_begin_in_load", "preemption disabled (preempt count 1)"),
    ):
        (ce,) = results[name].for_property("preemptibility")
        assert [label(e) for e in ce.path] == ["A:ioctl"]
        assert ce.violation.message == f"the run loop reaches cond_resched() with {words}"
        assert results[name].states > 1000  # exploration went on past the violation


def test_neon_busy_softirqs_take_the_fallback() -> None:
    resolved = policy("neon_busy")
    config = ModelConfig(kernel=resolved.kernel, **DEFAULT)
    hooks = PolicyHooks(resolved)
    world = initial_world(config, resolved.initial_flags())
    kinds = []
    for event in (("ioctl", "A", None), ("enter", "A", None), ("guest_fp", "A", None), ("exit_irq", "A", None)):
        res = step(world, event, config, hooks)
        world = res.world
        kinds += [op.kind for op in res.ops]
    assert "softirq_fallbacks" in kinds and "softirq_neon" not in kinds and "clobber" not in kinds


def test_bh_disable_variant_counterexample_is_pinned(results) -> None:
    ce = next(c for c in results["bh_disable_variant"].for_property("leaked-state") if c.violation.subject == "A")
    # The diff saves the guest's registers but leaves them live with the vcpu
    # thread's TIF_FOREIGN_FPSTATE clear, so the softirq that runs at
    # local_bh_enable() saves them into the task struct.
    assert [label(e) for e in ce.path] == ["A:ioctl", "A:enter", "A:guest_fp", "A:exit_irq"]
    assert ce.violation.message == "G#2 (the guest's FPSIMD data) saved into the vcpu thread's storage (task:A)"


MUTANTS = [
    ("fpsimd_bind_state_to_cpu(guest)\n", "leaked-state"),
    ("if test_thread_flag(TIF_FOREIGN_FPSTATE) {\n        FP_ENABLED = false\n        FP_HOST = false\n    }\n",
     "leaked-state"),
    ("fpsimd_save()\n", "lost-state"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("deleted", "expected"), MUTANTS, ids=["no-bind-at-exit", "no-foreign-check", "no-save-at-put"]
)
def test_mutants_of_host_machinery_are_caught(tmp_path, deleted: str, expected: str) -> None:
    text = (POLICIES / "host_machinery.fp").read_text()
    assert text.count(deleted) == 1
    mutant = tmp_path / "host_machinery.fp"
    mutant.write_text(text.replace(deleted, ""))
    ex = explore_policy(check_or_raise(load_policy(mutant)))
    assert expected in broken(ex)
    assert "kernel-rules" not in broken(ex) and "preemptibility" not in broken(ex)


def test_simulate_all_prints_one_table_and_json() -> None:
    out = run_cli("simulate", "--all", "policies/", "-q")
    assert out.returncode == 1  # some policies are broken
    for name in SHIPPED:
        assert name in out.stdout
    data = json.loads(run_cli("simulate", "policies/eager.fp", "--json").stdout)
    assert data["verdict"] == "CLEAN" and data["states"] > 1000
    assert all(p["holds"] for p in data["properties"].values())


def test_clean_policy_exits_zero_and_dot_output(tmp_path) -> None:
    assert run_cli("simulate", "policies/host_machinery.fp", "-q").returncode == 0
    dot = tmp_path / "ce.dot"
    out = run_cli("simulate", "policies/lazy_until_put.fp", "-q", "--dot", str(dot))
    assert out.returncode == 1
    text = dot.read_text()
    assert text.startswith("digraph counterexamples {") and "color=red" in text


def test_exploration_is_deterministic() -> None:
    a = run_cli("simulate", "policies/bh_disable_variant.fp", "-q")
    b = run_cli("simulate", "policies/bh_disable_variant.fp", "-q")
    strip = [line for line in a.stdout.splitlines() if "s, depth" not in line]
    assert strip == [line for line in b.stdout.splitlines() if "s, depth" not in line]
    assert ROOT.exists()


@pytest.mark.parametrize("option", ["--cpus", "--runs", "--exits"])
def test_a_bound_that_explores_nothing_of_kvm_is_a_usage_error(option: str) -> None:
    """No CPU, no KVM_RUN call or no guest exit: nothing to verify, so no verdict."""
    result = run("simulate", "policies/eager.fp", option, "0")
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}': 0 is not in the range 1<=x<=8" in result.output
    assert "verdict" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "name,bound",
    [("lazy_until_put", {}), ("kvm_v6_12_0", {}), ("kvm_v6_12", {})],
)
def test_splitting_levels_with_a_helper_gives_the_one_process_result(monkeypatch, name, bound):
    """fpdsl.sim.levels: the same states, transitions, depth and shortest
    counterexamples, event for event, as one process going level by level."""
    import fpdsl.sim.explorer as explorer
    import fpdsl.sim.levels as levels

    if not levels.can_split():
        pytest.skip("needs 2 cores and fork()")
    splits = []
    real = levels.expand_split

    def counted(*args, **kwargs):
        splits.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(explorer, "SPLIT_AT", 64)
    monkeypatch.setattr(explorer, "expand_split", counted)
    resolved = policy(name)
    config = ModelConfig(kernel=resolved.kernel, dead_values=True, **(DEFAULT | bound))
    one, two = (explore(PolicyHooks(resolved), config, resolved.initial_flags(), workers=w) for w in (1, 2))
    assert splits and len(splits) < one.max_depth
    assert (two.states, two.transitions, two.max_depth) == (one.states, one.transitions, one.max_depth)
    paths = {k: (ce.path, ce.violation) for k, ce in one.counterexamples.items()}
    assert {k: (ce.path, ce.violation) for k, ce in two.counterexamples.items()} == paths
    assert bool(paths) == (name != "kvm_v6_12")
