"""emit-patch for the v4.18 target on each stand-in of its kernels: v4.18
(tests/standin418.py), v4.19 (4.19.95) and v4.18rt (4.18 with PREEMPT_RT).
Every variant policy's patch applies, keeps the statements
tests/test_emit_v418.py requires to survive, and passes review; on the RT
tree it also leaves RT's own preemption handling alone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import run
from standin import write_tree
from test_emit_v418 import HM_POLICIES, HYP_C, KEPT, VARIANTS, _emit

LAYOUTS = ("v4.18", "v4.19", "v4.18rt")
FPSIMD_C = "arch/arm64/kernel/fpsimd.c"
ARM_C = "virt/kvm/arm/arm.c"

# RT calls __activate_traps_fpsimd32() from __activate_traps(), one level
# up, instead of from activate_traps_vhe() and __activate_traps_nvhe().
FPSIMD32_419 = "\t\t__activate_traps_fpsimd32(vcpu);"
FPSIMD32_RT = "\t__activate_traps_fpsimd32(vcpu);"


def kept(layout: str) -> dict[str, tuple[str, ...]]:
    """test_emit_v418's KEPT statements as they are written in `layout`."""
    if layout != "v4.18rt":
        return KEPT
    assert FPSIMD32_419 in KEPT[HYP_C]
    return {**KEPT, HYP_C: tuple(FPSIMD32_RT if s == FPSIMD32_419 else s for s in KEPT[HYP_C])}


def function(text: str, signature: str) -> str:
    """The body of the function defined by the line `signature`."""
    start = text.index(f"\n{signature}\n{{\n") + len(signature) + 4
    return text[start : text.index("\n}\n", start)]


def calls(body: str, *names: str) -> list[str]:
    return re.findall(r"\b(" + "|".join(names) + r")\(\)", body)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_is_read_as_the_v418_target(layout: str, tmp_path: Path) -> None:
    from fpdsl.emit.targets import tree_version

    tree = write_tree(tmp_path / layout, layout)
    assert tree_version(tree) == {"v4.18": (4, 18), "v4.19": (4, 19), "v4.18rt": (4, 18)}[layout]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", HM_POLICIES)
def test_patch_applies_keeps_the_tree_code_and_passes_review(name: str, layout: str, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / layout, layout, git=True)
    policy = VARIANTS / f"{name}.fp"
    patch = tmp_path / f"{name}.patch"
    result = _emit(policy, tree, patch)
    assert result.exit_code == 0, result.output
    assert "  verdict: CLEAN\n" in patch.read_text()
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=tree, check=True, capture_output=True)
    review = run("review", str(patch), str(policy), "--tree", str(tree))
    assert review.exit_code == 0, review.output

    statements = kept(layout)
    old = {rel: (tree / rel).read_text().split("\n") for rel in statements}
    for rel, lines in statements.items():
        missing = [s.strip() for s in lines if s not in old[rel]]
        assert not missing, f"{rel}: the stand-in lacks {missing}"
    subprocess.run(["git", "apply", str(patch)], cwd=tree, check=True, capture_output=True)
    for rel, lines in statements.items():
        new = (tree / rel).read_text().split("\n")
        for s in lines:
            assert new.count(s) == old[rel].count(s), f"{rel}: {s.strip()!r} was removed"
    if layout == "v4.18rt":
        _rt_preemption_kept(tree)


def _rt_preemption_kept(tree: Path) -> None:
    """RT's kernel_neon_begin() still brackets its bottom-half section with
    preempt_disable()/preempt_enable(), and its run loop still pins the
    vcpu thread with migrate_disable(), not preempt_disable()."""
    begin = function((tree / FPSIMD_C).read_text(), "void kernel_neon_begin(void)")
    assert calls(begin, "preempt_disable", "preempt_enable", "local_bh_disable", "local_bh_enable") == [
        "preempt_disable",
        "local_bh_disable",
        "preempt_disable",
        "local_bh_enable",
        "preempt_enable",
    ], begin
    loop = function(
        (tree / ARM_C).read_text(), "int kvm_arch_vcpu_ioctl_run(struct kvm_vcpu *vcpu, struct kvm_run *run)"
    )
    assert calls(loop, "migrate_disable", "migrate_enable", "preempt_disable", "preempt_enable") == [
        "migrate_disable",
        "migrate_enable",
        "migrate_enable",
    ], loop
