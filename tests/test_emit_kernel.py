"""emit-patch on Debian's real 6.1 and 6.12 trees: every shipped policy
either emits a patch that applies, passes checkpatch and compiles, or is
refused with its reason; the 6.x design emitted for 6.1 behaves as the code
already there; a broken template is caught by --verify with gcc's error.

The trees come from tests/kernels.py (apt-get, cached, prepared once)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, SHIPPED, run
from helpers import policy as shipped
from tree_sitter import Node

from fpdsl.emit.anchors import CFile

pytestmark = pytest.mark.kernel

FIXED = ["--date", "2024-06-01T12:00:00+00:00", "--signoff", "Fp Dsl <fpdsl@example.org>"]
# What each 6.x tree takes: its own code (kvm_v6_*) and the seed's fix (d) on it.
EMITS_FOR_6 = {
    "6.1": {"kvm_v6_1", "softirq_giveback_v6_1"},
    "6.12": {"kvm_v6_12", "softirq_giveback_v6_12"},
}
# Every other shipped policy is refused at its kernel line: a 6.x tree is
# one kernel model's (the 2018 policies run on v4.16/v4.18, the pre-fix ones
# on v6.1.134/v6.12.0).
MODEL_V6 = {p for p in SHIPPED if shipped(p).kernel.startswith("v6")}


def _baseline(series: str) -> Path:
    return ROOT / "policies" / f"kvm_v{series.replace('.', '_')}.fp"


def _refusal(policy: str, series: str) -> str:
    return f"kernel model; a v{series} tree is the v{series} model's"


FUNCTIONS = ("kvm_arch_vcpu_load_fp", "kvm_arch_vcpu_ctxflush_fp", "kvm_arch_vcpu_ctxsync_fp", "kvm_arch_vcpu_put_fp")


def _emit_v6(tree: Path, series: str, *extra: str):
    """emit-patch the tree's own code, kvm_v6_1 or kvm_v6_12 (no explorer run for the message)."""
    return run("emit-patch", str(_baseline(series)), "--tree", str(tree), *FIXED, "--no-verify", *extra)


def _tree(request, series: str) -> Path:
    return request.getfixturevalue("kernel_6_1" if series == "6.1" else "kernel_6_12")


def test_every_shipped_policy_is_accounted_for() -> None:
    assert len(MODEL_V6) == 7 and len(SHIPPED) == 14
    assert EMITS_FOR_6["6.1"] | EMITS_FOR_6["6.12"] <= MODEL_V6


@pytest.mark.parametrize("series,policy", [(s, p) for s in EMITS_FOR_6 for p in sorted(EMITS_FOR_6[s])])
def test_policy_emits_a_patch_that_applies_passes_checkpatch_and_compiles(
    series: str, policy: str, request, tmp_path: Path
) -> None:
    """kvm_v6_* is what the trees already do, so its patch is the one
    --whole writes: every hook through the 6.x templates."""
    tree = _tree(request, series)
    out = tmp_path / f"{policy}.patch"
    whole = ["--whole"] if policy.startswith("kvm_") else []
    result = run("emit-patch", str(ROOT / "policies" / f"{policy}.fp"), "--tree", str(tree), *FIXED, *whole, "--verify")
    assert result.exit_code == 0, result.output
    for step in (
        "[ok] git apply --check",
        "[ok] checkpatch: 0 errors, 0 warnings",
        "[ok] compile arch/arm64/kvm/arm.o",
        "[ok] compile arch/arm64/kvm/fpsimd.o",
        "[ok] compile arch/arm64/kernel/fpsimd.o",
        "verify-patch: ok",
    ):
        assert step in result.output, result.output
    patch = result.output[result.output.index("From 0000000000000000000000000000000000000000") :]
    out.write_text(patch)
    subprocess.run(["git", "apply", "--check", str(out)], cwd=tree, check=True, capture_output=True)
    assert "  verdict: CLEAN\n" in patch


@pytest.mark.parametrize("series,policy", [(s, p) for s in EMITS_FOR_6 for p in sorted(set(SHIPPED) - EMITS_FOR_6[s])])
def test_other_policies_are_refused_with_the_reason(series: str, policy: str, request, tmp_path: Path) -> None:
    tree = _tree(request, series)
    out = tmp_path / "x.patch"
    result = run("emit-patch", str(ROOT / "policies" / f"{policy}.fp"), "--tree", str(tree), *FIXED, "-o", str(out))
    assert result.exit_code == 1 and _refusal(policy, series) in result.output, result.output
    assert "Traceback" not in result.output and not out.exists()


