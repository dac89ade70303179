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
# What each 6.x tree takes: its own code (kvm_v6_*), the seed's fix (d) on
# it, and on 6.12 the KVM code before the 2025 fix (v6.12.0 model).
EMITS_FOR_6 = {
    "6.1": {"kvm_v6_1", "softirq_giveback_v6_1"},
    "6.12": {"kvm_v6_12", "softirq_giveback_v6_12", "kvm_v6_12_0", "kvm_v6_12_0_no_prepare"},
}
PRE_FIX = {"kvm_v6_12_0", "kvm_v6_12_0_no_prepare"}
# Every other shipped policy is refused at its kernel line: a 6.x tree is
# one kernel model's (the 2018 policies run on v4.16/v4.18; kvm_v6_1_134 on
# v6.1.134, whose fpsimd_bind_state_to_cpu() 6.1.192 no longer has).
MODEL_V6 = {p for p in SHIPPED if shipped(p).kernel.startswith("v6")}


def _baseline(series: str) -> Path:
    return ROOT / "policies" / f"kvm_v{series.replace('.', '_')}.fp"


def _refusal(policy: str, series: str) -> str:
    return "kernel model; a v" + series + " tree is the v" + series + " model's"


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
        "[warn] compiler warnings: 1 new: " + HYP_MAIN_WARNING if policy in PRE_FIX else "[ok] compiler warnings: none",
        "verify-patch: ok",
    ):
        assert step in result.output, result.output
    patch = result.output[result.output.index("From 0000000000000000000000000000000000000000") :]
    out.write_text(patch)
    subprocess.run(["git", "apply", "--check", str(out)], cwd=tree, check=True, capture_output=True)
    assert ("  verdict: VIOLATED;" if policy in PRE_FIX else "  verdict: CLEAN\n") in patch


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


# The files the 2025 fix's KVM half touched in 6.12.y ("Unconditionally
# save+flush host FPSIMD/SVE/SME state", "Remove host FPSIMD saving for
# non-protected KVM", "Remove VHE host restore of CPACR_EL1.ZEN", "...SMEN").
FIX_FILES = {
    "arch/arm64/include/asm/kvm_host.h",
    "arch/arm64/kernel/fpsimd.c",
    "arch/arm64/kvm/arm.c",
    "arch/arm64/kvm/fpsimd.c",
    "arch/arm64/kvm/hyp/include/hyp/switch.h",
    "arch/arm64/kvm/hyp/nvhe/hyp-main.c",
    "arch/arm64/kvm/hyp/nvhe/switch.c",
    "arch/arm64/kvm/hyp/vhe/switch.c",
}


# The warning the reversal brings back (README: hyp-main.c includes
# hyp/switch.h only since 6.12.21, and sees the declaration alone).
HYP_MAIN_WARNING = (
    "arch/arm64/kvm/hyp/include/hyp/switch.h:409:13: warning: 'kvm_hyp_save_fpsimd_host' used but never defined"
)


def _code(lines: list[str]) -> list[str]:
    """Statement lines without comments and blank lines, whitespace folded."""
    out, in_comment = [], False
    for line in lines:
        text = line.strip()
        if in_comment or text.startswith("/*"):
            in_comment = "*/" not in text
            continue
        if text:
            out.append(" ".join(text.split()))
    return out


