"""emit-patch for the v4.15-v4.17 layouts (targets v4.16, v4.17) against
the stand-in trees: the series (conversion of the assembly trap to C, the
arm64 functions arm.c calls), 4.17's split run, the rule that only the
baseline's code may be removed, mbox output."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, run
from standin import write_tree
from test_emit import FIXED, _check_applies, _golden, emit, tree_digest

LAZY_FAMILY = ["bh_disable_variant", "lazy_until_put", "neon_begin_in_load", "neon_busy", "no_softirq_no_preempt"]


@pytest.fixture
def v417(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "v4.17", "v4.17", git=True)


@pytest.mark.parametrize("policy", LAZY_FAMILY)
def test_v417_series_matches_golden_and_applies(policy: str, v417: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{policy}.mbox"
    result = emit(policy, v417, "-o", str(out))
    assert result.exit_code == 0, result.output
    _check_applies(v417, out)
    _golden(f"{policy}.v4.17.patch", out.read_text())


def test_v417_is_detected_and_both_runs_lose_the_eager_save(v417: Path, tmp_path: Path) -> None:
    out = tmp_path / "lazy.mbox"
    assert emit("lazy_until_put", v417, "--apply", "-o", str(out)).exit_code == 0
    text = out.read_text()
    assert text.count("\nFrom 0000000000000000000000000000000000000000 ") == 1  # two mails, no cover letter
    # lazy_until_put is VIOLATED: the series is posted as an RFC
    assert "Subject: [RFC PATCH 1/2] KVM: arm64: Convert lazy FPSIMD context switch trap to C" in text
    assert "Subject: [RFC PATCH 2/2] KVM: arm64: Guest FPSIMD stays live across exits until vcpu_put" in text
    switch = (v417 / "arch/arm64/kvm/hyp/switch.c").read_text()
    # Each run keeps its AArch32 FPEXC32_EL2 save, and nothing else of the block.
    assert switch.count("\tif (fp_enabled)\n\t\t__fpsimd_save_fpexc32(vcpu);\n") == 2
    assert "__fpsimd_save_state(&guest_ctxt" not in switch
    # 4.17's host API: fpsimd_save_state() takes struct user_fpsimd_state.
    fp = (v417 / "arch/arm64/kvm/guest.c").read_text()
    assert "static struct user_fpsimd_state *\nctxt_fpsimd(struct kvm_cpu_context *ctxt)" in fp


def test_assembly_trap_becomes_a_call_into_c(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "v4.16", "v4.16", git=True)
    out = tmp_path / "series"
    assert emit("lazy_until_put", tree, "--series", str(out)).exit_code == 0
    conversion = next(out.glob("0001-*.patch")).read_text()
    assert "+\tbl\t__hyp_switch_fpsimd\n" in conversion
    assert "+\tstp\tx18, lr, [sp, #128]\n" in conversion and "+\tldp\tx2, x3, [sp], #160\n" in conversion
    assert "+void __hyp_text __hyp_switch_fpsimd(u64 esr __always_unused,\n" in conversion
    assert "+\t\twrite_sysreg(vcpu->arch.ctxt.sys_regs[FPEXC32_EL2],\n" in conversion
    assert "virt/kvm/arm/arm.c" not in conversion
    kvm = next(out.glob("0002-*.patch")).read_text()
    # The policy's trap hook fills the C handler; its FPEXC32_EL2 part stays.
    assert "+\tvcpu->arch.guest_vfp_loaded = true;\n" in kvm
    assert " \t/* An AArch32 guest's FPEXC32_EL2 comes back with its registers */\n \tif (!(read_sysreg" in kvm
    # Arm64 code stays out of the shared arm.c: calls only, stubs for arm.
    arm_c = kvm[kvm.index("diff --git a/virt/kvm/arm/arm.c") :]
    added = [line[1:].strip() for line in arm_c.split("\n") if line.startswith("+") and not line.startswith("+++")]
    assert added == ["kvm_arch_vcpu_put_fp(vcpu);", "kvm_arch_vcpu_ctxflush_fp(vcpu);"]
    assert "+static inline void kvm_arch_vcpu_put_fp(struct kvm_vcpu *vcpu) {}\n" in kvm
    # The arm64 functions go at the end of guest.c: no new file, no Makefile
    # line (checkpatch warns on a new file unless MAINTAINERS changes too).
    assert "new file mode" not in kvm and "/dev/null" not in kvm and "kvm/Makefile" not in kvm
    guest_c = kvm[kvm.index("diff --git a/arch/arm64/kvm/guest.c") :].split("\ndiff --git")[0]
    assert ' #include <asm/kvm_coproc.h>\n+#include <asm/fpsimd.h>\n \n #include "trace.h"\n' in guest_c
    assert "+static struct fpsimd_state *ctxt_fpsimd(struct kvm_cpu_context *ctxt)\n" in guest_c
    assert "+/* Called at the start of kvm_arch_vcpu_put(), preemption disabled. */\n" in guest_c
    assert not [line for line in guest_c.split("\n") if line.startswith("-") and not line.startswith("---")]
    assert "appended to arch/arm64/kvm/guest.c" in kvm and "no new file" in kvm


def test_a_name_guest_c_already_has_is_an_error(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "v4.16", "v4.16", git=True)
    guest = tree / "arch/arm64/kvm/guest.c"
    guest.write_text(guest.read_text() + "\nstatic int ctxt_fpsimd;\n")
    out, before = tmp_path / "x.patch", tree_digest(tree)
    result = emit("lazy_until_put", tree, "-o", str(out))
    assert result.exit_code == 1, result.output
    assert "arch/arm64/kvm/guest.c: already has ctxt_fpsimd" in result.output and "Traceback" not in result.output
    assert not out.exists() and tree_digest(tree) == before


def _converted_tree(tmp_path: Path) -> Path:
    """A v4.16 stand-in with the series' first patch (the C trap handler) applied."""
    tree = write_tree(tmp_path / "v4.16", "v4.16", git=True)
    out = tmp_path / "s"
    assert emit("lazy_until_put", tree, "--series", str(out)).exit_code == 0
    subprocess.run(["git", "apply", str(next(out.glob("0001-*.patch")))], cwd=tree, check=True)
    return tree


