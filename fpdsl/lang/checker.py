"""Semantic checks: names, arguments, duplicates, kernel-version availability
and the balance of preempt/softirq/interrupt state along every path of a hook."""

from __future__ import annotations

from fpdsl.diagnostics import Diagnostic, FpdslError, Span, did_you_mean
from fpdsl.lang import ast
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.lang.vocabulary import (
    ARG_KINDS,
    ARGUMENT_RULES,
    HOOKS,
    KERNEL_VERSIONS,
    PAIRED_HOOKS,
    PREDICATES,
    PRIMITIVES,
    REPLACEMENTS,
    Effect,
    effect_in,
    kernel_index,
)

_KIND_WORDS = {"storage": "saved state", "bindable": "bindable state", "thread_flag": "thread flag"}

_COUNTERS = ("preempt", "bh", "irq", "neon")
_COUNTER_WORDS = {
    "preempt": "preemption (preempt_disable/enable)",
    "bh": "softirqs (local_bh_disable/enable)",
    "irq": "interrupts (local_irq_*)",
    "neon": "kernel-mode NEON (kernel_neon_begin/end)",
}


class _Checker:
    def __init__(self, resolved: ResolvedPolicy) -> None:
        self.resolved = resolved
        self.diags: list[Diagnostic] = []
        self.source = resolved.policy.source
        self.flags = {f.name for f in resolved.flags}

    def error(self, message: str, span: Span | None, hint: str | None = None, source=None) -> None:
        self.diags.append(Diagnostic(message, span, source or self.source, hint))

    # ---- declarations ---------------------------------------------------

    def check_policy(self, policy: ast.Policy) -> None:
        src = policy.source
        if policy.kernel is not None and policy.kernel not in KERNEL_VERSIONS:
            self.error(
                f"unknown kernel model '{policy.kernel}'",
                policy.kernel_span,
                "the model knows " + ", ".join(KERNEL_VERSIONS),
                src,
            )
        seen: dict[str, ast.FlagDecl] = {}
        for flag in policy.flags:
            if flag.name in seen:
                self.error(
                    f"flag '{flag.name}' declared twice (first at line {seen[flag.name].span.line})",
                    flag.span,
                    "remove one declaration",
                    src,
                )
                continue
            if flag.name in PRIMITIVES or flag.name in PREDICATES or flag.name in HOOKS:
                self.error(f"flag '{flag.name}' has the name of a kernel primitive", flag.span, "rename the flag", src)
            seen[flag.name] = flag
        hooks: dict[str, ast.Hook] = {}
        for hook in policy.hooks:
            if hook.name not in HOOKS:
                guess = did_you_mean(hook.name, list(HOOKS))
                self.error(
                    f"unknown hook '{hook.name}'",
                    hook.name_span,
                    f"did you mean '{guess}'?" if guess else "hooks are " + ", ".join(HOOKS),
                    src,
                )
            elif hook.name in hooks:
                self.error(
                    f"hook '{hook.name}' defined twice (first at line {hooks[hook.name].span.line})",
                    hook.name_span,
                    "merge the two bodies",
                    src,
                )
            else:
                hooks[hook.name] = hook
            self.check_body(hook.body, src, HOOKS[hook.name].context if hook.name in HOOKS else "host")

    def check_flag_spellings(self) -> None:
        """Flags that differ only in case name one thing wherever a flag
        becomes an identifier (C fields are lower case), so they are
        refused, across a policy and its bases too."""
        first: dict[str, tuple[ast.FlagDecl, ast.Policy]] = {}
        for policy in reversed(self.resolved.chain):  # the base's declaration comes first
            for flag in policy.flags:
                key = flag.name.casefold()
                if key not in first:
                    first[key] = (flag, policy)
                    continue
                other, where = first[key]
                if other.name != flag.name:
                    at = f"{where.source.path}:{other.span.line}"
                    self.error(
                        f"flag '{flag.name}' differs from flag '{other.name}' ({at}) only in case",
                        flag.span,
                        "flags become C identifiers, where the two would be one: rename one of them",
                        policy.source,
                    )

    # ---- statements and expressions ---------------------------------------

    def check_body(self, body: tuple[ast.Stmt, ...], src, context: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Call):
                self.check_call(stmt, src, True, context)
            elif isinstance(stmt, ast.Assign):
                self.check_flag(stmt.flag, stmt.span, src, assigned=True)
            elif isinstance(stmt, ast.Assertion):
                self.check_expr(stmt.cond, src, context)
            elif isinstance(stmt, ast.If):
                self.check_expr(stmt.cond, src, context)
                self.check_body(stmt.then, src, context)
                self.check_body(stmt.orelse, src, context)

    def check_context(self, call: ast.Call, spec, src, context: str) -> None:
        """Kernel semantics of where code runs: the hyp cannot call kernel
        functions, and some arguments mean nothing in some kernels."""
        kernel = self.resolved.kernel
        if kernel not in KERNEL_VERSIONS:
            return  # reported at the kernel line
        if context == "hyp" and (spec.hyp is None or KERNEL_VERSIONS.index(kernel) < KERNEL_VERSIONS.index(spec.hyp)):
            can = [f"{n}()" for n, p in {**PRIMITIVES, **PREDICATES}.items() if _hyp_has(p, kernel)]
            why = "is kernel (host) code" if spec.hyp is None else f"is hyp code only since {spec.hyp}"
            self.error(
                f"{call.name}() {why}: the trap hook runs in the hyp (EL2), with the kernel's functions unmapped",
                call.span,
                f"in {kernel}'s hyp: {', '.join(can)}, and the vcpu's flags; do the rest in a host hook",
                src,
            )
            return
        for rule in ARGUMENT_RULES:
            if (rule.primitive, rule.context) == (call.name, context) and kernel in rule.kernels:
                for arg in call.args:
                    if arg.name == rule.arg:
                        self.error(f"{call.name}({arg.name}) in {kernel}: {rule.reason}", arg.span, None, src)

    def check_call(self, call: ast.Call, src, statement: bool, context: str = "host") -> None:
        table, other = (PRIMITIVES, PREDICATES) if statement else (PREDICATES, PRIMITIVES)
        what = "primitive" if statement else "predicate"
        spec = table.get(call.name)
        if spec is None:
            if call.name in other and statement:
                self.error(
                    f"'{call.name}' is a predicate, not a statement",
                    call.span,
                    f"test it in a condition: if {_usage(other[call.name])} {{ ... }}",
                    src,
                )
            elif call.name in other:
                self.error(
                    f"'{call.name}' is a primitive, not a condition",
                    call.span,
                    f"call it as a statement; conditions are predicates such as {_usage(PREDICATES['fp_trap_armed'])}",
                    src,
                )
            else:
                guess = did_you_mean(call.name, list(table))
                hint = f"did you mean '{guess}()'?" if guess else f"see `fpdsl primitives` for the list of {what}s"
                self.error(f"unknown {what} '{call.name}'", call.span, hint, src)
            return
        if len(call.args) != len(spec.args):
            n = len(spec.args)
            takes = "no arguments" if n == 0 else f"{n} argument{'s' if n != 1 else ''}"
            # Point at the first argument too many, or at the call when one is missing.
            span = call.args[n].span if len(call.args) > n else call.span
            self.error(f"{call.name}() takes {takes}, got {len(call.args)}", span, f"write {_usage(spec)}", src)
            return
        for arg, kind in zip(call.args, spec.args, strict=True):
            allowed = ARG_KINDS[kind]
            if arg.name not in allowed:
                guess = did_you_mean(arg.name, list(allowed))
                hint = f"did you mean '{guess}'?" if guess else f"write {_usage(spec)}"
                self.error(
                    f"{call.name}(): '{arg.name}' is not a {_KIND_WORDS.get(kind, kind)} ({_one_of(allowed)})",
                    arg.span,
                    hint,
                    src,
                )
        self.check_context(call, spec, src, context)
        kernel = self.resolved.kernel
        if kernel not in KERNEL_VERSIONS:
            return
        if spec.until is not None and kernel_index(kernel) > kernel_index(spec.until):
            self.error(
                f"{call.name}() is not in the {kernel} host machinery (the last model with it is {spec.until})",
                call.span,
                REPLACEMENTS.get(call.name, f"declare 'kernel {spec.until}'"),
                src,
            )
        if spec.since is not None and kernel_index(kernel) < kernel_index(spec.since):
            self.error(
                f"{call.name}() does not exist in the {kernel} host machinery",
                call.span,
                f"declare 'kernel {spec.since}' (or later) after the policy line",
                src,
            )

    def check_flag(self, name: str, span: Span, src, assigned: bool = False) -> None:
        if name in self.flags:
            return
        if name in PREDICATES and not assigned:
            hint = f"predicates are called: {name}()"
        else:
            guess = did_you_mean(name, self.flags | (set() if assigned else set(PREDICATES)))
            if guess in PREDICATES:
                hint = f"did you mean '{guess}()'?"
            elif guess:
                hint = f"did you mean '{guess}'?"
            else:
                hint = f"declare it: flag {name}"
        self.error(f"unknown flag '{name}'", span, hint, src)

    def check_expr(self, expr: ast.Expr, src, context: str) -> None:
        for node in ast.walk_expr(expr):
            if isinstance(node, ast.Call):
                self.check_call(node, src, False, context)
            elif isinstance(node, ast.FlagRef):
                self.check_flag(node.name, node.span, src)

    # ---- balance ------------------------------------------------------------

    def effect_of(self, body: tuple[ast.Stmt, ...], src) -> Effect | None:
        """The net effect of a body; None (after reporting) if paths disagree."""
        total = Effect()
        for stmt in body:
            if isinstance(stmt, ast.Call):
                spec = PRIMITIVES.get(stmt.name)
                if spec is not None:
                    total = _add(total, effect_in(spec, self.resolved.kernel))
            elif isinstance(stmt, ast.If):
                then = self.effect_of(stmt.then, src)
                orelse = self.effect_of(stmt.orelse, src)
                if then is None or orelse is None:
                    return None
                if then != orelse:
                    which = [c for c in _COUNTERS if getattr(then, c) != getattr(orelse, c)]
                    self.error(
                        "the branches of this 'if' leave "
                        + ", ".join(_COUNTER_WORDS[c] for c in which)
                        + f" unbalanced ({_show(then)} vs {_show(orelse)})",
                        stmt.span,
                        "disable and enable in the same branch",
                        src,
                    )
                    return None
                total = _add(total, then)
        return total

    def check_run_loop_irq_enable(self, hook: ast.Hook, src) -> None:
        """The run loop enables interrupts once, unconditionally, after the
        guest exit: the exit hook's one local_irq_enable() stands for that
        call, so it is a top-level statement and the hook's only one."""
        top = [s for s in hook.body if isinstance(s, ast.Call) and s.name == "local_irq_enable"]
        every = [s for s in ast.walk_stmts(hook.body) if isinstance(s, ast.Call) and s.name == "local_irq_enable"]
        if len(top) == 1 and len(every) == 1:
            return
        stray = next((s for s in every if s not in top), None) or (top[1] if len(top) > 1 else hook)
        self.error(
            "the exit hook's local_irq_enable() is the run loop's own: write it exactly once, at the hook's top level",
            stray.span if stray is not hook else hook.name_span,
            "code before it runs with interrupts off, code after it with interrupts on",
            src,
        )

    def check_balance(self) -> None:
        effects: dict[str, Effect] = {}
        for name, hook in self.resolved.hooks.items():
            if name not in HOOKS:
                continue
            src = _source_of(self.resolved, hook)
            eff = self.effect_of(hook.body, src)
            if eff is None:
                continue
            effects[name] = eff
            if name == "exit" and eff.irq == -1:
                self.check_run_loop_irq_enable(hook, src)
            required = Effect(irq=HOOKS[name].irq_delta)
            if name in PAIRED_HOOKS:
                continue
            if eff != required:
                if name == "exit" and eff.irq > -1:
                    self.error(
                        "the exit hook must contain the run loop's local_irq_enable()",
                        hook.name_span,
                        "interrupts are off when the exit hook starts; write local_irq_enable() where the run "
                        "loop should enable them",
                        src,
                    )
                elif name == "exit" and eff.irq < -1:
                    self.error(
                        f"the exit hook enables interrupts {-eff.irq} times; it must do so exactly once",
                        hook.name_span,
                        "interrupts are off when the exit hook starts and its one local_irq_enable() is the run "
                        "loop's; any other local_irq_enable() needs a local_irq_disable() before it",
                        src,
                    )
                else:
                    self.error(
                        f"hook '{name}' leaves state unbalanced: {_show(_sub(eff, required))}",
                        hook.name_span,
                        _balance_hint(_sub(eff, required)),
                        src,
                    )
        load, put = effects.get("load", Effect()), effects.get("put", Effect())
        if _add(load, put) != Effect() and ("load" in effects or "put" in effects):
            hook = self.resolved.hooks.get("load") or self.resolved.hooks.get("put")
            self.error(
                f"hooks 'load' and 'put' do not balance: load {_show(load)}, put {_show(put)}",
                hook.name_span,
                "what load disables, put must enable",
                _source_of(self.resolved, hook),
            )


