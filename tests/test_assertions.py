"""`bug_on(cond)` and `warn_on_once(cond)`: the kernel's own run-time checks
in a policy. Parsed and checked like an if's condition, a broken kernel
rule in the model when the condition holds, BUG_ON()/WARN_ON_ONCE() in an
emitted patch, and never written twice where the tree already has it.

6.1.134's kvm_arch_vcpu_load_fp() starts with
BUG_ON(test_thread_flag(TIF_SVE)): KVM_RUN's syscall entry discarded the
task's SVE state, and kvm_arch_vcpu_put_fp() clears TIF_SVE, which the
guest's exit set for an SVE guest. The shipped policy says so; a mutant
whose put keeps TIF_SVE trips it on the next load."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import POLICIES, policy, run
from standin import write_tree
from test_emit import FIXED

from fpdsl.diagnostics import FpdslError, Source
from fpdsl.lang import ast
from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.liveness import written_first
from fpdsl.lang.loader import load_policy
from fpdsl.lang.parser import parse_policy
from fpdsl.model.machine import ModelConfig
from fpdsl.sim.explorer import explore
from fpdsl.sim.interpreter import PolicyHooks

BOUND = {"cpus": 1, "tasks": 1, "runs": 1, "exits": 2}
HEAD = 'policy t "assertions"\nkernel v6.1.134\nflag F\n'


def _parse(text: str) -> ast.Policy:
    return parse_policy(Source("t.fp", text))


def _error(text: str, tmp_path: Path) -> str:
    path = tmp_path / "t.fp"
    path.write_text(text)
    with pytest.raises(FpdslError) as exc:
        check_or_raise(load_policy(path))
    return str(exc.value)


def _explore(resolved, guest_sve: bool = False):
    config = ModelConfig(kernel=resolved.kernel, guest_sve=guest_sve, **BOUND)
    return explore(PolicyHooks(resolved), config, resolved.initial_flags())


def test_both_assertions_parse_with_their_condition() -> None:
    hook = _parse(
        HEAD + "hook load {\n  bug_on(test_thread_flag(TIF_SVE))\n  warn_on_once(!irqs_disabled() && F);\n}\n"
    )
    first, second = hook.hooks[0].body
    assert first == ast.Assertion(
        "BUG_ON",
        ast.Call("test_thread_flag", (ast.Arg("TIF_SVE", first.cond.args[0].span),), first.cond.span),
        first.span,
    )
    assert (first.span.line, first.span.column) == (5, 3)
    assert second.macro == "WARN_ON_ONCE" and isinstance(second.cond, ast.BinOp) and second.cond.op == "&&"


@pytest.mark.parametrize(
    "body,message",
    [
        ("bug_on test_thread_flag(TIF_SVE)", "5:10: error: unexpected 'test_thread_flag', expected '('"),
        ("bug_on()", "5:10: error: unexpected ')', expected a condition"),
        ("flag_x = bug_on", "5:12: error: unexpected keyword 'bug_on', expected 'true' or 'false'"),
    ],
)
def test_a_malformed_assertion_is_a_located_syntax_error(body: str, message: str, tmp_path: Path) -> None:
    assert message in _error(HEAD + "hook load {\n  " + body + "\n}\n", tmp_path)


def test_a_flag_cannot_be_called_bug_on(tmp_path: Path) -> None:
    text = _error('policy t "x"\nkernel v6.1.134\nflag bug_on\n', tmp_path)
    assert "3:6: error: unexpected keyword 'bug_on', expected a name" in text


def test_the_condition_is_checked_as_an_ifs(tmp_path: Path) -> None:
    text = _error(HEAD + "hook load {\n  bug_on(G || no_such_thing())\n}\n", tmp_path)
    assert "5:10: error: unknown flag 'G'" in text
    assert "5:15: error: unknown predicate 'no_such_thing'" in text


def test_a_flag_an_assertion_reads_before_load_writes_it_is_live() -> None:
    read_first = _parse(HEAD + "hook load {\n  bug_on(F)\n  F = true\n}\n").hooks[0]
    written = _parse(HEAD + "hook load {\n  F = true\n  bug_on(F)\n}\n").hooks[0]
    assert written_first(read_first) == frozenset()
    assert written_first(written) == {"F"}


@pytest.mark.parametrize("guest_sve", [False, True])
def test_the_6_1_134_bug_on_at_load_holds(guest_sve: bool) -> None:
    resolved = policy("kvm_v6_1_134")
    load = resolved.hooks["load"].body
    assert load[0] == ast.Assertion("BUG_ON", load[0].cond, load[0].span, load[0].doc)
    assert _explore(resolved, guest_sve).clean


def test_a_put_that_keeps_tif_sve_trips_it_with_an_sve_guest(tmp_path: Path) -> None:
    text = (POLICIES / "kvm_v6_1_134.fp").read_text()
    put_clear = "    clear_thread_flag(TIF_SVE)\n    local_irq_restore()\n"
    assert text.count(put_clear) == 1
    mutant = tmp_path / "m.fp"
    mutant.write_text(text.replace(put_clear, "    local_irq_restore()\n"))
    resolved = check_or_raise(load_policy(mutant))
    assert _explore(resolved).holds("kernel-rules")  # exit clears TIF_SVE for a guest without SVE
    (ce,) = _explore(resolved, guest_sve=True).for_property("kernel-rules")
    assert ce.violation.message == (
        "bug_on(test_thread_flag(TIF_SVE)): the condition holds, and BUG_ON() crashes the kernel"
    )
    assert (ce.violation.origin.hook, ce.violation.origin.line) == ("load", 21)
    # The exit sets TIF_SVE; preempted (put), and switched back to (load).
    assert ce.path == [
        ("ioctl", "A", None),
        ("enter", "A", None),
        ("guest_fp", "A", None),
        ("exit", "A", None),
        ("switch", 0, "B1"),
        ("switch", 0, "A"),
    ]


def test_warn_on_once_is_a_broken_rule_only_when_its_condition_holds(tmp_path: Path) -> None:
    text = (POLICIES / "kvm_v6_1_134.fp").read_text()
    enter = "hook enter {\n"
    for cond, holds in (("!irqs_disabled()", True), ("irqs_disabled()", False)):
        path = tmp_path / "w.fp"
        path.write_text(text.replace(enter, enter + f"    warn_on_once({cond})\n"))
        result = _explore(check_or_raise(load_policy(path)))
        assert result.holds("kernel-rules") is holds, cond
        if not holds:
            assert result.for_property("kernel-rules")[0].violation.message.endswith("and WARN_ON_ONCE() warns")


# ---- emission --------------------------------------------------------------

HM_EXIT = """policy hm_exit_check "Host machinery, exit checks {check}"
kernel v4.18
extends host_machinery