def test_a_trap_handler_line_the_model_does_not_know_stays(tmp_path: Path) -> None:
    """A tree whose C trap handler does more than the eager baseline's: the
    policy's trap hook changes what it changes and the vendor's line stays."""
    tree = _converted_tree(tmp_path)
    sw = tree / "arch/arm64/kvm/hyp/switch.c"
    vendor = "\tisb();\n\tvcpu->arch.vendor_fp_count++;\n\thost_ctxt"
    sw.write_text(sw.read_text().replace("\tisb();\n\n\thost_ctxt", vendor))
    target = tmp_path / "x.patch"
    assert emit("lazy_until_put", tree, "-o", str(target)).exit_code == 0
    patch = target.read_text()
    handler = patch[patch.index("__hyp_switch_fpsimd(u64") :]
    assert "-\tvcpu->arch.vendor_fp_count++;" not in patch
    assert "+\tvcpu->arch.fp_untrapped = true;\n \tvcpu->arch.vendor_fp_count++;\n" in handler
    assert "+\tvcpu->arch.guest_vfp_loaded = true;" in handler
    subprocess.run(["git", "apply", "--check", str(target)], cwd=tree, check=True)


TRAP_WITHOUT_HOST_SAVE = """policy trap_no_host_save "The host registers are saved at load, not in the trap"
kernel v4.16
extends lazy_until_put

hook load {
    fpsimd_save_state(host)
}

hook trap {
    disarm_fp_trap()
    fpsimd_load_state(guest)
    GUEST_VFP_LOADED = true
}
"""


def test_removing_code_the_model_does_not_know_is_an_error(tmp_path: Path) -> None:
    """The policy drops the handler's host save; the vendor's line sits among
    the lines that change would remove: refused, nothing written."""
    tree = _converted_tree(tmp_path)
    sw = tree / "arch/arm64/kvm/hyp/switch.c"
    text = sw.read_text()
    save = "\t__fpsimd_save_state(&host_ctxt->gp_regs.fp_regs);\n"
    sw.write_text(text.replace(save, "\tvcpu->arch.vendor_fp_count++;\n" + save))
    policy = tmp_path / "trap_no_host_save.fp"
    policy.write_text(TRAP_WITHOUT_HOST_SAVE)
    target, before = tmp_path / "x.patch", tree_digest(tree)
    result = run("emit-patch", str(policy), "--tree", str(tree), "-o", str(target))
    assert result.exit_code == 1, result.output
    assert re.search(r"arch/arm64/kvm/hyp/switch\.c:\d+: 'vcpu->arch\.vendor_fp_count\+\+;' is not code", result.output)
    assert "nothing was written" in result.output and "Traceback" not in result.output
    assert not target.exists() and tree_digest(tree) == before


def test_a_trap_hook_without_the_host_save_drops_the_handlers_local(tmp_path: Path) -> None:
    tree = _converted_tree(tmp_path)
    policy = tmp_path / "trap_no_host_save.fp"
    policy.write_text(TRAP_WITHOUT_HOST_SAVE)
    target = tmp_path / "x.patch"
    result = run("emit-patch", str(policy), "--tree", str(tree), "-o", str(target))
    assert result.exit_code == 0, result.output
    handler = target.read_text().split("__hyp_switch_fpsimd(u64", 1)[1].split("__kvm_vcpu_run(", 1)[0]
    removed = [line for line in handler.split("\n") if line.startswith("-")]
    assert removed == [
        "-\tkvm_cpu_context_t *host_ctxt;",
        "-",
        "-\thost_ctxt = kern_hyp_va(vcpu->arch.host_cpu_context);",
        "-\t__fpsimd_save_state(&host_ctxt->gp_regs.fp_regs);",
    ], handler
    subprocess.run(["git", "apply", "--check", str(target)], cwd=tree, check=True)


