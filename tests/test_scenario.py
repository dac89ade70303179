"""Scenario replay: Dave Martin's A/B sequence and its redundant work."""

from __future__ import annotations

import pytest
from helpers import POLICIES, policy, run_cli

from fpdsl.diagnostics import FpdslError, Source
from fpdsl.sim.interpreter import PolicyLine
from fpdsl.sim.run import replay_scenario
from fpdsl.sim.scenario import load_scenario, parse_scenario


def replay(name: str):
    return replay_scenario(policy(name), load_scenario("seed_ab"))


def marked(run, mark: str) -> list[int]:
    return [s.number for s in run.steps if s.mark and s.mark.split()[0] == mark]


def redundant_steps(run, kind: str) -> list[int]:
    return sorted(v.step for v in run.redundant(kind))


def test_lazy_flags_one_of_each_x_pair_and_y_pair_as_redundant() -> None:
    run = replay("lazy_until_put")
    xs, ys = marked(run, "X"), marked(run, "Y")
    assert xs == [11, 19, 22, 30] and ys == [17, 28]
    saves, restores = redundant_steps(run, "save"), redundant_steps(run, "restore")
    # the warm-up (steps 1-8) wastes work too; each of Dave's cycles wastes
    # exactly one X save (KVM's trap save) and one Y restore (vcpu_put's)
    assert saves == [3, 11, 22]
    assert restores == [5, 6, 17, 28]
    for pair in ((11, 19), (22, 30)):
        assert sum(step in saves for step in pair) == 1
    for y in ys:  # both of Dave's Y restores happen in the context-switch step
        kinds = [(v.op.target, v.redundant) for v in run.verdicts.values() if v.step == y and v.op.kind == "restore"]
        assert sorted(kinds) == [("host:0", True), ("task:B1", False)]


def test_lazy_redundancy_reasons_and_origins() -> None:
    run = replay("lazy_until_put")
    save = {v.step: v for v in run.redundant("save")}[11]
    assert isinstance(save.op.origin, PolicyLine)
    assert save.op.origin.text == "fpsimd_save_state(host)" and save.op.target == "host:0"
    assert "its restore at step 17 was itself redundant" in save.reason
    assert "superseded at step 18 when B1 wrote B1#3" in save.reason
    restore = {v.step: v for v in run.redundant("restore")}[17]
    assert restore.op.origin.text == "fpsimd_load_state(host)"
    assert restore.reason.startswith("overwritten at step 17 (restore of B1#2 from task:B1)")
    # B's own save (step 19) is needed: it is restored at step 28 and read
    assert not any(v.redundant for v in run.verdicts.values() if v.step == 19)


def test_counts_lazy_and_eager_differ_and_are_pinned() -> None:
    pinned = ("host_saves", "guest_saves", "host_restores", "guest_restores", "fp_traps")
    lazy, eager = replay("lazy_until_put").totals(), replay("eager").totals()
    assert [lazy[k] for k in pinned] == [8, 3, 7, 3, 3]
    assert [eager[k] for k in pinned] == [10, 5, 9, 5, 5]
    assert (lazy["redundant_saves"], lazy["redundant_restores"]) == (3, 4)
    assert (eager["redundant_saves"], eager["redundant_restores"]) == (5, 6)
    merged = replay("host_machinery").totals()
    assert (merged["redundant_saves"], merged["redundant_restores"]) == (0, 1)


def test_without_sve_the_redundancy_moves_to_bs_own_save() -> None:
    # v4.16 invalidates B's binding at guest entry only if B has SVE in use:
    # an FPSIMD-only B finds its registers intact, so its context-switch save
    # (Dave's second X) is the wasted one, and no Y restore happens at all.
    run = replay_scenario(policy("lazy_until_put"), load_scenario("seed_ab_nosve"))
    saves = {v.step: v for v in run.redundant("save")}
    assert sorted(saves) == [3, 9, 22]
    assert saves[22].op.target == "task:B1" and saves[22].reason.startswith("never restored")
    assert redundant_steps(run, "restore") == [5]


def test_cli_trace_is_numbered_with_policy_lines_owners_and_counters() -> None:
    out = run_cli("simulate", "policies/lazy_until_put.fp", "--scenario", "seed_ab")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert " 11. A:guest_fp" in text and "[X  FPSIMD traps to the host" in text
    assert "policies/lazy_until_put.fp:28      fpsimd_save_state(host)" in text
    assert "save B1#2 -> host:0   REDUNDANT: its restore at step 17 was itself redundant" in text
    assert "initial state: cpu0.regs " in text and "counters: saves" in text
    # each step names the hook its policy lines belong to and lists only what it changed
    assert "       trap hook: the guest's first FP/SIMD access while the FP trap is armed" in text
    assert "       changed: cpu0.regs " in text and "\n       state: cpu0" not in text
    assert "redundant saves: 3; redundant restores: 4" in text
    again = run_cli("simulate", "policies/lazy_until_put.fp", "--scenario", "seed_ab")
    assert again.stdout == text  # deterministic


def test_scenario_file_written_by_a_user(tmp_path) -> None:
    scn = tmp_path / "mine.scn"
    scn.write_text('scenario mine "two runs"\nexits 1\nA:ioctl\nA:enter\nA:guest_fp ! trap\nA:exit\nA:to_user\n')
    out = run_cli("simulate", str(POLICIES / "host_machinery.fp"), "--scenario", str(scn), "--json")
    assert out.returncode == 0, out.stderr
    assert '"event": "A:guest_fp"' in out.stdout and '"mark": "trap"' in out.stdout


def test_impossible_event_is_a_located_error(tmp_path) -> None:
    scn = tmp_path / "bad.scn"
    scn.write_text('scenario bad "x"\nA:ioctl\nA:guest_fp\n')
    out = run_cli("simulate", str(POLICIES / "eager.fp"), "--scenario", str(scn))
    assert out.returncode == 1
    assert f"{scn}:3:1: error: event 'A:guest_fp' is not possible here" in out.stderr
    assert "possible now:" in out.stderr and "A:enter" in out.stderr and "Traceback" not in out.stderr


def test_unknown_scenario_and_malformed_files(tmp_path) -> None:
    out = run_cli("simulate", str(POLICIES / "eager.fp"), "--scenario", "seed_abc")
    assert out.returncode == 1 and "did you mean 'seed_ab'?" in out.stderr
    with pytest.raises(FpdslError, match="a scenario starts with"):
        parse_scenario(Source("x.scn", "A:ioctl\n"))
    with pytest.raises(FpdslError, match="not an event"):
        parse_scenario(Source("x.scn", 'scenario x "y"\nA ioctl\n'))
