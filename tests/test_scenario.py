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
    assert xs == [12, 22, 25, 35] and ys == [18, 19, 31, 32]
    saves, restores = redundant_steps(run, "save"), redundant_steps(run, "restore")
    # the warm-up KVM_RUN (steps 1-9) wastes one of each too; each of Dave's
    # cycles wastes exactly one X save and one Y restore
    assert saves == [3, 12, 25]
    assert restores == [5, 18, 31]
    for pair in ((12, 22), (25, 35)):
        assert sum(step in saves for step in pair) == 1
    for pair in ((18, 19), (31, 32)):
        assert sum(step in restores for step in pair) == 1


def test_lazy_redundancy_reasons_and_origins() -> None:
    run = replay("lazy_until_put")
    by_step = {v.step: v for v in run.redundant("save")}
    save = by_step[12]
    assert isinstance(save.op.origin, PolicyLine)
    assert save.op.origin.text == "fpsimd_save_state(host)" and save.op.target == "host:0"
    assert "its restore at step 18 was itself redundant" in save.reason
    assert "superseded at step 20 when B1 wrote B1#3" in save.reason
    restore = {v.step: v for v in run.redundant("restore")}[18]
    assert restore.op.origin.text == "fpsimd_load_state(host)"
    assert restore.reason.startswith("overwritten at step 19 (restore of B1#2 from task:B1)")
    # the needed ones are not flagged: B's own save (step 22) and reload (step 19)
    assert not any(v.step in (19, 22) for v in run.verdicts.values() if v.redundant)


def test_counts_lazy_and_eager_differ_and_are_pinned() -> None:
    lazy, eager = replay("lazy_until_put").totals(), replay("eager").totals()
    pinned = ("host_saves", "guest_saves", "host_restores", "guest_restores", "fp_traps")
    assert [lazy[k] for k in pinned] == [7, 3, 6, 3, 3]
    assert [eager[k] for k in pinned] == [9, 5, 8, 5, 5]
    assert (lazy["redundant_saves"], lazy["redundant_restores"]) == (3, 3)
    assert (eager["redundant_saves"], eager["redundant_restores"]) == (5, 5)
    merged = replay("host_machinery").totals()
    assert (merged["redundant_saves"], merged["redundant_restores"]) == (0, 0)


def test_cli_trace_is_numbered_with_policy_lines_owners_and_counters() -> None:
    out = run_cli("simulate", "policies/lazy_until_put.fp", "--scenario", "seed_ab")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert " 12. A:guest_fp" in text and "[X  FPSIMD traps to the host" in text
    assert "policies/lazy_until_put.fp:28      fpsimd_save_state(host)" in text
    assert "save B1#2 -> host:0   REDUNDANT: its restore at step 18 was itself redundant" in text
    assert "state: cpu0: regs" in text and "counters: saves" in text
    assert "redundant saves: 3; redundant restores: 3" in text
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