# What restores each counter: (call that undoes a +1, call that undoes a -1).
_UNDO = {
    "preempt": ("preempt_enable()", "preempt_disable()"),
    "bh": ("local_bh_enable()", "local_bh_disable()"),
    "irq": ("local_irq_enable() (or local_irq_restore())", "local_irq_disable() (or local_irq_save())"),
    "neon": ("kernel_neon_end()", "kernel_neon_begin()"),
}


def _balance_hint(e: Effect) -> str:
    """Name the call that is missing, e.g. 'add local_bh_enable()'."""
    counters = [c for c in _COUNTERS if getattr(e, c)]
    for implied in ("preempt", "bh"):  # what kernel_neon_begin() also disables (2018, 6.1)
        if "neon" in counters and implied in counters and getattr(e, implied) == e.neon:
            counters.remove(implied)
    missing = [_UNDO[c][0 if getattr(e, c) > 0 else 1] for c in counters]
    return (
        "every disable needs its enable in the same hook (only load and put may pair up): add " + " and ".join(missing)
        if missing
        else "every disable needs its enable in the same hook"
    )


def _hyp_has(spec, kernel: str) -> bool:
    return spec.hyp is not None and KERNEL_VERSIONS.index(kernel) >= KERNEL_VERSIONS.index(spec.hyp)