def _flatten(cf: CFile, node: Node) -> list[str]:
    """The statements of a function as a list, without comments, blank
    lines or braces: two bodies that differ only in those are the same code."""
    out: list[str] = []
    children = node.named_children if node.type == "compound_statement" else [node]
    for child in children:
        if child.type == "comment":
            continue
        if child.type == "compound_statement":
            out.extend(_flatten(cf, child))
        elif child.type == "if_statement":
            cond = child.child_by_field_name("condition")
            out.append("if " + " ".join(cf._text(cond).split()))
            out.extend(_flatten(cf, child.child_by_field_name("consequence")) or ["<empty>"])
            alt = child.child_by_field_name("alternative")
            if alt is not None:
                out.append("else")
                out.extend(_flatten(cf, alt.named_children[-1]))
            out.append("endif")
        elif child.type in ("expression_statement", "declaration", "return_statement"):
            out.append(" ".join(cf._text(child).split()))
        else:
            out.append(f"<{child.type}>")
    return out


@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_the_trees_own_policy_behaves_as_the_code_already_there(series: str, request, tmp_path: Path) -> None:
    """What the 6.x kernel does and the policy says agree statement for
    statement in all four kvm/fpsimd.c functions, so emit-patch has nothing
    to write; with --whole the patch changes comments, braces and blank
    lines only. What differs, and why:
    - the policy's `##` lines are added beside the kernel's own comments;
    - `BUG_ON(!current->mm)`, the `system_supports_fpsimd()` early return,
      `WARN_ON_ONCE(!irqs_disabled())` and 6.12's pKVM/SME `WARN_ON` are
      guards the model does not cover: kept as they are;
    - SVE and SME: the model's registers have no SVE type per context and no
      SME at all; the 6.x templates write the version's real calls
      (`fpsimd_save_and_flush_cpu_state()` covers SME's PSTATE.SM/ZA, the
      bind passes the vcpu's SVE state and type), so nothing is lost;
    - the hyp's trap handler (SVE, FPMR, pKVM, AArch32 FPEXC) is kept, and
      the policy's trap hook is checked against it, not emitted."""
    tree = request.getfixturevalue("kernel_6_1" if series == "6.1" else "kernel_6_12")
    work = tmp_path / "fpsimd"
    work.mkdir()
    rel = "arch/arm64/kvm/fpsimd.c"
    original = (tree / rel).read_text()
    own = _baseline(series).stem
    result = _emit_v6(tree, series)
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{own}: nothing to emit: the v{series} tree already implements every hook "
        "(its code is the policy's, statement for statement; only comments would change)\n"
    )
    # The check the generator made, made again here on the whole patch.
    result = _emit_v6(tree, series, "--whole")
    assert result.exit_code == 0, result.output
    patch = work / "p.patch"
    patch.write_text(result.output)
    (work / "arch/arm64/kvm").mkdir(parents=True)
    (work / rel).write_text(original)
    subprocess.run(["git", "apply", str(patch)], cwd=work, check=True, capture_output=True)
    before, after = CFile(rel, original), CFile(rel, (work / rel).read_text())
    for name in FUNCTIONS:
        old = _flatten(before, before.function(name).child_by_field_name("body"))
        new = _flatten(after, after.function(name).child_by_field_name("body"))
        assert old == new, f"{name} differs:\n{old}\n{new}"
    # review recognises a --whole patch and traces its lines to the policy.
    review = run("review", str(patch), str(_baseline(series)), "--tree", str(tree))
    assert review.exit_code == 0, review.output
    added = [line for line in review.output.split("\n") if line.startswith("+")]
    assert added and all("# from " in line and f"{own}.fp:" in line for line in added)
    assert [line for line in result.output.split("\n") if line.startswith("diff --git")] == [
        f"diff --git a/{rel} b/{rel}"
    ]


def test_broken_template_is_caught_by_verify_with_the_compiler_error(
    kernel_6_1: Path, tmp_path: Path, monkeypatch
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    prims = templates / "v6.1" / "primitives.c.j2"
    text = prims.read_text()
    broken = "clear_thread_flag({{ flag }});\nfpdsl_undeclared_helper(vcpu);"
    assert "clear_thread_flag({{ flag }});" in text
    prims.write_text(text.replace("clear_thread_flag({{ flag }});", broken, 1))
    monkeypatch.setenv("FPDSL_TEMPLATES", str(templates))
    out = tmp_path / "broken.patch"
    result = _emit_v6(kernel_6_1, "6.1", "--verify", "-o", str(out))
    assert result.exit_code == 1, result.output
    assert "[FAIL] compile arch/arm64/kvm/fpsimd.o" in result.output
    assert "implicit declaration of function 'fpdsl_undeclared_helper'" in result.output
    assert "verification failed, nothing written" in result.output and not out.exists()