def test_review_reads_an_mbox_and_names_the_conversion(v417: Path, tmp_path: Path) -> None:
    out = tmp_path / "bh.mbox"
    assert emit("bh_disable_variant", v417, "-o", str(out)).exit_code == 0
    policy = str(ROOT / "policies" / "bh_disable_variant.fp")
    result = run("review", str(out), policy, "--tree", str(v417))
    assert result.exit_code == 0, result.output
    assert "##### KVM: arm64: Convert lazy FPSIMD context switch trap to C (templates/v4.16/trap_to_c.j2)" in (
        result.output
    )
    lines = result.output.split("\n")
    rows = [line for line in lines if line[:1] in ("+", "-") and not line.startswith(("+++", "---"))]
    assert rows and all(("  # from " in r) if r[0] == "+" else ("  # removed: " in r) for r in rows)
    assert any("__fpsimd_save_fpexc32" not in r and "eager.fp:31 (hook exit)" in r for r in rows)


@pytest.mark.parametrize("layout", ["v4.16", "v4.17"])
def test_eager_has_nothing_to_emit_and_v418_policies_are_refused(layout: str, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / layout, layout)
    result = emit("eager", tree, "-o", str(tmp_path / "e.patch"))
    assert result.exit_code == 0 and "nothing to emit" in result.output
    result = emit("host_machinery", tree, "-o", str(tmp_path / "h.patch"))
    assert result.exit_code == 1 and "exists since v4.18: it has no meaning for target" in result.output
    assert not (tmp_path / "h.patch").exists()


def test_split_run_decides_the_layout(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "t", "v4.17")
    (tree / "Makefile").write_text("VERSION = 4\nPATCHLEVEL = 16\n")
    result = run("emit-patch", str(ROOT / "policies" / "lazy_until_put.fp"), "--tree", str(tree), *FIXED)
    assert result.exit_code == 2 and "pass --target v4.16 or v4.17" in result.output
    forced = run(
        "emit-patch", str(ROOT / "policies" / "lazy_until_put.fp"), "--tree", str(tree), "--target", "v4.17", *FIXED
    )
    assert forced.exit_code == 0, forced.output


def test_verify_checks_each_mail_of_the_series_as_its_own_patch(
    v417: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """checkpatch on the series as one mbox would see one patch with a
    Signed-off-by per mail ("Duplicate signature"): --verify hands
    verify-patch the mails, in order, the cover letter among them to be
    left out."""
    import fpdsl.emit.verify as verify

    seen = []

    class Passed:
        ok = True

        def render(self) -> str:
            return "verify-patch: ok\n"

    def fake(patches, tree, **_):
        seen.append(patches)
        return Passed()

    monkeypatch.setattr(verify, "verify_patch", fake)
    out = tmp_path / "series"
    result = emit("lazy_until_put", v417, "--series", str(out), "--verify")
    assert result.exit_code == 0, result.output
    (patches,) = seen
    assert [p.name for p in patches] == sorted(p.name for p in out.iterdir())
    assert [p.text for p in patches] == [(out / p.name).read_text() for p in patches]
    assert verify.select_patches(patches)[1] == ["0000-cover-letter.patch: a cover letter, not applied"]


EXIT_ONLY = """policy eager_exit_bh "The eager exit with softirqs masked around it"
kernel v4.16
extends eager

hook exit {
    local_bh_disable()
    if !fp_trap_armed() {
        fpsimd_save_state(guest)
        fpsimd_load_state(host)
    }
    local_irq_enable()
    local_bh_enable()
}
"""


def test_a_trap_hook_identical_to_the_baselines_only_gains_the_trap_state(tmp_path: Path) -> None:
    """Only the exit hook differs from eager; it reads the trap state, so the
    handler must record it, and that one line is all that changes there (no
    removed local, no eaten blank line, no rewritten save)."""
    tree = write_tree(tmp_path / "v4.16", "v4.16", git=True)
    policy = tmp_path / "eager_exit_bh.fp"
    policy.write_text(EXIT_ONLY)
    out = tmp_path / "s"
    result = run("emit-patch", str(policy), "--tree", str(tree), "--series", str(out))
    assert result.exit_code == 0, result.output
    kvm = sorted(out.glob("0002-*.patch"))[0].read_text()
    hunks = kvm.split("\n@@ ")
    handler = [h for h in hunks if h.split("\n", 1)[0].endswith("__hyp_switch_fpsimd(u64 esr __always_unused,")]
    assert len(handler) == 1, kvm
    changed = [line for line in handler[0].split("\n")[1:] if line[:1] in "+-"]
    assert changed == ["+\tvcpu->arch.fp_untrapped = true;"], handler[0]