hook exit {{
    ## kvm_arch_vcpu_ctxsync_fp(): hand the loaded guest state to the host.
    warn_on_once({check})
    if FP_ENABLED {{
        fpsimd_bind_state_to_cpu(guest)
        clear_thread_flag(TIF_FOREIGN_FPSTATE)
        clear_thread_flag(TIF_SVE)
    }}
    local_irq_enable()
}}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    (tmp_path / "host_machinery.fp").write_text((POLICIES / "host_machinery.fp").read_text())
    return path


def test_an_assertion_the_tree_already_makes_is_not_written_again(tmp_path: Path) -> None:
    """4.18's kvm_arch_vcpu_ctxsync_fp() starts with WARN_ON_ONCE(!irqs_disabled()),
    which host_machinery does not say: a policy that says it changes nothing."""
    tree = write_tree(tmp_path / "v4.18", "v4.18", git=True)
    path = _write(tmp_path, "same.fp", HM_EXIT.format(check="!irqs_disabled()"))
    result = run("emit-patch", str(path), "--tree", str(tree), *FIXED, "-o", str(tmp_path / "same.patch"))
    assert result.exit_code == 0, result.output
    assert "nothing to emit" in result.output and not (tmp_path / "same.patch").exists()


def test_a_new_assertion_is_one_added_line_in_the_tree(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "v4.18", "v4.18", git=True)
    path = _write(tmp_path, "new.fp", HM_EXIT.format(check="test_thread_flag(TIF_SVE)"))
    out = tmp_path / "new.patch"
    result = run("emit-patch", str(path), "--tree", str(tree), *FIXED, "--no-verify", "-o", str(out))
    assert result.exit_code == 0, result.output
    diff = out.read_text().split("\ndiff --git ", 1)[1].split("\n-- \n")[0].split("\n")
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    # The hook's comment, 81 columns on one line, is wrapped (checkpatch's 80 in 2018).
    assert changed == [
        "+\t/*",
        "+\t * kvm_arch_vcpu_ctxsync_fp(): hand the loaded guest state to the",
        "+\t * host.",
        "+\t */",
        "+\tWARN_ON_ONCE(test_thread_flag(TIF_SVE));",
    ]
    subprocess.run(["git", "apply", str(out)], cwd=tree, check=True, capture_output=True)
    again = run("emit-patch", str(path), "--tree", str(tree), *FIXED, "--no-verify", "-o", str(tmp_path / "2.patch"))
    assert again.exit_code == 0 and "nothing to emit" in again.output, again.output