def _one_of(values) -> str:
    values = list(values)
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _usage(spec) -> str:
    """fpsimd_save_state(guest|host|task)"""
    return f"{spec.name}(" + ", ".join("|".join(ARG_KINDS[k]) for k in spec.args) + ")"


def _source_of(resolved: ResolvedPolicy, hook: ast.Hook):
    for policy in resolved.chain:
        if policy.source.path == hook.policy:
            return policy.source
    return resolved.policy.source


def _add(a: Effect, b: Effect) -> Effect:
    return Effect(*(getattr(a, c) + getattr(b, c) for c in _COUNTERS))


def _sub(a: Effect, b: Effect) -> Effect:
    return Effect(*(getattr(a, c) - getattr(b, c) for c in _COUNTERS))


def _show(e: Effect) -> str:
    parts = [f"{c} {getattr(e, c):+d}" for c in _COUNTERS if getattr(e, c)]
    return ", ".join(parts) if parts else "balanced"


def check(resolved: ResolvedPolicy) -> list[Diagnostic]:
    """All diagnostics for a resolved policy (empty when it is clean)."""
    checker = _Checker(resolved)
    for policy in resolved.chain:
        checker.check_policy(policy)
    checker.check_flag_spellings()
    if not checker.diags:
        checker.check_balance()
    return checker.diags


def check_or_raise(resolved: ResolvedPolicy) -> ResolvedPolicy:
    diags = check(resolved)
    if diags:
        raise FpdslError(diags)
    return resolved
