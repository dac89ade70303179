"""`fpdsl simulate` as a user meets it: exit statuses, incomplete and
interrupted searches, scenario replay verdicts, counterexamples saved as
scenarios, traces that name hooks and show only what changed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import POLICIES, ROOT, policy, run, run_cli

from fpdsl.model.machine import ModelConfig
from fpdsl.sim.explorer import Progress, explore
from fpdsl.sim.interpreter import PolicyHooks

LAZY = str(POLICIES / "lazy_until_put.fp")

# The hyp forgets to load the guest's registers: the guest reads the host's,
# which is a lost and a leaked value at the same step.
NO_LOAD = """policy no_load "trap without loading the guest"
kernel v4.16

hook enter {
    arm_fp_trap()
}

hook trap {
    disarm_fp_trap()
    fpsimd_save_state(host)
}

hook exit {
    if !fp_trap_armed() {
        fpsimd_save_state(guest)
        fpsimd_load_state(host)
    }
    local_irq_enable()
}
"""


def test_identical_traces_are_printed_once(tmp_path: Path) -> None:
    p = tmp_path / "no_load.fp"
    p.write_text(NO_LOAD)
    r = run("simulate", str(p), "-q")
    assert r.exit_code == 1
    assert "counterexample 1, lost-state [the guest] (3 steps)" in r.output
    assert "counterexample 2, leaked-state [the guest] (3 steps)" in r.output
    assert "  (the same steps as counterexample 1 above)" in r.output
    assert r.output.count("  3. A:guest_fp") == 1


def test_trace_names_the_hook_and_lists_changes_only() -> None:
    r = run("simulate", LAZY, "-q")
    trace = r.output.split("counterexample 1,", 1)[1].split("counterexample 2,", 1)[0]
    lines = trace.splitlines()
    i = lines.index("  3. A:enter            A enters the guest")
    assert lines[i + 1] == "       enter hook: just before guest entry; preemption and interrupts off"
    assert "lazy_until_put.fp:17 " in lines[i + 2] and lines[i + 2].endswith("if system_supports_sve() {")
    step2 = lines[next(n for n, line in enumerate(lines) if line.startswith("  2. cpu0:irq")) :]
    changed = next(line for line in step2 if line.startswith("       changed:"))
    assert changed == (
        "       changed: cpu0.regs A#1 -> K#1, cpu0.bound A -> none, A.saved 0 -> A#1, A.TIF_FOREIGN_FPSTATE 0 -> 1"
    )
    # the competing task's flags are part of the state
    assert "B1.TIF_FOREIGN_FPSTATE 1" in lines[2] and lines[2].startswith("initial state: cpu0.regs A#1")
    # step 6 changes nothing and moves no counter: no state or counter line
    j = next(n for n, line in enumerate(lines) if line.startswith("  6. A:resume"))
    assert lines[j + 1].startswith("  7. A:enter")


def test_full_state_marks_what_changed() -> None:
    r = run("simulate", LAZY, "-q", "--full-state")
    assert "       state: *cpu0.regs K#1, cpu0.sve 0, *cpu0.bound none, cpu0.running A," in r.output
    assert r.output.count("counters: saves") > run("simulate", LAZY, "-q").output.count("counters: saves")


def test_incomplete_search_says_unknown_and_exits_3() -> None:
    r = run("simulate", LAZY, "-q", "--max-states", "50", "--property", "kernel-rules")
    assert r.exit_code == 3
    assert "  kernel-rules    unknown " in r.output and "holds" not in r.output
    assert "TRUNCATED at --max-states" in r.output and r.output.rstrip().endswith("verdict: INCOMPLETE")


def test_interrupted_exploration_returns_what_it_found() -> None:
    resolved = policy("lazy_until_put")
    calls = []

    def interrupt(p: Progress) -> None:
        calls.append(p)
        if p.depth >= 6:
            raise KeyboardInterrupt

    config = ModelConfig(kernel=resolved.kernel, dead_values=True)
    ex = explore(PolicyHooks(resolved), config, resolved.initial_flags(), progress=interrupt, interruptible=True)
    assert ex.interrupted and ex.truncated and 0 < ex.states and ex.max_depth == 6
    assert calls[-1].states == ex.states and calls[-1].frontier > 0


def test_ctrl_c_prints_the_partial_search_and_exits_130() -> None:
    cmd = [sys.executable, "-m", "fpdsl.cli", "simulate", LAZY, "-q", "--exact", "--cpus", "2", "--runs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(3)  # start-up is well under a second; this bound takes minutes
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "INTERRUPTED by Ctrl-C" in out and "verdict:" in out and "Traceback" not in err


def test_scenario_replay_with_a_violation_exits_1_with_a_verdict(tmp_path: Path) -> None:
    scn = tmp_path / "bug.scn"
    r = run("simulate", LAZY, "-q", "--save-scenario", str(scn))
    assert r.exit_code == 1
    text = scn.read_text()
    assert 'scenario lazy_until_put_lost_state "lazy_until_put: lost-state"\ncpus 1\ntasks 1\nruns 1\nexits 2\n' in text
    assert text.rstrip().endswith("A:guest_fp           ! lost-state")
    replayed = run("simulate", LAZY, "--scenario", str(scn))
    assert replayed.exit_code == 1
    assert "[lost-state]" in replayed.output  # the mark on the violating step
    assert "!! lost-state: the guest reads K#2 from the FPSIMD registers, not its last write G#2" in replayed.output
    assert replayed.output.rstrip().endswith("verdict: VIOLATED (leaked-state, lost-state) on this scenario")
    clean = run_cli("simulate", str(POLICIES / "eager.fp"), "--scenario", str(scn))
    assert clean.returncode == 0 and "verdict: no property broken on this scenario" in clean.stdout


def test_scenario_refuses_bound_options() -> None:
    r = run("simulate", LAZY, "--scenario", "seed_ab", "--cpus", "2")
    assert r.exit_code == 2
    assert "--cpus cannot be used with --scenario: a scenario file sets its own bound" in r.output


def test_properties_may_be_given_comma_separated() -> None:
    a = run("simulate", LAZY, "-q", "--property", "lost-state,kernel-rules", "--json")
    b = run("simulate", LAZY, "-q", "--property", "lost-state", "--property", "kernel-rules", "--json")
    assert a.exit_code == b.exit_code == 1 and a.output == b.output
    bad = run("simulate", LAZY, "--property", "lost-state,nope")
    assert bad.exit_code == 2 and "'nope' is not a property; properties: lost-state, leaked-state" in bad.output


def test_forget_dead_is_the_default_and_exact_keeps_every_state() -> None:
    forgetting = run("simulate", LAZY, "-q", "--json")
    exact = run("simulate", LAZY, "-q", "--json", "--exact")
    import json

    f, e = json.loads(forgetting.output), json.loads(exact.output)
    assert f["dead_values_forgotten"] and not e["dead_values_forgotten"]
    assert f["states"] < e["states"]
    assert f["properties"] == e["properties"]  # the same verdicts and counterexamples


def test_progress_line_has_rate_share_frontier_and_memory() -> None:
    from fpdsl.cli.simulate import progress_text

    at = Progress(states=50_000, transitions=1, depth=9, frontier=1234, seconds=10.0)
    line = progress_text("p", at, 2_000_000, False)
    assert line.startswith("p: 50,000 states (2.5% of --max-states), 5,000 states/s, depth 9, frontier 1,234, ")
    assert line.endswith("MiB; --forget-dead would merge states and finish sooner")
    assert "forget-dead" not in progress_text("p", Progress(10, 1, 1, 1, 10.0), 100, True)


def test_all_keeps_going_past_a_policy_that_does_not_check(tmp_path: Path) -> None:
    (tmp_path / "a_bad.fp").write_text('policy a_bad "x"\nkernel v4.16\nhook load { nope() }\n')
    (tmp_path / "eager.fp").write_text((POLICIES / "eager.fp").read_text())
    r = run_cli("simulate", "--all", str(tmp_path), "-q")
    assert r.returncode == 1
    assert "a_bad.fp:3:13: error: unknown primitive 'nope'" in r.stderr
    assert "verdicts at bound: 1 CPU, 1 competing task, 1 KVM_RUN call, 2 exits per call" in r.stdout
    assert "ERROR: unknown primitive 'nope'" in r.stdout
    eager = next(line for line in r.stdout.splitlines() if " eager " in line)
    assert "CLEAN" in eager


def test_dot_draws_every_counterexample_as_a_sequence_chart(tmp_path: Path) -> None:
    dot = tmp_path / "ce.dot"
    r = run("simulate", LAZY, "-q", "--dot", str(dot))
    assert r.exit_code == 1
    text = dot.read_text()
    # one cluster per distinct counterexample of the report (3 for lazy_until_put)
    assert [line.strip()[: len("subgraph cluster_1 {")] for line in text.splitlines() if "subgraph" in line] == [
        "subgraph cluster_1 {",
        "subgraph cluster_2 {",
        "subgraph cluster_3 {",
    ]
    assert 'label="counterexample 1: lost-state (8 steps): the guest reads K#2' in text
    # kernel operations, the hook, the policy line and the state change are in the step's box
    step2 = next(line for line in text.splitlines() if line.strip().startswith("c1_cpu0_2 [shape=box"))
    assert "-> save A#1 -> task:A" in step2 and "changed: cpu0.regs: A#1 -> K#1" in step2
    step3 = next(line for line in text.splitlines() if line.strip().startswith("c1_cpu0_3 [shape=box"))
    assert "[enter hook] just before guest entry" in step3 and "lazy_until_put.fp:17: if system_supports_sve()" in step3
    assert text.count("color=red") >= 3  # each counterexample's last step, and any earlier violation
    import re

    bare = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)  # the graph's structure, its strings aside
    assert bare.count("{") == bare.count("}") and '"' not in bare.replace('""', "")


def test_chart_has_a_lane_per_cpu_and_puts_each_step_in_its_cpus(tmp_path: Path) -> None:
    from fpdsl.model.records import Violation
    from fpdsl.sim.chart import sequence_charts
    from fpdsl.sim.explorer import Counterexample, Exploration
    from fpdsl.sim.run import replay_scenario
    from fpdsl.sim.scenario import load_scenario

    scn = tmp_path / "two.scn"
    scn.write_text('scenario two "x"\ncpus 2\ntasks 1\nexits 1\nA:ioctl\ncpu1:switch:B1\ncpu1:irq\nA:enter\n')
    resolved = policy("lazy_until_put")
    played = replay_scenario(resolved, load_scenario(str(scn)))
    ex = Exploration(played.config)
    ce = Counterexample(
        "lost-state", Violation("lost-state", 'a "quoted" \\ message', "G", None), [s.event for s in played.steps]
    )
    ex.counterexamples[("lost-state", "G")] = ce
    text = sequence_charts(resolved, ex, ("lost-state",))
    assert (
        'c1_cpu0_0 [shape=box, style=bold, label="cpu0"]' in text
        and 'c1_cpu1_0 [shape=box, style=bold, label="cpu1"]' in text
    )
    boxes = {line.split(" [")[0].strip() for line in text.splitlines() if "[shape=box, label=" in line}
    assert boxes == {"c1_cpu0_1", "c1_cpu1_2", "c1_cpu1_3", "c1_cpu0_4"}  # ioctl and enter on cpu0, B1's steps on cpu1
    assert "{ rank=same; c1_cpu0_2; c1_cpu1_2; }" in text
    assert 'a \\"quoted\\" \\\\ message' in text  # untrusted text cannot end a label


def test_full_is_the_short_name_of_full_state() -> None:
    def untimed(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("explored ")]

    full = untimed(run("simulate", LAZY, "-q", "--full").output)
    assert full == untimed(run("simulate", LAZY, "-q", "--full-state").output) and any("state: *" in x for x in full)


def _timeless(text: str) -> str:
    """A verdict table without its seconds column."""
    return re.sub(r"│ +\d+\.\d\d │", "│ s │", text)


def test_jobs_give_the_same_table_and_json() -> None:
    few = [str(POLICIES / f"{name}.fp") for name in ("lazy_until_put", "kvm_v6_12_0", "eager", "host_machinery")]
    one = run_cli("simulate", "--all", *few, "-q")
    two = run_cli("simulate", "--all", *few, "-q", "-j", "2")
    assert one.returncode == two.returncode == 1, two.stderr
    assert _timeless(two.stdout) == _timeless(one.stdout) and "kvm_v6_12_0" in two.stdout
    rows = [json.loads(run_cli("simulate", *few, "-q", "--json", "-j", j).stdout) for j in ("1", "0")]
    assert rows[0] == rows[1] and [r["verdict"] for r in rows[0]] == ["VIOLATED", "VIOLATED", "CLEAN", "CLEAN"]


def test_ctrl_c_stops_every_job_and_prints_the_table() -> None:
    """Ctrl-C reaches the whole process group, as from a terminal: exit 130,
    a table, no traceback, and no worker left running."""
    deep = ["--exact", "--cpus", "2", "--runs", "2"]
    cmd = [sys.executable, "-m", "fpdsl.cli", "simulate", "--all", LAZY, str(POLICIES / "eager.fp"), "-q", "-j", "2"]
    proc = subprocess.Popen(
        [*cmd, *deep], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True
    )
    time.sleep(3)  # start-up is well under a second; this bound takes minutes
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Error" not in err, err
    # Both searches were under way: each row is what it had explored, marked incomplete.
    assert "│ lazy_until_put │" in out and "│ eager " in out, out
    eager_row = next(line for line in out.splitlines() if line.startswith("│ eager "))
    assert "unknown" in eager_row and eager_row.rstrip("│ ").endswith("INCOMPLETE")
    assert int(eager_row.split("│")[-4]) > 1000
    time.sleep(0.5)
    try:
        os.killpg(proc.pid, 0)
        left = True
    except ProcessLookupError:
        left = False
    assert not left, "a worker outlived the command"
