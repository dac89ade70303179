"""emit-patch for the v4.18 layout (kernels 4.18-4.20) against its stand-in
tree: each hook of the merged design changed in turn (tests/policies/hm_*.fp),
each patch keeping every guard, SVE and AArch32 statement of the functions
it touches; arm64 code stays out of the shared virt/kvm/arm/arm.c; a change
that would remove code the baseline did not produce is refused."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import run
from standin import write_tree
from test_emit import FIXED, _check_applies, _golden, _parses_as_c, tree_digest

VARIANTS = Path(__file__).parent / "policies"
HM_POLICIES = sorted(p.stem for p in VARIANTS.glob("hm_*.fp"))
KVM_FPSIMD_C = "arch/arm64/kvm/fpsimd.c"
HYP_C = "arch/arm64/kvm/hyp/switch.c"
ARM_C = "virt/kvm/arm/arm.c"
ARM32_H = "arch/arm/include/asm/kvm_host.h"

# What the tree's FPSIMD functions do that no fpdsl hook says: every patch
# must leave each of these statements (or statement lines) in place.
KEPT = {
    KVM_FPSIMD_C: (
        "\tBUG_ON(!current->mm);",
        "\t\t\t      KVM_ARM64_HOST_SVE_IN_USE |",
        "\t\t\t      KVM_ARM64_HOST_SVE_ENABLED);",
        "\tif (test_thread_flag(TIF_SVE))",
        "\t\tvcpu->arch.flags |= KVM_ARM64_HOST_SVE_IN_USE;",
        "\tif (read_sysreg(cpacr_el1) & CPACR_EL1_ZEN_EL0EN)",
        "\t\tvcpu->arch.flags |= KVM_ARM64_HOST_SVE_ENABLED;",
        "\tWARN_ON_ONCE(!irqs_disabled());",
        "\t} else if (system_supports_sve()) {",
        "\t\tif (vcpu->arch.flags & KVM_ARM64_HOST_SVE_ENABLED)",
        "\t\t\tsysreg_clear_set(CPACR_EL1, 0, CPACR_EL1_ZEN_EL0EN);",
        "\t\t\tsysreg_clear_set(CPACR_EL1, CPACR_EL1_ZEN_EL0EN, 0);",
        "\tupdate_thread_flag(TIF_SVE,",
        "\t\t\t   vcpu->arch.flags & KVM_ARM64_HOST_SVE_IN_USE);",
        "\tvcpu->arch.host_fpsimd_state = kern_hyp_va(fpsimd);",
    ),
    HYP_C: (
        "\tstruct user_fpsimd_state *host_fpsimd = vcpu->arch.host_fpsimd_state;",
        "\t\tif (system_supports_sve() &&",
        "\t\t    (vcpu->arch.flags & KVM_ARM64_HOST_SVE_IN_USE)) {",
        "\t\t\tsve_save_state(sve_pffr(thread), &host_fpsimd->fpsr);",
        "\t\t\t__fpsimd_save_state(host_fpsimd);",
        "\tif (!(read_sysreg(hcr_el2) & HCR_RW))",
        "\t\twrite_sysreg(vcpu->arch.ctxt.sys_regs[FPEXC32_EL2],",
        "\treturn true;",
        "\t\t__activate_traps_fpsimd32(vcpu);",
        "\t\treturn __hyp_switch_fpsimd(vcpu);",
    ),
}


@pytest.fixture
def v418(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "v4.18", "v4.18", git=True)


def _emit(policy: Path, tree: Path, out: Path):
    return run("emit-patch", str(policy), "--tree", str(tree), *FIXED, "-o", str(out))


@pytest.mark.parametrize("name", HM_POLICIES)
def test_variant_patch_keeps_what_the_model_does_not_know(name: str, v418: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.patch"
    before = tree_digest(v418)
    result = _emit(VARIANTS / f"{name}.fp", v418, out)
    assert result.exit_code == 0, result.output
    assert tree_digest(v418) == before
    text = out.read_text()
    assert "  verdict: CLEAN\n" in text
    _check_applies(v418, out)
    _golden(f"{name}.v4.18.patch", text)
    old = {rel: (v418 / rel).read_text().split("\n") for rel in KEPT}
    _parses_as_c(v418, out)  # applies the patch
    for rel, statements in KEPT.items():
        new = (v418 / rel).read_text().split("\n")
        for statement in statements:
            assert new.count(statement) == old[rel].count(statement), f"{rel}: {statement.strip()!r} was removed"
    # Every removed line is code the baseline produced.
    diff = text.split("\n-- \n")[0].split("\n")
    removed = [line[1:].strip() for line in diff if line.startswith("-") and not line.startswith("---")]
    kept = {s.strip() for statements in KEPT.values() for s in statements}
    assert not kept & set(removed)


@pytest.mark.parametrize("name", HM_POLICIES)
def test_shared_arm_c_only_calls_arm64_functions(name: str, v418: Path, tmp_path: Path) -> None:
    """virt/kvm/arm/arm.c is also built for 32-bit arm: a patch adds only
    calls of kvm_arch_vcpu_*_fp() there, each with an arm stub."""
    out = tmp_path / f"{name}.patch"
    assert _emit(VARIANTS / f"{name}.fp", v418, out).exit_code == 0
    text = out.read_text()
    files = dict(re.findall(r"^diff --git a/(\S+) b/\S+\n(.*?)(?=^diff --git |\Z)", text, re.M | re.S))
    added = [line[1:] for line in files.get(ARM_C, "").split("\n") if line.startswith("+") and line != "+++ b/" + ARM_C]
    calls = [line.strip() for line in added if line.strip()]
    assert all(re.fullmatch(r"kvm_arch_vcpu_\w+_fp\(vcpu\);", c) for c in calls), calls
    stubs = files.get(ARM32_H, "")
    for call in calls:
        assert f"+static inline void {call.split('(')[0]}(struct kvm_vcpu *vcpu) {{}}" in stubs
    hunks = files.get(ARM_C, "").split("\n-- \n")[0].split("\n")
    assert not any(line.startswith("-") and not line.startswith("---") for line in hunks)


@pytest.mark.parametrize("name", HM_POLICIES)
def test_review_traces_every_line(name: str, v418: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.patch"
    policy = VARIANTS / f"{name}.fp"
    assert _emit(policy, v418, out).exit_code == 0
    result = run("review", str(out), str(policy), "--tree", str(v418))
    assert result.exit_code == 0, result.output
    rows = [
        line for line in result.output.split("\n") if line[:1] in ("+", "-") and not line.startswith(("+++", "---"))
    ]
    assert rows and all("  # " in line for line in rows), result.output
    removed = [line for line in rows if line.startswith("-")]
    assert all("host_machinery.fp:" in line for line in removed), removed


NO_HOST_SAVE = """policy hm_trap_no_host_save "Host machinery, the trap never saves the host's registers"
kernel v4.18
extends host_machinery

