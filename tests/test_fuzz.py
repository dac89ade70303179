"""Fuzzing, bounded for CI (about a minute): generated and mutated policies
through check and simulate give exit 0, 1 or 2 with a diagnostic, never an
internal error or a traceback. bench/fuzz.py runs the same properties long."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_emit import emission_problems
from fuzz_policies import decorated, mutated, policy_text
from helpers import POLICIES, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standin import write_tree

SEEDS = [p.read_text() for p in sorted(POLICIES.glob("*.fp"))]
FAST = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _clean_exit(result, allowed: tuple[int, ...]) -> None:
    assert result.exit_code in allowed, result.output
    assert "fpdsl: internal error:" not in result.output  # not the words, which a fuzzed comment may hold
    assert "Traceback" not in result.output


@FAST
@given(mutated(SEEDS))
def test_mutated_policies_get_a_diagnostic(tmp_path_factory, data: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("mut")) / "p.fp"
    path.write_bytes(data)
    _clean_exit(run("check", str(path)), (0, 1, 2))


@FAST
@given(policy_text())
def test_generated_policies_get_a_verdict_or_a_diagnostic(tmp_path_factory, text: str) -> None:
    path = Path(tmp_path_factory.mktemp("gen")) / "p.fp"
    path.write_text(text)
    result = run("check", str(path))
    _clean_exit(result, (0, 1))
    if result.exit_code == 1:
        assert ": error: " in result.output  # located: file:line:col: error:


@SLOW
@given(policy_text())
def test_generated_valid_policies_explore(tmp_path_factory, text: str) -> None:
    path = Path(tmp_path_factory.mktemp("sim")) / "p.fp"
    path.write_text(text)
    if run("check", str(path)).exit_code != 0:
        return
    result = run("simulate", str(path), "--runs", "1", "--exits", "1", "--tasks", "0", "-q")
    _clean_exit(result, (0, 1))
    assert "CLEAN" in result.output or "VIOLATED" in result.output


LAYOUT_SEEDS = {
    "v4.16": ["lazy_until_put", "bh_disable_variant", "neon_busy", "no_softirq_no_preempt", "neon_begin_in_load"],
    "v4.17": ["lazy_until_put", "neon_busy"],
    "v4.18": [f"../tests/policies/{p.stem}" for p in sorted((POLICIES.parent / "tests" / "policies").glob("hm_*.fp"))],
}
EMIT = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="module")
def standin_trees(tmp_path_factory) -> dict[str, Path]:
    root = Path(tmp_path_factory.mktemp("trees"))
    return {layout: write_tree(root / layout, layout) for layout in LAYOUT_SEEDS}


@EMIT
@given(st.sampled_from(sorted(LAYOUT_SEEDS)), st.data())
def test_policy_text_cannot_change_the_emitted_c(standin_trees, tmp_path_factory, layout: str, data) -> None:
    """Hostile `##` comments and descriptions on policies that emit: the
    patched files' C tokens are those of the same policy with neutral
    comments, and every comment the patch adds is the policy's own words."""
    seed = (POLICIES / f"{data.draw(st.sampled_from(LAYOUT_SEEDS[layout]))}.fp").read_text()
    text = data.draw(decorated(seed))
    work = Path(tmp_path_factory.mktemp("emit"))
    assert emission_problems(text, standin_trees[layout], work) == []


REVIEW = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@REVIEW
@given(st.sampled_from(sorted(LAYOUT_SEEDS)), st.data())
def test_review_accepts_every_patch_emit_patch_writes(standin_trees, tmp_path_factory, layout: str, data) -> None:
    seed = (POLICIES / f"{data.draw(st.sampled_from(LAYOUT_SEEDS[layout]))}.fp").read_text()
    work = Path(tmp_path_factory.mktemp("review"))
    policy = work / "p.fp"
    policy.write_text(data.draw(decorated(seed)))
    out = work / "out.patch"
    fixed = ["--date", "2018-02-14T11:15:54+00:00", "--signoff", "Fp Dsl <fpdsl@example.org>", "--no-verify"]
    result = run("emit-patch", str(policy), "--tree", str(standin_trees[layout]), *fixed, "-o", str(out))
    _clean_exit(result, (0, 1))
    if result.exit_code == 0 and out.exists():
        review = run("review", str(out), str(policy), "--tree", str(standin_trees[layout]))
        assert review.exit_code == 0, review.output
        lines = [r for r in review.output.split("\n") if r[:1] in ("+", "-") and not r.startswith(("+++", "---"))]
        assert lines and all(("# from " in r) or ("# removed: " in r) for r in lines)
