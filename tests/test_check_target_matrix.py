"""Every primitive and predicate, with every argument, in every hook, for
every target: `check` and `check --target` together refuse exactly what
`emit-patch` refuses (tree-only refusals aside). Each case is the target's
own design with one hook rewritten around the statement under test, so
what is compared is the statement, not a policy emission refuses anyway."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest
from standin import write_tree
from test_check_target import _agree

from fpdsl.diagnostics import FpdslError
from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import load_policy
from fpdsl.lang.vocabulary import ARG_KINDS, HOOKS, PREDICATES, PRIMITIVES

# What a statement needs around it to leave a hook balanced.
INVERSE = {
    "local_bh_disable": "local_bh_enable()",
    "preempt_disable": "preempt_enable()",
    "local_irq_disable": "local_irq_enable()",
    "local_irq_save": "local_irq_restore()",
    "kernel_neon_begin": "kernel_neon_end()",
}
OPENER = {v[:-2]: f"{k}()" for k, v in INVERSE.items()}
# The design each target's tree has, which the case extends.
BASES = {"v4.16": "eager", "v4.17": "eager", "v4.18": "host_machinery", "v6.1": "kvm_v6_1", "v6.12": "kvm_v6_12"}
KERNEL = {"v4.16": "v4.16", "v4.17": "v4.16", "v4.18": "v4.18", "v6.1": "v6.1", "v6.12": "v6.12"}


def _calls(table: dict) -> list[str]:
    out = []
    for spec in table.values():
        for args in product(*(ARG_KINDS[kind] for kind in spec.args)):
            out.append(f"{spec.name}({', '.join(args)})")
    return out


STATEMENTS = [f"{c}" for c in _calls(PRIMITIVES)] + [f"if {c} {{\n        pass\n    }}" for c in _calls(PREDICATES)]


def _hook_body(hook: str, statement: str, target: str) -> list[str]:
    name = statement.split("(", 1)[0]
    body = [statement]
    if name in INVERSE:
        body.append(INVERSE[name])
    elif name in OPENER:
        body.insert(0, OPENER[name])
    if hook == "exit" and name not in ("local_irq_enable", "local_irq_disable", "local_irq_save", "local_irq_restore"):
        body.append("local_irq_enable()")  # the run loop's own
    if hook == "exit" and name == "local_irq_enable":
        body = ["local_irq_enable()"]
    if hook == "enter" and target.startswith("v6"):
        body.append("if !FP_ENABLED {\n        arm_fp_trap()\n    }")  # the 6.x trap decision ends it
    if hook == "trap":
        body.insert(0, "disarm_fp_trap()")
    return body


def _case(tmp_path: Path, target: str, hook: str, statement: str) -> Path:
    body = "\n    ".join(_hook_body(hook, statement, target))
    text = (
        f'policy t "one statement in one hook"\nkernel {KERNEL[target]}\nextends {BASES[target]}\n\n'
        f"hook {hook} {{\n    {body}\n}}\n"
    )
    path = tmp_path / f"{target}_{hook}.fp"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trees(tmp_path_factory, request) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("matrix")
    return {name: write_tree(root / name, name) for name in ("v4.16", "v4.17", "v4.18")}


def _run_matrix(target: str, tree: Path, tmp_path: Path) -> dict[str, int]:
    counts = {"checker refuses": 0, "emits": 0, "refused alike": 0, "tree only": 0}
    for hook, statement in product(HOOKS, STATEMENTS):
        path = _case(tmp_path, target, hook, statement)
        try:
            check_or_raise(load_policy(path))
        except FpdslError:
            counts["checker refuses"] += 1  # neither simulate nor emit-patch takes it
            continue
        refusal = _agree(path, tree, target)  # asserts
        counts["emits" if refusal is None else "tree only" if refusal == "tree" else "refused alike"] += 1
    return counts


@pytest.mark.parametrize("target", ["v4.16", "v4.17", "v4.18"])
def test_every_statement_in_every_hook_agrees_on_2018_layouts(target: str, trees, tmp_path: Path) -> None:
    counts = _run_matrix(target, trees[target], tmp_path)
    # Not vacuous: most cases emit, the checker refuses the hyp's kernel calls
    # (on v4.16 it refuses all the layout cannot take: nothing is left for emission).
    print(target, counts)
    assert counts["emits"] > 80 and counts["checker refuses"] > 30, counts


@pytest.mark.kernel
@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_every_statement_in_every_hook_agrees_on_6x_trees(series: str, request, tmp_path: Path) -> None:
    tree = request.getfixturevalue("kernel_6_1" if series == "6.1" else "kernel_6_12")
    counts = _run_matrix(f"v{series}", tree, tmp_path)
    print(series, counts)
    assert counts["emits"] > 20 and counts["refused alike"] > 50, counts