hook trap {
    disarm_fp_trap()
    fpsimd_load_state(guest)
    FP_ENABLED = true
}
"""


def test_a_change_that_removes_foreign_code_is_refused(v418: Path, tmp_path: Path) -> None:
    """Dropping the host save from the trap hook would delete the hyp's SVE
    save around it: an error naming that line, and nothing written."""
    policy = tmp_path / "hm_trap_no_host_save.fp"
    policy.write_text(NO_HOST_SAVE)
    out = tmp_path / "out.patch"
    before = tree_digest(v418)
    result = _emit(policy, v418, out)
    assert result.exit_code == 1, result.output
    line = (v418 / HYP_C).read_text().split("\n").index("\t\tif (system_supports_sve() &&") + 1
    assert f"{HYP_C}:{line}: 'if (system_supports_sve() &&' is not code the baseline policy produced" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and tree_digest(v418) == before


def test_6x_design_is_refused_for_v418_where_it_would_drop_the_sve_save(v418: Path, tmp_path: Path) -> None:
    """The 6.x trap hook saves no host state; on a v4.18 tree that would
    take the hyp's SVE host save with it."""
    out = tmp_path / "out.patch"
    result = _emit(VARIANTS / "v6_design_on_v418.fp", v418, out)
    assert result.exit_code == 1, result.output
    assert f"{HYP_C}:" in result.output and "'if (system_supports_sve() &&'" in result.output
    assert not out.exists()


def test_patched_stand_in_still_has_the_real_structure(v418: Path, tmp_path: Path) -> None:
    """The merge keeps the tree's own mask statement when the policy leaves
    its bits alone, and rewrites it with the remaining bits otherwise."""
    from fpdsl.emit.edits import Line, Origin
    from fpdsl.emit.merge import merge

    tree = (v418 / KVM_FPSIMD_C).read_text().split("\n")
    start = tree.index("void kvm_arch_vcpu_load_fp(struct kvm_vcpu *vcpu)") + 2
    end = tree.index("}", start)
    why = Origin("p.fp", 1, "test")
    base = [
        Line("\tvcpu->arch.flags &= ~KVM_ARM64_FP_ENABLED;", why),
        Line("\tvcpu->arch.flags |= KVM_ARM64_FP_HOST;", why),
    ]
    mine = [Line("\tvcpu->arch.flags |= KVM_ARM64_FP_HOST;", why)]
    (edit,) = merge(KVM_FPSIMD_C, tree, start, end, base, mine)
    assert [line.text for line in edit.lines] == [
        "\tvcpu->arch.flags &= ~(KVM_ARM64_HOST_SVE_IN_USE |",
        "\t\t\t      KVM_ARM64_HOST_SVE_ENABLED);",
    ]
    assert tree[edit.start : edit.end] == [
        "\tvcpu->arch.flags &= ~(KVM_ARM64_FP_ENABLED |",
        "\t\t\t      KVM_ARM64_HOST_SVE_IN_USE |",
        "\t\t\t      KVM_ARM64_HOST_SVE_ENABLED);",
    ]


