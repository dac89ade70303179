"""`fpdsl check --target T` says what `emit-patch` would refuse for T, and
only that: every refusal emission meets on a tree (other than a missing
anchor or a field the tree's headers already have) is among check's, and a
policy check passes for T emits."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import POLICIES, ROOT, run
from standin import write_tree

from fpdsl.diagnostics import FpdslError, UsageError
from fpdsl.emit.anchors import AnchorError
from fpdsl.emit.legality import target_problems
from fpdsl.emit.plan import plan
from fpdsl.emit.targets import TARGETS
from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import load_policy

POLICY_FILES = sorted(POLICIES.glob("*.fp")) + sorted((ROOT / "tests" / "policies").glob("*.fp"))
# Refusals only a tree can give: the struct already has the member, a macro
# of the tree's headers has the name.
TREE_ONLY = ("which struct kvm_vcpu_arch already has", "which the preprocessor replaces")


def _emission_refusal(policy_file: Path, tree: Path, target: str) -> str | None:
    """The message emission stops with, None when it emits; tree-only
    refusals are skipped (returned as "tree")."""
    try:
        plan(check_or_raise(load_policy(policy_file)), tree, TARGETS[target])
    except (AnchorError, UsageError):
        return "tree"
    except FpdslError as exc:
        message = exc.diagnostics[0].message
        return "tree" if any(words in message for words in TREE_ONLY) else message
    return None


def _agree(policy_file: Path, tree: Path, target: str) -> str | None:
    """Asserts check --target and emission agree; returns emission's refusal."""
    refusal = _emission_refusal(policy_file, tree, target)
    said = [d.message for d in target_problems(check_or_raise(load_policy(policy_file)), TARGETS[target])]
    if refusal is None:
        assert said == [], f"{policy_file.name} emits for {target}, but check --target says {said}"
    elif refusal != "tree":
        assert refusal in said, f"{policy_file.name} for {target}: emission refuses {refusal!r}; check says {said}"
    return refusal


@pytest.fixture(scope="module")
def standins(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("standins")
    return {name: write_tree(root / name, name) for name in ("v4.16", "v4.17", "v4.18")}


@pytest.mark.parametrize("target", ["v4.16", "v4.17", "v4.18"])
@pytest.mark.parametrize("policy_file", POLICY_FILES, ids=lambda p: p.stem)
def test_check_target_agrees_with_emission_on_2018_layouts(policy_file: Path, target: str, standins) -> None:
    _agree(policy_file, standins[target], target)


@pytest.mark.kernel
@pytest.mark.parametrize("series", ["6.1", "6.12"])
@pytest.mark.parametrize("policy_file", POLICY_FILES, ids=lambda p: p.stem)
def test_check_target_agrees_with_emission_on_6x_trees(policy_file: Path, series: str, request) -> None:
    tree = request.getfixturevalue("kernel_6_1" if series == "6.1" else "kernel_6_12")
    _agree(policy_file, tree, f"v{series}")


def test_check_target_lists_every_refusal_located() -> None:
    r = run("check", "--target", "v4.16", str(POLICIES / "host_machinery.fp"))
    assert r.exit_code == 1
    lines = [line for line in r.output.splitlines() if ": error: " in line]
    assert [line.split(": error: ")[0].rsplit(":", 2)[1:] for line in lines] == [["37", "9"], ["47", "9"], ["59", "9"]]
    assert lines[1].endswith("error: fpsimd_bind_state_to_cpu() exists since v4.18: it has no meaning for target v4.16")
    assert run("check", "--target", "v4.18", "--target", "v4.17", str(POLICIES / "lazy_until_put.fp")).exit_code == 1
    ok = run("check", "--target", "v4.18", str(POLICIES / "host_machinery.fp"))
    assert ok.exit_code == 0 and ok.output.endswith("host_machinery.fp: ok\n")


def test_a_flag_6x_has_no_place_for_is_a_refusal_not_an_internal_error(tmp_path: Path) -> None:
    (tmp_path / "mine.fp").write_text(
        'policy mine "x"\nkernel v6.1\nextends kvm_v6_1\nflag MINE = false\n'
        "hook put {\n    MINE = true\n    fpsimd_save_and_flush_cpu_state()\n}\n"
    )
    r = run("check", "--target", "v6.1", str(tmp_path / "mine.fp"))
    assert r.exit_code == 1
    assert "mine.fp:6:5: error: flag MINE cannot be emitted for target v6.1: 6.1 keeps the vcpu's FP" in r.output


@pytest.mark.kernel
def test_emit_patch_refuses_a_6x_flag_it_has_no_place_for(kernel_6_1: Path, tmp_path: Path) -> None:
    (tmp_path / "mine.fp").write_text(
        'policy mine "x"\nkernel v6.1\nextends kvm_v6_1\nflag MINE = false\n'
        "hook put {\n    MINE = true\n    fpsimd_save_and_flush_cpu_state()\n}\n"
    )
    out = tmp_path / "p"
    r = run("emit-patch", str(tmp_path / "mine.fp"), "--tree", str(kernel_6_1), "--no-verify", "-o", str(out))
    assert r.exit_code == 1 and "internal error" not in r.output
    assert "mine.fp:6:5: error: flag MINE cannot be emitted for target v6.1" in r.output
    assert not out.exists()


def test_check_target_says_which_flags_could_never_be_fields(tmp_path: Path, standins) -> None:
    fuzzed = (
        'policy p "x"\nkernel v4.16\nextends eager\n\nflag CTXT\nflag fp_untrapped\nflag volatile\n\n'
        "hook put {\n    if fp_untrapped && volatile && CTXT {\n        fpsimd_flush_cpu_state()\n    }\n}\n"
    )
    (tmp_path / "p.fp").write_text(fuzzed)
    r = run("check", "--target", "v4.17", str(tmp_path / "p.fp"))
    assert r.exit_code == 1
    assert "p.fp:6:6: error: flag fp_untrapped would be the C field 'fp_untrapped', which fpdsl generates" in r.output
    assert "p.fp:7:6: error: flag volatile would be the C field 'volatile', which is a C keyword" in r.output
    assert "CTXT" not in r.output  # struct kvm_vcpu_arch's own ctxt: only the tree can say
    _agree(tmp_path / "p.fp", standins["v4.17"], "v4.17")
