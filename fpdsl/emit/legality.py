"""What `emit-patch` would refuse for a target, said without a tree:
`fpdsl check --target T`. The same code decides as at emission (the
target's version table, its fixed hyp design, which hooks it emits, and
its templates' macros and refusals), but every refusal is collected
instead of the first one raised. What only a tree can say (a missing
anchor, code fpdsl would have to remove) is left to emit-patch."""

from __future__ import annotations

import re

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.emit.codegen import Lowering, layout_environment
from fpdsl.emit.identifiers import field_problem
from fpdsl.emit.plan import baseline_policy, changed_hooks, shape, version_problems
from fpdsl.emit.sites6 import FUNCTIONS, Sites6, join_ownership
from fpdsl.emit.targets import Target
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.lang.vocabulary import HOOKS


def target_problems(policy: ResolvedPolicy, target: Target) -> list[Diagnostic]:
    """Every refusal emitting `policy` for `target` would meet, in source order."""
    problems = list(version_problems(policy, target))
    if target.modern:
        hooks = list(FUNCTIONS)
        try:
            Sites6(policy, target, None).check_fixed(shape)
        except FpdslError as exc:
            problems += exc.diagnostics
    else:
        try:
            hooks, _wiring = changed_hooks(policy, baseline_policy(target))
        except FpdslError as exc:
            problems += exc.diagnostics
            hooks = list(HOOKS)
    folder, env = layout_environment(target.name)
    lower = Lowering(folder, policy.path, env)
    lower.refusals = problems
    sources = {p.source.path: p.source for p in policy.chain}
    for name in hooks:
        hook = policy.hooks.get(name)
        if hook is not None:
            # As emission writes it: on v6.12 a pair of ownership flag writes is one store.
            body = join_ownership(hook.body) if target.name == "v6.12" else hook.body
            lower.body(hook, body, HOOKS[name].context, "\t", sources.get(hook.policy, policy.policy.source))
    if not target.modern:
        problems += _field_problems(policy, lower)
    return _unique(problems)


def _field_problems(policy: ResolvedPolicy, lower: Lowering) -> list[Diagnostic]:
    """The flags the emitted code uses whose vcpu field could never be one
    (a C keyword, fpdsl's own field, a kernel macro), at their declaration;
    a field the tree's struct already has is for emit-patch to say."""
    problems = []
    for flag in sorted(lower.needs.flags):
        m = re.search(r"(\w+)\s*;\s*$", str(lower.prims.flag_field(flag)))
        problem = field_problem(flag, m.group(1), set()) if m else None
        owner = next((p for p in policy.chain if any(f.name == flag for f in p.flags)), None)
        if problem is not None and owner is not None:
            decl = next(f for f in owner.flags if f.name == flag)
            problems.append(Diagnostic(problem, decl.span, owner.source, "rename the flag"))
    return problems


def _unique(problems: list[Diagnostic]) -> list[Diagnostic]:
    """One refusal per place: a call the target's kernel lacks is not also
    reported as a call its templates cannot write."""
    seen: set[tuple] = set()
    out = []
    for d in problems:
        key = (d.source.path if d.source else None, d.span.line if d.span else 0, d.span.column if d.span else 0)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return sorted(
        out,
        key=lambda d: (d.source.path if d.source else "", d.span.line if d.span else 0, d.span.column if d.span else 0),
    )