def test_emission_is_deterministic(v418: Path, tmp_path: Path) -> None:
    policy = VARIANTS / "hm_exit_softirq_giveback.fp"
    a, b = tmp_path / "a.patch", tmp_path / "b.patch"
    assert _emit(policy, v418, a).exit_code == 0 and _emit(policy, v418, b).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    subprocess.run(["git", "apply", "--check", str(a)], cwd=v418, check=True)


SOFTIRQ_HOOK = """policy hm_softirq_hook "Host machinery, a softirq that wants NEON gets the registers back"
kernel v4.18
extends host_machinery

hook softirq {
    local_irq_save()
    if FP_ENABLED {
        fpsimd_save()
        fpsimd_flush_cpu_state()
        FP_ENABLED = false
    }
    local_irq_restore()
}
"""


def test_softirq_hook_brings_the_vcpu_declarations_into_kernel_fpsimd_c(v418: Path, tmp_path: Path) -> None:
    """kernel_neon_begin() reads the running vcpu: arch/arm64/kernel/fpsimd.c
    gets <linux/kvm_host.h>, and the function keeps its own guards."""
    policy = tmp_path / "hm_softirq_hook.fp"
    policy.write_text(SOFTIRQ_HOOK)
    out = tmp_path / "out.patch"
    assert _emit(policy, v418, out).exit_code == 0
    subprocess.run(["git", "apply", str(out)], cwd=v418, check=True, capture_output=True)
    text = (v418 / "arch/arm64/kernel/fpsimd.c").read_text()
    assert "#include <linux/kvm_host.h>\n" in text
    # The hook's local goes into its block, after the running vcpu.
    assert "\t\tstruct kvm_vcpu *vcpu = kvm_arm_get_running_vcpu();\n\t\tunsigned long flags;\n\n" in text
    begin = text[text.index("void kernel_neon_begin(void)") :].split("\n}\n")[0]
    for kept in ("if (WARN_ON(!system_supports_fpsimd()))", "BUG_ON(!may_use_simd());", "fpsimd_save();"):
        assert kept in begin
    assert begin.index("#ifdef CONFIG_KVM") < begin.index("if (WARN_ON(!system_supports_fpsimd()))")


UNWRAP = """policy hm_{hook}_unwrap "Host machinery, {hook} without its FP_ENABLED test"
kernel v4.18
extends host_machinery

hook {hook} {{
{body}
}}
"""


def test_unwrapping_a_baseline_block(v418: Path, tmp_path: Path) -> None:
    """A policy may take away the braces of a block that holds baseline code
    only (its lines move out a level), not of one that also holds the
    tree's own code (put's SVE else-branch hangs off the FP_ENABLED test)."""
    exit_body = "    fpsimd_bind_state_to_cpu(guest)\n    clear_thread_flag(TIF_FOREIGN_FPSTATE)\n"
    exit_body += "    clear_thread_flag(TIF_SVE)\n    local_irq_enable()"
    policy = tmp_path / "hm_exit_unwrap.fp"
    policy.write_text(UNWRAP.format(hook="exit", body=exit_body))
    out = tmp_path / "exit.patch"
    assert _emit(policy, v418, out).exit_code == 0
    assert "+\tfpsimd_bind_state_to_cpu(&vcpu->arch.ctxt.gp_regs.fp_regs);\n" in out.read_text()
    put_body = "    local_irq_save()\n    fpsimd_save()\n    fpsimd_flush_cpu_state()\n    local_irq_restore()"
    policy = tmp_path / "hm_put_unwrap.fp"
    policy.write_text(UNWRAP.format(hook="put", body=put_body))
    out = tmp_path / "put.patch"
    result = _emit(policy, v418, out)
    assert result.exit_code == 1 and not out.exists()
    line = (v418 / KVM_FPSIMD_C).read_text().split("\n").index("\t} else if (system_supports_sve()) {") + 1
    assert f"{KVM_FPSIMD_C}:{line}: '}} else if (system_supports_sve()) {{' is not code the baseline" in result.output
