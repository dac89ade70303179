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
        elif isinstance(stmt, ast.If):
            read_early |= _flags_of(stmt.cond) - written
            w_then, r_then = _block(stmt.then, written)
            w_else, r_else = _block(stmt.orelse, written)
            read_early |= r_then | r_else
            written = w_then & w_else
        # Calls and pass neither read nor write policy flags.
    return written, read_early


def _flags_of(expr: ast.Expr) -> frozenset[str]:
    if isinstance(expr, ast.FlagRef):
        return frozenset({expr.name})
    if isinstance(expr, ast.Not):
        return _flags_of(expr.operand)
    if isinstance(expr, ast.BinOp):
        return _flags_of(expr.left) | _flags_of(expr.right)
    return frozenset()  # literals and kernel predicates