def test_an_assertion_in_the_trap_hook_is_refused_for_the_hyp(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "v4.18", "v4.18", git=True)
    text = (POLICIES / "host_machinery.fp").read_text()
    trap = "hook trap {\n"
    assert text.count(trap) == 1
    path = _write(
        tmp_path,
        "trap.fp",
        text.replace(trap, trap + "    bug_on(FP_ENABLED)\n").replace("policy host_machinery ", "policy trap_check "),
    )
    result = run("emit-patch", str(path), "--tree", str(tree), *FIXED, "--no-verify", "-o", str(tmp_path / "t.patch"))
    assert result.exit_code == 1, result.output
    assert "bug_on() cannot be emitted in hyp (EL2) code: state the check in a host hook" in result.output
    assert not (tmp_path / "t.patch").exists()


@pytest.mark.kernel
def test_bug_on_in_a_6_1_policy_goes_above_the_comment_of_the_statement_after_it(
    kernel_6_1: Path, tmp_path: Path
) -> None:
    text = (POLICIES / "kvm_v6_1.fp").read_text()
    first = "    ## kvm_arch_vcpu_load_fp()\n    fpsimd_save_and_flush_cpu_state()\n"
    assert text.count(first) == 1
    path = tmp_path / "k.fp"
    path.write_text(
        text.replace(first, first.replace("    fpsimd", "    bug_on(test_thread_flag(TIF_SVE))\n    fpsimd"))
    )
    out = tmp_path / "k.patch"
    result = run("emit-patch", str(path), "--tree", str(kernel_6_1), *FIXED, "--no-verify", "-o", str(out))
    assert result.exit_code == 0, result.output
    hunk = out.read_text().split("\n@@ ", 1)[1].split("\n-- \n")[0].split("\n")[1:]
    at = hunk.index("+\tBUG_ON(test_thread_flag(TIF_SVE));")
    assert [line for line in hunk if line[:1] in "+-"] == ["+\t/* kvm_arch_vcpu_load_fp() */", hunk[at]]
    assert hunk[at - 2 : at] == [" ", "+\t/* kvm_arch_vcpu_load_fp() */"]
    assert hunk[at + 1] == " \t/*"  # the tree's comment on fpsimd_save_and_flush_cpu_state(), after it


@pytest.mark.kernel
@pytest.mark.parametrize("whole", [False, True])
def test_the_6_1_guard_a_policy_states_stays_one(kernel_6_1: Path, tmp_path: Path, whole: bool) -> None:
    """6.1's kvm_arch_vcpu_ctxsync_fp() starts with WARN_ON_ONCE(!irqs_disabled()),
    a guard the hook's site leaves out: stating it changes nothing."""
    text = (POLICIES / "kvm_v6_1.fp").read_text()
    exit_doc = "    ## kvm_arch_vcpu_ctxsync_fp(): to_save is the guest's type.\n"
    assert text.count(exit_doc) == 1
    path = tmp_path / "k.fp"
    path.write_text(text.replace(exit_doc, exit_doc + "    warn_on_once(!irqs_disabled())\n"))
    out = tmp_path / "k.patch"
    args = ["--whole"] if whole else []
    result = run("emit-patch", str(path), "--tree", str(kernel_6_1), *FIXED, "--no-verify", *args, "-o", str(out))
    assert result.exit_code == 0, result.output
    if not whole:
        assert "nothing to emit" in result.output and not out.exists()
        return
    plain = tmp_path / "plain.patch"
    again = [str(POLICIES / "kvm_v6_1.fp"), "--tree", str(kernel_6_1), *FIXED, "--no-verify", "--whole"]
    assert run("emit-patch", *again, "-o", str(plain)).exit_code == 0
    hunks = [t.split("\n-- \n")[0] for t in (out.read_text(), plain.read_text())]
    assert hunks[0].split("\ndiff --git ", 1)[1] == hunks[1].split("\ndiff --git ", 1)[1]
    assert " \tWARN_ON_ONCE(!irqs_disabled());" in hunks[0].split("\n")  # kept as it was
