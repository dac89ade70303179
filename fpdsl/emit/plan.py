"""Turn a checked policy into edits of a kernel tree: compare each hook with
the baseline policy the tree already implements, and for each hook that
differs put the policy's code at the hook's site and take the baseline's
code out. Nothing here writes files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.emit import targets as T
from fpdsl.emit.anchors import AnchorError
from fpdsl.emit.codegen import TRAP_PRIMITIVES
from fpdsl.emit.edits import Edit, FileChange, OverlapError, apply_edits, same_code_edit
from fpdsl.emit.plan416 import stage
from fpdsl.emit.sites import Tree
from fpdsl.emit.sites6 import Sites6
from fpdsl.emit.sites418 import Sites418
from fpdsl.lang import ast
from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import ResolvedPolicy, load_policy
from fpdsl.lang.vocabulary import HOOKS, KERNEL_VERSIONS, PRIMITIVES
from fpdsl.resources import resource_dir


@dataclass
class Emission:
    policy: ResolvedPolicy
    target: T.Target
    baseline: str
    hooks: list[str]  # the hooks whose code changed, in HOOKS order
    changes: list[FileChange] = field(default_factory=list)
    wiring: bool = False
    # v4.16/v4.17: the series' patches in order (plan416.Part); empty for
    # the other layouts, whose changes are split by subsystem.
    parts: list = field(default_factory=list)


def library_policy(name: str) -> ResolvedPolicy:
    """A shipped policy, by name."""
    return check_or_raise(load_policy(resource_dir("policies") / f"{name}.fp"))


def baseline_policy(target: T.Target) -> ResolvedPolicy:
    return library_policy(target.baseline)


def shape(node):
    """A hook body without positions and comments, for comparison."""
    if isinstance(node, tuple):
        return tuple(shape(n) for n in node)
    if isinstance(node, ast.Call):
        return ("call", node.name, tuple(a.name for a in node.args))
    if isinstance(node, ast.Assign):
        return ("assign", node.flag, node.value)
    if isinstance(node, ast.Pass):
        return ("pass",)
    if isinstance(node, ast.If):
        return ("if", shape(node.cond), shape(node.then), shape(node.orelse))
    if isinstance(node, ast.Assertion):
        return ("assert", node.macro, shape(node.cond))
    if isinstance(node, ast.BoolLit):
        return ("bool", node.value)
    if isinstance(node, ast.FlagRef):
        return ("flag", node.name)
    if isinstance(node, ast.Not):
        return ("not", shape(node.operand))
    if isinstance(node, ast.BinOp):
        return (node.op, shape(node.left), shape(node.right))
    raise TypeError(node)


def _body(policy: ResolvedPolicy, hook: str) -> tuple:
    h = policy.hooks.get(hook)
    return shape(h.body) if h else ()


def _uses(hook: ast.Hook | None, names: tuple[str, ...]) -> bool:
    if hook is None:
        return False
    if any(isinstance(s, ast.Call) and s.name in names for s in ast.walk_stmts(hook.body)):
        return True
    return any(isinstance(e, ast.Call) and e.name in names for c in ast.conditions(hook.body) for e in ast.walk_expr(c))


def plan(policy: ResolvedPolicy, tree_dir: Path, target: T.Target, keep_same: bool = False) -> Emission:
    """The edits `policy` makes to the tree; `keep_same` keeps edits that
    change comments or layout only (tests compare the tree's code with them)."""
    problems = version_problems(policy, target)
    if problems:
        raise FpdslError(problems[0])
    if target.modern:
        return _plan_modern(policy, Tree(tree_dir), target, keep_same)
    base = baseline_policy(target)
    changed, wiring = changed_hooks(policy, base)
    emission = Emission(policy, target, base.name, changed, wiring=wiring)
    if not changed:
        return emission
    tree = Tree(tree_dir)
    if target.name in ("v4.16", "v4.17"):
        emission.parts = stage(policy, tree, target, base, changed, wiring)
        emission.changes = [c for part in emission.parts for c in part.changes]
        return emission
    builder = Sites418(policy, target, tree)
    for hook in changed:
        builder.hook(hook)
    if wiring:
        builder.trap_wiring()
    builder.requirements()
    _collect(emission, tree, builder.edits, keep_same)
    return emission


def changed_hooks(policy: ResolvedPolicy, base: ResolvedPolicy) -> tuple[list[str], bool]:
    """The hooks a 2018 layout emits (those that differ from the baseline's)
    and whether the trap wiring changes with them."""
    changed = [h for h in HOOKS if _body(policy, h) != _body(base, h)]
    uses_trap = any(_uses(policy.hooks.get(h), TRAP_PRIMITIVES) for h in changed)
    wiring = uses_trap or "enter" in changed or "trap" in changed
    if wiring:
        # The trap state is carried by one vcpu field: whoever arms it, the
        # entry path and the trap handler must both speak of it.
        changed = [h for h in HOOKS if h in changed or h in ("enter", "trap")]
        if "trap" not in policy.hooks:
            hook = policy.hooks.get("enter") or next(iter(policy.hooks.values()))
            raise FpdslError(
                Diagnostic(
                    "the policy traps the guest's FP/SIMD accesses but has no trap hook to handle them",
                    hook.name_span,
                    policy.policy.source,
                    "add 'hook trap { disarm_fp_trap() ... }'",
                )
            )
    return changed, wiring


def _plan_modern(policy: ResolvedPolicy, tree: Tree, target: T.Target, keep_same: bool) -> Emission:
    """6.x: every hook is rendered into its function and compared with the
    code already there, not with a baseline policy: a 6.x tree's code
    depends on its stable release. A hook whose code the tree already has
    (comments and layout aside) is left out, unless `keep_same`."""
    builder = Sites6(policy, target, tree)
    builder.check_fixed(shape)
    emission = Emission(policy, target, "", [])
    for hook in ("load", "enter", "trap", "exit", "put"):
        first = len(builder.edits)
        builder.hook(hook, whole=keep_same)
        mine = builder.edits[first:]
        changed = bool(mine) and not all(same_code_edit(tree[e.path].text.split("\n"), e) for e in mine)
        if changed or (keep_same and (mine or hook != "trap")):
            emission.hooks.append(hook)
        else:
            del builder.edits[first:]
    _collect(emission, tree, builder.edits, keep_same)
    return emission


def _collect(emission: Emission, tree: Tree, edits: list[Edit], keep_same: bool = False) -> None:
    by_file: dict[str, list[Edit]] = {}
    for e in edits:
        by_file.setdefault(e.path, []).append(e)
    for rel in sorted(by_file):
        try:
            change = apply_edits(rel, tree[rel].text, by_file[rel], keep_same=keep_same)
        except OverlapError as exc:
            raise AnchorError(str(exc)) from None
        if change.hunks:
            emission.changes.append(change)


def version_problems(policy: ResolvedPolicy, target: T.Target) -> list[Diagnostic]:
    """Every call of a primitive the target's kernel does not have."""
    if target.kernel.startswith("v6") and policy.kernel not in T.ACCEPTS_6.get(target.name, (target.kernel,)):
        # A 6.x tree is one kernel model's: its verdict is only that model's.
        return [
            Diagnostic(
                f"the policy runs on the {policy.kernel} kernel model; a {target.name} tree is the {target.kernel} "
                "model's",
                policy.policy.kernel_span or policy.policy.name_span,
                policy.policy.source,
                f"declare 'kernel {target.kernel}' (policies/kvm_{target.name.replace('.', '_')}.fp "
                "is that tree's code)",
            )
        ]
    problems = []
    # On a 6.x tree the primitives are the policy's model's: what that model
    # has and the tree lacks (fpsimd_kvm_prepare()), the patch brings back.
    rank = KERNEL_VERSIONS.index(policy.kernel if target.kernel.startswith("v6") else target.kernel)
    for hook in policy.hooks.values():
        for stmt in ast.walk_stmts(hook.body):
            if not isinstance(stmt, ast.Call) or stmt.name not in PRIMITIVES:
                continue
            prim = PRIMITIVES[stmt.name]
            since = KERNEL_VERSIONS.index(prim.since) if prim.since else 0
            until = KERNEL_VERSIONS.index(prim.until) if prim.until else len(KERNEL_VERSIONS)
            if not since <= rank <= until:
                when = f"since {prim.since}" if prim.since else f"until {prim.until}"
                src = load_policy(hook.policy).policy.source if hook.policy != policy.path else policy.policy.source
                problems.append(
                    Diagnostic(
                        f"{stmt.name}() exists {when}: it has no meaning for target {target.name}",
                        stmt.span,
                        src,
                        f"the policy is written for the {policy.kernel} kernel model: emit it for a tree of that "
                        f"kernel, or write a variant for {target.name}",
                    )
                )
    return problems
