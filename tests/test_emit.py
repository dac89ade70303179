"""emit-patch against stand-in trees of the 2018 layouts: goldens, that the
patches apply, the seed's statement sequence, errors that write nothing,
review traceability, series, determinism."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, run
from helpers import policy as shipped
from standin import write_tree

POLICIES = sorted(p.stem for p in (ROOT / "policies").glob("*.fp"))
GOLDEN = Path(__file__).parent / "golden"
FIXED = ["--date", "2018-02-14T11:15:54+00:00", "--signoff", "Fp Dsl <fpdsl@example.org>"]
BASELINES = {"eager": "v4.16", "host_machinery": "v4.18"}
# Policies of the 6.x kernel models: refused for the 2018 layouts with a
# located error (test_a_6x_model_policy_is_refused_for_a_2018_layout).
MODEL_V6 = {p for p in POLICIES if shipped(p).kernel.startswith("v6")}


def emit(policy: str, tree: Path, *extra: str):
    return run("emit-patch", str(ROOT / "policies" / f"{policy}.fp"), "--tree", str(tree), *FIXED, *extra)


def tree_digest(tree: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(tree.rglob("*")):
        if p.is_file() and ".git" not in p.parts:
            h.update(str(p.relative_to(tree)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def v416(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "v4.16", "v4.16", git=True)


@pytest.fixture
def v418(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "v4.18", "v4.18", git=True)


def _check_applies(tree: Path, patch: Path) -> None:
    """git apply --check, and patch(1) mail by mail in a copy (a series in
    one mbox changes some files twice, which --dry-run cannot follow)."""
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=tree, check=True, capture_output=True)
    copy = tree.parent / f"{tree.name}.patch-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(tree, copy, ignore=shutil.ignore_patterns(".git"))
    mails = re.split(r"(?m)^(?=From [0-9a-f]{40} )", patch.read_text())
    for mail in (m for m in mails if "\ndiff --git " in m):
        subprocess.run(["patch", "-p1", "-s"], cwd=copy, input=mail, text=True, check=True, capture_output=True)
    shutil.rmtree(copy)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FPDSL_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden {path}: run with FPDSL_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{name} differs from its golden"


def _layout(policy: str) -> str:
    text = (ROOT / "policies" / f"{policy}.fp").read_text()
    if "\nkernel v4.18" in text:
        return "v4.18"
    base = re.search(r"^extends (\w+)", text, re.M)
    return _layout(base.group(1)) if base else "v4.16"


@pytest.mark.parametrize("policy", sorted(MODEL_V6))
def test_a_6x_model_policy_is_refused_for_a_2018_layout(policy: str, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "v4.16", "v4.16")
    out = tmp_path / "x.patch"
    result = emit(policy, tree, "-o", str(out))
    assert result.exit_code == 1, result.output
    assert re.search(r"\w+\.fp:\d+:\d+: error: \w+\(\) exists since v", result.output)
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize("policy", [p for p in POLICIES if p not in BASELINES and p not in MODEL_V6])
def test_policy_patch_matches_golden_and_applies(policy: str, tmp_path: Path) -> None:
    layout = _layout(policy)
    tree = write_tree(tmp_path / layout, layout, git=True)
    out = tmp_path / f"{policy}.patch"
    before = tree_digest(tree)
    result = emit(policy, tree, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert tree_digest(tree) == before, "emit-patch must not touch the tree without --apply"
    _check_applies(tree, out)
    _golden(f"{policy}.{layout}.patch", out.read_text())
    _parses_as_c(tree, out)


def _parses_as_c(tree: Path, patch: Path) -> None:
    """No 2018 tree to compile against: the patched files must at least be
    C that tree-sitter parses with no more error nodes than before (the
    stand-ins' kernel macros such as __hyp_text already give some)."""
    touched = sorted(set(re.findall(r"^\+\+\+ b/(\S+\.[ch])$", patch.read_text(), re.M)))
    assert touched
    before = {rel: _syntax_errors((tree / rel).read_bytes()) if (tree / rel).exists() else 0 for rel in touched}
    subprocess.run(["git", "apply", str(patch)], cwd=tree, check=True, capture_output=True)
    for rel in touched:
        assert _syntax_errors((tree / rel).read_bytes()) <= before[rel], f"{rel}: the patch adds a C syntax error"


def _syntax_errors(source: bytes) -> int:
    from fpdsl.emit.anchors import c_parser

    # Kernel attribute macros tree-sitter cannot know (gcc checks the real
    # trees, in test_emit_v416.py's kernel tests and by hand).
    for macro in (b"__hyp_text ", b" __always_unused"):
        source = source.replace(macro, b"")
    stack, count = [c_parser().parse(source).root_node], 0
    while stack:
        node = stack.pop()
        count += node.type == "ERROR" or node.is_missing
        stack.extend(node.children)
    return count


@pytest.mark.parametrize("policy", sorted(BASELINES))
def test_baseline_policy_emits_nothing_for_its_own_tree(policy: str, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "t", BASELINES[policy])
    out = tmp_path / "none.patch"
    result = emit(policy, tree, "-o", str(out))
    assert result.exit_code == 0
    assert "nothing to emit" in result.output and f"its baseline is {policy}" in result.output
    assert not out.exists()


def test_v416_policies_are_refused_for_v418_with_the_reason(v418: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.patch"
    result = emit("bh_disable_variant", v418, "-o", str(out))
    assert result.exit_code == 1
    assert "lazy_until_put.fp:18:9: error: sve_flush_cpu_state() exists until v4.16" in result.output
    assert not out.exists()


def test_emission_is_deterministic(v416: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.patch", tmp_path / "b.patch"
    assert emit("bh_disable_variant", v416, "-o", str(a)).exit_code == 0
    assert emit("bh_disable_variant", v416, "-o", str(b)).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().startswith("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n")


def _statements(lines: list[str]) -> list[str]:
    """C statements of a block of lines: comments and blank lines dropped,
    whitespace collapsed."""
    text = "\n".join(lines)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return [" ".join(line.split()) for line in text.split("\n") if line.strip()]


def test_bh_disable_variant_has_the_seed_statement_sequence(v416: Path, tmp_path: Path) -> None:
    out = tmp_path / "bh.patch"
    assert emit("bh_disable_variant", v416, "--apply", "-o", str(out)).exit_code == 0
    arm = (v416 / "virt/kvm/arm/arm.c").read_text().split("\n")
    # The run loop calls the arm64 functions on either side of its own
    # local_irq_enable(), which stays the only one after guest entry.
    irq_on = next(i for i, line in enumerate(arm) if "kvm_arch_vcpu_exit_fp(vcpu);" in line) - 1
    assert arm[irq_on] == "\t\tlocal_irq_enable();"
    assert "\t\tkvm_arch_vcpu_ctxsync_fp(vcpu);" in arm[irq_on - 8 : irq_on]
    assert sum("local_irq_enable();" in line for line in arm) == 2
    fp = (v416 / "arch/arm64/kvm/guest.c").read_text()
    before = fp[fp.index("void kvm_arch_vcpu_ctxsync_fp") :].split("\n}\n")[0].split("\n")
    after = fp[fp.index("void kvm_arch_vcpu_exit_fp") :].split("\n}\n")[0].split("\n")
    # The seed's diff: local_bh_disable() just before the run loop's own
    # local_irq_enable(), then the pending-softirq check with the guest's
    # FPSIMD untrapped, the save and the trap re-arm, then local_bh_enable().
    assert _statements(before[2:]) == ["local_bh_disable();"]
    assert _statements(after[2:]) == [
        "if (local_softirq_pending() && vcpu->arch.fp_untrapped) {",
        "fpsimd_save_state(ctxt_fpsimd(&vcpu->arch.ctxt));",
        "vcpu->arch.fp_untrapped = false;",
        "}",
        "local_bh_enable();",
    ]
    text = "\n".join(after)
    for words in ("If we exited due to one or mode pending interrupts", "/* save vcpu FPSIMD context */"):
        assert words in text
    assert "/* enable FPSIMD trap for guest */" in text


def test_apply_writes_what_the_patch_says(v416: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.patch"
    assert emit("neon_busy", v416, "-o", str(out)).exit_code == 0
    subprocess.run(["git", "apply", str(out)], cwd=v416, check=True)
    by_git = tree_digest(v416)
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=v416, check=True)
    assert emit("neon_busy", v416, "--apply", "-o", str(tmp_path / "again.patch")).exit_code == 0
    assert tree_digest(v416) == by_git


def test_series_splits_fpsimd_interface_from_kvm(v416: Path, tmp_path: Path) -> None:
    out = tmp_path / "series"
    assert emit("neon_busy", v416, "--series", str(out)).exit_code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names[0] == "0000-cover-letter.patch" and len(names) == 4
    first, second, third = ((out / n).read_text() for n in names[1:])
    assert "Subject: [PATCH 1/3] arm64: fpsimd: " in first and "arch/arm64/kernel/fpsimd.c" in first
    assert "virt/kvm/arm/arm.c" not in first
    assert "Subject: [PATCH 2/3] KVM: arm64: Convert lazy FPSIMD context switch trap to C" in second
    assert "Subject: [PATCH 3/3] KVM: arm64: " in third and "virt/kvm/arm/arm.c" in third
    assert "Subject: [PATCH 0/3]" in (out / names[0]).read_text()
    for name in names[1:3]:
        subprocess.run(["git", "apply", str(out / name)], cwd=v416, check=True)
    subprocess.run(["git", "apply", "--check", str(out / names[3])], cwd=v416, check=True)


def test_commit_message_says_what_was_verified(v416: Path) -> None:
    text = emit("neon_busy", v416).output
    policy_mail = text.split("\nFrom 0000000000000000000000000000000000000000 ")[-1]
    message, notes = policy_mail.split("\n---\n", 1)
    # The log says it in one sentence; the tables are below `---`, which git am drops.
    assert (
        "fpdsl's reference model of the v4.16 kernel, exploring every interleaving of 1 CPU, 1 competing task, "
        "1 KVM_RUN call, 2 exits per call, finds no lost or leaked FPSIMD state and no broken kernel rule."
    ) in " ".join(message.split())
    assert notes.startswith("fpdsl verification: every interleaving of 1 CPU, 1 competing task, 1\nKVM_RUN call")
    assert re.search(r"  lost-state      holds\n  leaked-state    holds\n", notes) and "  verdict: CLEAN\n" in notes
    assert "against the tree's eager policy:" in " ".join(notes.split())
    assert re.search(r"softirq NEON fallbacks +\d+\.\d{3} +\d+\.\d{3}\n", notes)  # this patch, eager
    assert "holds" not in message and "NEON fallbacks" not in message
    assert "Signed-off-by: Fp Dsl <fpdsl@example.org>\n---\nfpdsl verification:" in text
    # a description too long for a subject line: the policy's name says it
    assert "Subject: [PATCH 3/3] KVM: arm64: Switch FPSIMD context handling to neon_busy\n" in text
    lazy = emit("lazy_until_put", v416).output
    assert "Subject: [RFC PATCH 2/2] KVM: arm64: Guest FPSIMD stays live across exits until vcpu_put\n" in lazy
    assert "  verdict: VIOLATED; first counterexample, lost-state:" in lazy
    assert all(len(line) <= 75 for line in lazy.split("\n---\n")[0].split("\n")[5:])
    lazy_notes = lazy.split("Signed-off-by: Fp Dsl <fpdsl@example.org>\n---\n")[-1].split("\n\n arch/")[0]
    assert lazy_notes.startswith("fpdsl verification") and all(len(line) <= 75 for line in lazy_notes.split("\n"))


def test_review_maps_every_added_line_to_its_policy_line(v416: Path, tmp_path: Path) -> None:
    out = tmp_path / "bh.patch"
    emit("bh_disable_variant", v416, "-o", str(out))
    policy = str(ROOT / "policies" / "bh_disable_variant.fp")
    result = run("review", str(out), policy, "--tree", str(v416))
    assert result.exit_code == 0, result.output
    added = [line for line in result.output.split("\n") if line.startswith("+")]
    assert added and all("  # from " in line for line in added)
    bh = next(line for line in added if "local_bh_disable();" in line)
    assert bh.endswith("bh_disable_variant.fp:14 (local_bh_disable())")
    saves = [line for line in added if "fpsimd_save_state(ctxt_fpsimd(&vcpu->arch.ctxt));" in line]
    assert any("bh_disable_variant.fp:24" in line for line in saves)
    assert any("lazy_until_put.fp:41" in line for line in saves)
    # Removed lines go back to the baseline hook that produced them, and
    # the conversion's to its template.
    removed = [line for line in result.output.split("\n") if line.startswith("-")]
    assert removed and all("  # removed: " in line for line in removed)
    assert any("kvm_fpsimd_flush_cpu_state();" in line and "eager.fp:13 (hook enter)" in line for line in removed)
    assert any("bool fp_enabled;" in line and "eager.fp:31 (hook exit)" in line for line in removed)
    assert any(" bl      __fpsimd_save_state" in line and "templates/v4.16/trap_to_c.j2" in line for line in removed)
    # A patch that is not what the generator emits is refused.
    out.write_text(out.read_text().replace("local_bh_enable();", "local_bh_enable(); /* edited */"))
    bad = run("review", str(out), policy, "--tree", str(v416))
    assert bad.exit_code == 1 and "not the patch fpdsl emits" in bad.output


# -- errors: clear message, non-zero exit, nothing written --------------------


def _fails_writing_nothing(result, tree: Path, before: str, out: Path, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    for w in words:
        assert w in result.output, result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert tree_digest(tree) == before


def test_missing_anchor_is_an_error_naming_file_function_statement(v416: Path, tmp_path: Path) -> None:
    arm = v416 / "virt/kvm/arm/arm.c"
    arm.write_text(arm.read_text().replace("\t\tguest_enter_irqoff();\n", ""))
    out, before = tmp_path / "x.patch", tree_digest(v416)
    result = emit("lazy_until_put", v416, "-o", str(out))
    _fails_writing_nothing(
        result, v416, before, out, 1, "virt/kvm/arm/arm.c", "kvm_arch_vcpu_ioctl_run()", "guest_enter_irqoff();"
    )


def test_duplicated_anchor_is_an_error(v416: Path, tmp_path: Path) -> None:
    sw = v416 / "arch/arm64/kvm/hyp/switch.c"
    text = sw.read_text()
    sw.write_text(text + "\n#ifdef SOMETHING_ELSE\n" + text[text.index("int __hyp_text __kvm_vcpu_run") :])
    out, before = tmp_path / "x.patch", tree_digest(v416)
    result = emit("lazy_until_put", v416, "-o", str(out))
    _fails_writing_nothing(result, v416, before, out, 1, "__kvm_vcpu_run()", "ambiguous", "found 2 times")


def test_not_a_kernel_tree(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    out = tmp_path / "x.patch"
    result = emit("lazy_until_put", tmp_path / "src", "-o", str(out))
    assert result.exit_code == 2 and "not a kernel tree" in result.output and not out.exists()
    result = emit("lazy_until_put", tmp_path / "nowhere", "-o", str(out))
    assert result.exit_code == 2 and "not a directory" in result.output


def test_unreadable_file_in_the_tree(v416: Path, tmp_path: Path) -> None:
    (v416 / "virt/kvm/arm/arm.c").write_bytes(b"\xff\xfe int x;\n")
    out, before = tmp_path / "x.patch", tree_digest(v416)
    _fails_writing_nothing(emit("lazy_until_put", v416, "-o", str(out)), v416, before, out, 2, "not UTF-8")
    shutil.rmtree(v416 / "arch/arm64/kvm/hyp")
    before = tree_digest(v416)
    (v416 / "virt/kvm/arm/arm.c").write_text("int x;\n")
    before = tree_digest(v416)
    result = emit("lazy_until_put", v416, "-o", str(out))
    _fails_writing_nothing(result, v416, before, out, 1, "cannot find")


def test_unknown_target_and_layout_mismatch(v416: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.patch"
    result = emit("lazy_until_put", v416, "--target", "v5.0", "-o", str(out))
    assert result.exit_code == 2 and "unknown target 'v5.0'" in result.output and not out.exists()
    (v416 / "Makefile").write_text("VERSION = 4\nPATCHLEVEL = 18\n")
    result = emit("lazy_until_put", v416, "-o", str(out))
    assert result.exit_code == 2 and "arch/arm64/kvm/fpsimd.c is missing" in result.output
    (v416 / "Makefile").write_text("VERSION = 5\nPATCHLEVEL = 4\n")
    result = emit("lazy_until_put", v416, "-o", str(out))
    assert result.exit_code == 2 and "kernel 5.4 has no fpdsl target" in result.output


# -- the v4.18 layout, with variants of the merged design ---------------------

V418_VARIANT = """policy hm_softirq_giveback "Host machinery, FPSIMD given back at exit when a softirq is pending"
kernel v4.18
extends host_machinery

hook exit {
    local_bh_disable()
    if FP_ENABLED {
        fpsimd_bind_state_to_cpu(guest)
        clear_thread_flag(TIF_FOREIGN_FPSTATE)
    }
    local_irq_enable()
    if local_softirq_pending() && !fp_trap_armed() {
        ## hand the registers back before the softirq runs
        fpsimd_save()
        fpsimd_flush_cpu_state()
        FP_ENABLED = false
        arm_fp_trap()
    }
    local_bh_enable()
}

hook load {
    FP_ENABLED = false
    FP_HOST = true
    set_kernel_neon_busy()
}

hook put {
    local_irq_save()
    if FP_ENABLED {
        fpsimd_save()
        fpsimd_flush_cpu_state()
    }
    local_irq_restore()
    clear_kernel_neon_busy()
}
"""


def test_v418_variant_replaces_the_merged_sites(v418: Path, tmp_path: Path) -> None:
    shutil.copy(ROOT / "policies" / "host_machinery.fp", tmp_path / "host_machinery.fp")
    policy = tmp_path / "hm_softirq_giveback.fp"
    policy.write_text(V418_VARIANT)
    out = tmp_path / "v418.patch"
    result = run("emit-patch", str(policy), "--tree", str(v418), *FIXED, "--no-verify", "-o", str(out))
    assert result.exit_code == 0, result.output
    _check_applies(v418, out)
    text = out.read_text()
    # The merged design's functions stay, and are still called; the
    # policy's code goes into their bodies.
    for kept in ("kvm_arch_vcpu_load_fp(vcpu);", "kvm_arch_vcpu_put_fp(vcpu);", "kvm_arch_vcpu_ctxsync_fp(vcpu);"):
        assert f"-\t{kept}" not in text and f"-\t\t{kept}" not in text
    assert "+\tfpsimd_set_kernel_neon_busy();\n" in text and "+\tfpsimd_clear_kernel_neon_busy();\n" in text
    # The exit hook drops the baseline's TIF_SVE clear, a baseline line.
    assert "-\t\tclear_thread_flag(TIF_SVE);\n" in text
    # Code after the run loop's local_irq_enable() is an arm64 function.
    assert "+\t\tkvm_arch_vcpu_exit_fp(vcpu);\n" in text
    assert "+void kvm_arch_vcpu_exit_fp(struct kvm_vcpu *vcpu)\n" in text
    # The trap wiring: update_fp_enabled() now asks the policy's field.
    assert "+\treturn vcpu->arch.fp_untrapped;\n" in text
    assert "+\tvcpu->arch.fp_untrapped = true;\n" in text
    assert "+extern void fpsimd_set_kernel_neon_busy(void);\n" in text
    _golden("hm_softirq_giveback.v4.18.patch", text)


SOFTIRQ_VARIANT = """policy softirq_giveback "Lazy until put, a softirq that wants NEON gets the registers back"
extends lazy_until_put

hook softirq {
    ## The softirq wants NEON: save the guest's registers and trap again.
    if GUEST_VFP_LOADED {
        fpsimd_save_state(guest)
        fpsimd_load_state(host)
        GUEST_VFP_LOADED = false
    }
}
"""


def test_softirq_hook_goes_into_kernel_neon_begin(v416: Path, tmp_path: Path) -> None:
    for base in ("lazy_until_put", "eager"):
        shutil.copy(ROOT / "policies" / f"{base}.fp", tmp_path / f"{base}.fp")
    policy = tmp_path / "softirq_giveback.fp"
    policy.write_text(SOFTIRQ_VARIANT)
    out = tmp_path / "softirq.patch"
    result = run("emit-patch", str(policy), "--tree", str(v416), *FIXED, "-o", str(out))
    assert result.exit_code == 0, result.output
    _check_applies(v416, out)
    text = out.read_text()
    assert (
        " void kernel_neon_begin(void)\n {\n+#ifdef CONFIG_KVM\n"
        "+\tif (in_serving_softirq() && kvm_arm_get_running_vcpu()) {\n"
        "+\t\tstruct kvm_vcpu *vcpu = kvm_arm_get_running_vcpu();\n"
    ) in text
    assert "+\t\tif (vcpu->arch.guest_vfp_loaded) {\n" in text
    assert "  verdict: CLEAN\n" in text
    _golden("softirq_giveback.v4.16.patch", text)


JOIN_POLICY = """\
policy joins "statement runs that 6.x writes as one call"
kernel v4.18

hook load {
    local_irq_save()
    fpsimd_save()
    fpsimd_flush_cpu_state()
    local_irq_restore()
    fpsimd_save()
    fpsimd_flush_cpu_state()
}

hook put {
    fpsimd_save()
    ## a comment keeps the next statement apart
    fpsimd_flush_cpu_state()
}
"""


@pytest.mark.parametrize("target", ["v6.1", "v6.12", "v4.18"])
def test_save_and_flush_runs_join_into_the_targets_call(target: str, tmp_path: Path) -> None:
    """6.x's fpsimd_save_and_flush_cpu_state() is local_irq_save(), fpsimd_save(),
    fpsimd_flush_cpu_state(), local_irq_restore(): the four-statement run and
    the bare pair become that call, traced to the run's first line. A `##`
    comment inside a run keeps it apart, and 6.x has no fpsimd_save() of its
    own to call. v4.18 has no joined call: every statement is written."""
    from fpdsl.diagnostics import FpdslError
    from fpdsl.emit.codegen import Lowering
    from fpdsl.lang.checker import check_or_raise
    from fpdsl.lang.loader import load_policy

    path = tmp_path / "joins.fp"
    path.write_text(JOIN_POLICY)
    policy = check_or_raise(load_policy(path))
    lower = Lowering(target, str(path))

    def render(name: str) -> list[tuple[str, int]]:
        hook = policy.hooks[name]
        lines = lower.body(hook, hook.body, "host", "\t", policy.policy.source)
        return [(line.text, line.origin.line) for line in lines]

    if target == "v4.18":
        assert [t for t, _ in render("load")] == [
            "\tlocal_irq_save(flags);",
            "\tfpsimd_save();",
            "\tfpsimd_flush_cpu_state();",
            "\tlocal_irq_restore(flags);",
            "\tfpsimd_save();",
            "\tfpsimd_flush_cpu_state();",
        ]
        return
    assert render("load") == [("\tfpsimd_save_and_flush_cpu_state();", 5), ("\tfpsimd_save_and_flush_cpu_state();", 9)]
    with pytest.raises(FpdslError) as caught:
        render("put")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.span.line == 14
    assert diagnostic.message.startswith(f"fpsimd_save() cannot be emitted for target {target}")


def test_same_code_ignores_comments_layout_and_single_statement_braces() -> None:
    from fpdsl.emit.ccode import same_code

    kernel = [
        "\tlocal_irq_save(flags);",
        "",
        "\tif (guest_owns_fp_regs()) {",
        "\t\t/* Flush (save and invalidate) the fpsimd/sve state. */",
        "\t\tfpsimd_save_and_flush_cpu_state();",
        "\t}",
        "",
        "\tlocal_irq_restore(flags);",
    ]
    policy = [
        "\t/* kvm_arch_vcpu_put_fp() */",
        "\tlocal_irq_save(flags);",
        "\tif (guest_owns_fp_regs())",
        "\t\tfpsimd_save_and_flush_cpu_state();",
        "\tlocal_irq_restore(flags);",
    ]
    assert same_code(kernel, policy)
    # A different call, a statement moved out of the if, an extra statement: not the same.
    assert not same_code(kernel, [t.replace("fpsimd_save_and_flush_cpu_state", "fpsimd_save") for t in policy])
    assert not same_code(["if (a) {", "x();", "y();", "}"], ["if (a)", "x();", "y();"])
    assert not same_code(kernel, [*policy, "\tlocal_bh_enable();"])
    # Braces that decide which if an else belongs to are not dropped.
    assert not same_code(["if (a) {", "if (b) x();", "} else y();"], ["if (a) if (b) x(); else y();"])
    # Text that is not a run of statements is compared token by token.
    assert same_code(["} else {  /* x */"], ["}", "else {"])
    assert not same_code(["} else {"], ["} else if (a) {"])


def test_hunks_show_only_the_lines_a_replacement_changes() -> None:
    from fpdsl.emit.edits import Edit, Line, Origin, apply_edits

    why = Origin("p.fp", 3, "hook exit")
    old = "void f(void)\n{\n\ta();\n\t/* the tree's own words */\n\tb();\n\n\tc();\n}\n"
    new = ["\ta();", "\t/* the policy's words */", "\tb();", "\tlocal_bh_enable();", "\tc();"]
    edit = Edit("f.c", 2, 7, [Line(t, Origin("p.fp", 10 + i, "x")) for i, t in enumerate(new)], why)
    change = apply_edits("f.c", old, [edit], context=0)
    # Only the blank line the call takes the place of, and the call with its
    # policy line; the tree's comment stays: prose for prose is not a change.
    rows = [row for h in change.hunks for row in h.rows]
    assert rows == [("-", "", why), ("+", "\tlocal_bh_enable();", Origin("p.fp", 13, "x"))]
    assert change.new_text == old.replace("\n\n\tc", "\n\tlocal_bh_enable();\n\tc")
    # An edit that changes comments only is left out, unless asked for.
    prose = Edit("f.c", 3, 4, [Line("\t/* the policy's words */", None)], why)
    assert apply_edits("f.c", old, [prose]).hunks == []
    kept = apply_edits("f.c", old, [prose], keep_same=True)
    assert [r[0] for h in kept.hunks for r in h.rows if r[0] != " "] == []  # prose for prose: still the tree's


def test_golden_patches_keep_2018_checkpatch_line_rules() -> None:
    """checkpatch of 2018 warns past 80 columns and on trailing whitespace;
    no line a golden 2018 patch adds does either (the 6.x patches are run
    through the real checkpatch.pl in test_emit_kernel.py)."""
    goldens = sorted(GOLDEN.glob("*.v4.1[68].patch"))
    assert len(goldens) >= 9
    for path in goldens:
        for number, line in enumerate(path.read_text().split("\n"), 1):
            if line.startswith("+") and not line.startswith("+++"):
                added = line[1:]
                assert len(added.expandtabs(8)) <= 80, f"{path.name}:{number}: over 80 columns"
                assert added == added.rstrip(), f"{path.name}:{number}: trailing whitespace"


def test_long_statements_break_kernel_style() -> None:
    from fpdsl.emit.codegen import _fit

    cond = "\t\tif (local_softirq_pending() && (vcpu->arch.flags & KVM_ARM64_FP_ENABLED)) {"
    assert _fit(cond, 80) == [
        "\t\tif (local_softirq_pending() &&",
        "\t\t    (vcpu->arch.flags & KVM_ARM64_FP_ENABLED)) {",
    ]
    assert _fit(cond, 100) == [cond]
    call = "\t__fpsimd_save_state(&kern_hyp_va(vcpu->arch.host_cpu_context)->gp_regs.fp_regs);"
    # One argument: break after '(', two tabs in if that fits, else one.
    assert _fit(call, 80) == [
        "\t__fpsimd_save_state(",
        "\t\t&kern_hyp_va(vcpu->arch.host_cpu_context)->gp_regs.fp_regs);",
    ]
    bind = "\t\t\tfpsimd_bind_state_to_cpu(&vcpu->arch.ctxt.gp_regs.fp_regs);"
    assert _fit(bind, 80) == ["\t\t\tfpsimd_bind_state_to_cpu(", "\t\t\t\t\t&vcpu->arch.ctxt.gp_regs.fp_regs);"]
    # Arguments fill each line, continuations under the first one.
    args = "\tfoo(first_argument_is_long, second_argument_is_long, third_argument_is_long_too);"
    assert _fit(args, 80) == [
        "\tfoo(first_argument_is_long, second_argument_is_long,",
        "\t    third_argument_is_long_too);",
    ]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("v6.1", "kernel_neon_busy became fpsimd_context_busy, the host's own claim on the registers"),
        ("v6.12", "kernel_neon_busy is gone in 6.12: may_use_simd() no longer tests any busy flag"),
    ],
)
def test_kernel_neon_busy_is_refused_for_6x_with_the_reason(target: str, reason: str, tmp_path: Path) -> None:
    from fpdsl.diagnostics import FpdslError
    from fpdsl.emit.codegen import Lowering
    from fpdsl.lang.checker import check_or_raise
    from fpdsl.lang.loader import load_policy

    path = tmp_path / "busy.fp"
    path.write_text(
        'policy busy "kernel_neon_busy from load to put"\nkernel v4.18\n\nhook load {\n    set_kernel_neon_busy()\n}\n'
    )
    policy = check_or_raise(load_policy(path))
    hook = policy.hooks["load"]
    with pytest.raises(FpdslError) as caught:
        Lowering(target, str(path)).body(hook, hook.body, "host", "\t", policy.policy.source)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.span.line == 5
    assert diagnostic.message.startswith(f"set_kernel_neon_busy() cannot be emitted for target {target}: ")
    assert reason in diagnostic.message


def test_emitting_a_violated_policy_warns_but_writes(v416: Path, tmp_path: Path) -> None:
    out = tmp_path / "lazy.patch"
    result = emit("lazy_until_put", v416, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("warning: lazy_until_put is VIOLATED at 1 CPU, 1 competing task,")
    assert "lost-state: the guest reads K#2 from the FPSIMD registers" in result.output
    assert "  verdict: VIOLATED;" in out.read_text()
    clean = emit("neon_busy", v416, "-o", str(tmp_path / "busy.patch"))
    assert clean.exit_code == 0 and clean.output == ""
