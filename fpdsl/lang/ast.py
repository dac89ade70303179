"""The syntax tree of a policy. Every node carries its source span so that
diagnostics, traces and emitted hunks can point back at the policy line."""

from __future__ import annotations

from dataclasses import dataclass, field

from fpdsl.diagnostics import Source, Span


@dataclass(frozen=True)
class Arg:
    name: str
    span: Span


@dataclass(frozen=True)
class Call:
    """A primitive statement, or a predicate when used in an expression."""

    name: str
    args: tuple[Arg, ...]
    span: Span
    doc: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assign:
    flag: str
    value: bool
    span: Span
    doc: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pass:
    span: Span
    doc: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoolLit:
    value: bool
    span: Span


@dataclass(frozen=True)
class FlagRef:
    name: str
    span: Span


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # "&&" or "||"
    left: Expr
    right: Expr
    span: Span


Expr = Call | BoolLit | FlagRef | Not | BinOp


@dataclass(frozen=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span
    doc: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assertion:
    """`bug_on(cond)` or `warn_on_once(cond)`: a condition the kernel checks
    at run time (BUG_ON(), WARN_ON_ONCE()); true is a broken kernel rule."""

    macro: str  # "BUG_ON" or "WARN_ON_ONCE"
    cond: Expr
    span: Span
    doc: tuple[str, ...] = ()


Stmt = Call | Assign | If | Pass | Assertion


@dataclass(frozen=True)
class FlagDecl:
    name: str
    initial: bool
    span: Span


@dataclass(frozen=True)
class Hook:
    name: str
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span
    doc: tuple[str, ...] = ()
    policy: str = ""  # the policy (file) that defined it, set by the loader


@dataclass
class Policy:
    name: str
    description: str
    kernel: str | None
    extends: str | None
    flags: list[FlagDecl]
    hooks: list[Hook]
    source: Source
    name_span: Span
    kernel_span: Span | None = None
    extends_span: Span | None = None
    base: Policy | None = field(default=None, repr=False)

    def own_hook(self, name: str) -> Hook | None:
        for hook in self.hooks:
            if hook.name == name:
                return hook
        return None


def walk_stmts(body: tuple[Stmt, ...]):
    """Every statement in a body, nested ones included, in source order."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, If):
            yield from walk_stmts(stmt.then)
            yield from walk_stmts(stmt.orelse)


def conditions(body: tuple[Stmt, ...]):
    """Every condition a body evaluates (of an 'if' or an assertion), nested ones included."""
    for stmt in walk_stmts(body):
        if isinstance(stmt, (If, Assertion)):
            yield stmt.cond


def walk_expr(expr: Expr):
    yield expr
    if isinstance(expr, Not):
        yield from walk_expr(expr.operand)
    elif isinstance(expr, BinOp):
        yield from walk_expr(expr.left)
        yield from walk_expr(expr.right)
