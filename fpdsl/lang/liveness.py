"""Which flags a hook overwrites before it can read them: the policy-side
half of the explorer's dead-value rules (SPIN's dead variable reduction).

A flag is *written first* by a hook when every path through the hook
assigns it, and no path reads it (in a condition) before that assignment.
Its value on entry to the hook cannot matter to anything the hook or a
later hook does."""

from __future__ import annotations

from fpdsl.lang import ast


def written_first(hook: ast.Hook) -> frozenset[str]:
    """The flags every path through `hook` assigns before any read of them."""
    written, read_early = _block(hook.body, frozenset())
    return written - read_early


def _block(stmts: tuple[ast.Stmt, ...], written: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(flags written on every path by the end, flags possibly read while not
    yet written), starting with `written` already assigned."""
    read_early: frozenset[str] = frozenset()
    for stmt in stmts:
        if isinstance(stmt, ast.Assign):
            written = written | {stmt.flag}
        elif isinstance(stmt, ast.Assertion):
            read_early |= _flags_of(stmt.cond) - written
        elif isinstance(stmt, ast.If):
            read_early |= _flags_of(stmt.cond) - written
            w_then, r_then = _block(stmt.then, written)
            w_else, r_else = _block(stmt.orelse, written)
            read_early |= r_then | r_else
            written = w_then & w_else
        # Calls and pass neither read nor write policy flags.
    return written, read_early


def _flags_of(expr: ast.Expr) -> frozenset[str]:
    return frozenset(e.name for e in ast.walk_expr(expr) if isinstance(e, ast.FlagRef))


# The primitives that set the guest's FP trap, and the predicate that reads it.
TRAP_WRITES = frozenset({"arm_fp_trap", "disarm_fp_trap"})
TRAP_READ = "fp_trap_armed"
# Flag valuations are enumerated: beyond this many flags the analysis says no.
MAX_FLAGS = 10


def trap_set_before_guest(hooks: dict[str, ast.Hook], flags: list[str]) -> bool:
    """Whether, from a state with the vcpu unloaded and any flag values, the
    policy sets the guest's FP trap before the guest can next run: load,
    then any number of softirq hooks, then enter, assign it on every path
    (kernel predicates may go either way). No hook may read the trap."""
    if len(flags) > MAX_FLAGS or any(_reads_trap(h.body) for h in hooks.values()):
        return False
    index = {name: i for i, name in enumerate(flags)}
    states = {(values, False) for values in _valuations(len(flags))}
    states = _run(hooks.get("load"), states, index)
    while True:  # softirq hooks, up to a fixpoint
        more = states | _run(hooks.get("softirq"), states, index)
        if more == states:
            break
        states = more
    return all(written for _values, written in _run(hooks.get("enter"), states, index))


State = tuple[tuple[bool, ...], bool]  # (flag values, trap assigned so far)


def _valuations(n: int) -> list[tuple[bool, ...]]:
    return [tuple(bool(bits >> i & 1) for i in range(n)) for bits in range(1 << n)]


def _run(hook: ast.Hook | None, states: set[State], index: dict[str, int]) -> set[State]:
    if hook is None:
        return set(states)
    return {out for state in states for out in _stmts(hook.body, state, index)}


def _stmts(stmts: tuple[ast.Stmt, ...], state: State, index: dict[str, int]) -> set[State]:
    states = {state}
    for stmt in stmts:
        states = {out for s in states for out in _stmt(stmt, s, index)}
    return states


def _stmt(stmt: ast.Stmt, state: State, index: dict[str, int]) -> set[State]:
    values, written = state
    if isinstance(stmt, ast.Assign):
        changed = list(values)
        changed[index[stmt.flag]] = stmt.value
        return {(tuple(changed), written)}
    if isinstance(stmt, ast.If):
        cond = _eval(stmt.cond, values, index)
        out: set[State] = set()
        if cond is not False:
            out |= _stmts(stmt.then, state, index)
        if cond is not True:
            out |= _stmts(stmt.orelse, state, index)
        return out
    if isinstance(stmt, ast.Call) and stmt.name in TRAP_WRITES:
        return {(values, True)}
    return {state}


def _eval(expr: ast.Expr, values: tuple[bool, ...], index: dict[str, int]) -> bool | None:
    """True, False, or None where a kernel predicate decides."""
    if isinstance(expr, ast.BoolLit):
        return expr.value
    if isinstance(expr, ast.FlagRef):
        return values[index[expr.name]]
    if isinstance(expr, ast.Not):
        inner = _eval(expr.operand, values, index)
        return None if inner is None else not inner
    if isinstance(expr, ast.BinOp):
        left, right = _eval(expr.left, values, index), _eval(expr.right, values, index)
        if expr.op == "&&":
            if left is False or right is False:
                return False
            return None if left is None or right is None else True
        if left is True or right is True:
            return True
        return None if left is None or right is None else False
    return None


def _reads_trap(stmts: tuple[ast.Stmt, ...]) -> bool:
    return any(
        isinstance(e, ast.Call) and e.name == TRAP_READ for cond in ast.conditions(stmts) for e in ast.walk_expr(cond)
    )