def test_the_pre_fix_policy_on_6_12_is_the_2025_fix_reversed(kernel_6_12: Path, tmp_path: Path) -> None:
    """kvm_v6_12_0 on Debian's 6.12: the patch applies, passes checkpatch,
    compiles (the hyp's nVHE and VHE objects too), touches exactly the files
    the fix touched, and brings back what the fix took away: the statements
    checked here are the fix's removed lines (checked by hand against the
    6.12.21 backport, README); and on the patched tree the policy has
    nothing left to emit."""
    policy = ROOT / "policies" / "kvm_v6_12_0.fp"
    result = run("emit-patch", str(policy), "--tree", str(kernel_6_12), *FIXED, "--verify")
    assert result.exit_code == 0, result.output
    for step in (
        "[ok] checkpatch: 0 errors, 0 warnings",
        "[ok] compile arch/arm64/kvm/hyp/nvhe/switch.nvhe.o",
        "[ok] compile arch/arm64/kvm/hyp/vhe/switch.o",
        "[ok] compile arch/arm64/kvm/hyp/nvhe/hyp-main.nvhe.o",
        "[warn] compiler warnings: 1 new: " + HYP_MAIN_WARNING + " (not fatal; --werror makes it so)",
        "verify-patch: ok",
    ):
        assert step in result.output, result.output
    patch = result.output[result.output.index("From 0000000000000000000000000000000000000000") :]
    (tmp_path / "fix-reversed.patch").write_text(patch)
    strict = run("verify-patch", str(tmp_path / "fix-reversed.patch"), "--tree", str(kernel_6_12), "--werror")
    assert strict.exit_code == 1, strict.output
    assert "[FAIL] compiler warnings: 1 new: " + HYP_MAIN_WARNING + "\n" in strict.output
    assert "      409 | static void kvm_hyp_save_fpsimd_host(struct kvm_vcpu *vcpu);" in strict.output
    assert "that model finds a counterexample (VIOLATED)" in " ".join(patch.split())  # on the v6.12 host too
    files = {line.split(" b/")[1] for line in patch.split("\n") if line.startswith("diff --git")}
    assert files == FIX_FILES
    lines = patch.split("\n")
    body = lines[next(i for i, t in enumerate(lines) if t.startswith("diff --git")) : lines.index("-- ")]
    added = _code([line[1:] for line in body if line.startswith("+") and not line.startswith("+++")])
    removed = _code([line[1:] for line in body if line.startswith("-") and not line.startswith("---")])
    for statement in (
        "fpsimd_kvm_prepare();",
        "void fpsimd_kvm_prepare(void)",
        "*host_data_ptr(fp_owner) = FP_STATE_HOST_OWNED;",
        "*host_data_ptr(fpsimd_state) = kern_hyp_va(&current->thread.uw.fpsimd_state);",
        "vcpu_clear_flag(vcpu, HOST_SVE_ENABLED);",
        "vcpu_clear_flag(vcpu, HOST_SME_ENABLED);",
        "#define HOST_SVE_ENABLED __vcpu_single_flag(sflags, BIT(0))",
        "#define HOST_SME_ENABLED __vcpu_single_flag(sflags, BIT(1))",
        "} else if (has_vhe() && system_supports_sve()) {",
        "if (has_vhe() && system_supports_sme()) {",
        "if (host_owns_fp_regs())",
        "static void kvm_hyp_save_fpsimd_host(struct kvm_vcpu *vcpu);",
        "**host_data_ptr(fpmr_ptr) = read_sysreg_s(SYS_FPMR);",
        "__fpsimd_restore_state(*host_data_ptr(fpsimd_state));",
        "u64 *fpmr_ptr;",
    ):
        assert statement in added, statement
    # What goes: the fixed load's save and unbind, the pKVM-only guard and
    # definition, the fields that replaced the unions; nothing else.
    assert sorted(set(removed)) == sorted(
        {
            "fpsimd_save_and_flush_cpu_state();",
            "*host_data_ptr(fp_owner) = FP_STATE_FREE;",
            "if (is_protected_kvm_enabled() && host_owns_fp_regs())",
            "struct cpu_sve_state *sve_state;",
            "u64 fpmr;",
            "__fpsimd_restore_state(host_data_ptr(host_ctxt.fp_regs));",
            "}",
            *_code(_switch_h_definition(kernel_6_12)),
        }
    )
    # On the patched tree the policy's code is there: nothing left to emit.
    work = tmp_path / "tree"
    for rel in [*FIX_FILES, "Makefile", "arch/arm64/include/asm/fpsimd.h"]:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kernel_6_12 / rel, work / rel)
    (tmp_path / "p.patch").write_text(patch)
    subprocess.run(["git", "apply", str(tmp_path / "p.patch")], cwd=work, check=True, capture_output=True)
    again = run("emit-patch", str(policy), "--tree", str(work), "--target", "v6.12", *FIXED, "--no-verify")
    assert again.exit_code == 0 and "nothing to emit" in again.output, again.output


def _switch_h_definition(tree: Path) -> list[str]:
    """The tree's pKVM-only kvm_hyp_save_fpsimd_host() in hyp/switch.h (the
    patch turns it back into a declaration)."""
    cf = CFile("switch.h", (tree / "arch/arm64/kvm/hyp/include/hyp/switch.h").read_text())
    node = cf.function("kvm_hyp_save_fpsimd_host")
    return cf.lines[node.start_point[0] : node.end_point[0] + 1]
