"""Lower a policy's hook bodies to C lines through a target's Jinja2
templates. Every line carries the policy line it came from; whatever the
generated code needs besides itself (vcpu fields, the trap wiring, helpers
exported from fpsimd.c, a local `flags`) is collected as requirements."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field, replace

import jinja2

from fpdsl.diagnostics import Diagnostic, FpdslError, Span
from fpdsl.emit.edits import Line, Origin
from fpdsl.lang import ast
from fpdsl.resources import resource_dir

TRAP_PRIMITIVES = ("arm_fp_trap", "disarm_fp_trap", "fp_trap_armed")
NEON_BUSY_PRIMITIVES = ("set_kernel_neon_busy", "clear_kernel_neon_busy")
LOCAL_MARK = "//local: "
WIDTH = 80
TAB = 8


class Refusal(Exception):
    """A template's verdict that a primitive has no meaning for its target."""


def _refuse(reason: str) -> str:
    raise Refusal(reason)


def environment() -> jinja2.Environment:
    # FPDSL_TEMPLATES points at another template folder (a reviewer's
    # experiment, or a test that breaks a template on purpose).
    folder = os.environ.get("FPDSL_TEMPLATES") or str(resource_dir("templates"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )
    env.globals["refuse"] = _refuse
    return env


# Layouts that render through another layout's templates, told which one
# they are (v4.17 is v4.16's code with the run loop split in two).
TEMPLATE_DIRS = {"v4.17": "v4.16"}


def layout_environment(target: str) -> tuple[str, jinja2.Environment]:
    """The template folder a target renders through, and its environment."""
    env = environment()
    env.globals["layout"] = target
    return TEMPLATE_DIRS.get(target, target), env


@dataclass
class Needs:
    """What the lowered hooks need from the rest of the tree."""

    trap: Span | None = None  # first use of the guest FP trap
    flags: dict[str, Span] = field(default_factory=dict)
    neon_busy: Span | None = None
    neon_include: Span | None = None
    # hook -> local declarations its code needs, with the first use
    locals: dict[str, dict[str, Span]] = field(default_factory=dict)


class Lowering:
    """Renders hooks of one policy for one target."""

    def __init__(self, target: str, path: str, env: jinja2.Environment | None = None) -> None:
        self.env = env or environment()
        self.target = target
        self.path = path
        self.prims = self.env.get_template(f"{target}/primitives.c.j2").make_module()
        self.blocks = self.env.get_template("common/c_block.c.j2").make_module()
        self.needs = Needs()
        # None: the first refusal raises; a list: refusals are collected
        # there and lowering goes on (`fpdsl check --target`).
        self.refusals: list[Diagnostic] | None = None
        self._source = None
        self._hook: ast.Hook | None = None
        # checkpatch's limit: 80 columns in 2018, 100 since 5.7.
        self.width = 100 if target.startswith("v6") else WIDTH

    # -- statements ----------------------------------------------------------

    def body(self, hook: ast.Hook, stmts: tuple[ast.Stmt, ...], context: str, indent: str, source) -> list[Line]:
        self._source = source
        self._hook = hook
        return self._block(stmts, context, indent)

    def _block(self, stmts: tuple[ast.Stmt, ...], context: str, indent: str) -> list[Line]:
        out: list[Line] = []
        i = 0
        while i < len(stmts):
            run = _joined(stmts, i)
            if run and getattr(self.prims, f"{context}_{run[0]}", None) is not None:
                joined, length = run
                first = stmts[i]
                lead = self.comment(first.doc, indent, first.span.line - len(first.doc)) if first.doc else []
                text = self._macro(context, joined, (), first.span)
                out.extend(lead + self._lines(text, indent, self._origin(first.span, f"{joined}()")))
                i += length
                continue
            out.extend(self._stmt(stmts[i], context, indent))
            i += 1
        return out

    def _origin(self, span: Span, why: str) -> Origin:
        return Origin(self._hook.policy or self.path, span.line, why)

    def _stmt(self, stmt: ast.Stmt, context: str, indent: str) -> list[Line]:
        out = self.comment(stmt.doc, indent, stmt.span.line - len(stmt.doc)) if stmt.doc else []
        if isinstance(stmt, ast.Pass):
            return out
        if isinstance(stmt, ast.Assign):
            text = self._flag(stmt.span, stmt.flag, self.prims.flag_write, stmt.flag, stmt.value)
            self.needs.flags.setdefault(stmt.flag, stmt.span)
            return out + self._lines(text, indent, self._origin(stmt.span, f"{stmt.flag} = {str(stmt.value).lower()}"))
        if isinstance(stmt, ast.Call):
            text = self._macro(context, stmt.name, stmt.args, stmt.span)
            return out + self._lines(text, indent, self._origin(stmt.span, f"{stmt.name}()"))
        if isinstance(stmt, ast.Assertion):
            name = stmt.macro.lower()
            if context == "hyp":
                text = self._fail(
                    stmt.span, f"{name}() cannot be emitted in {_CONTEXTS[context]}: state the check in a host hook"
                )
            else:
                text = str(self.blocks.assertion(stmt.macro, self.expr(stmt.cond, context)))
            return out + self._lines(text, indent, self._origin(stmt.span, f"{name}()"))
        assert isinstance(stmt, ast.If)
        origin = self._origin(stmt.span, "if")
        cond = self.expr(stmt.cond, context)
        then = self._block(stmt.then, context, indent + "\t")
        chained = self._else_if(stmt, context, indent)
        if chained is not None:
            # "} else if (...) {": the else branch is one braced if.
            out.extend(Line(part, origin) for part in _fit(f"{indent}if ({cond}) {{", self.width))
            out.extend(then)
            out.append(Line(f"{indent}}} else {chained[0].text.lstrip()}", chained[0].origin))
            return out + chained[1:]
        orelse = self._block(stmt.orelse, context, indent + "\t")
        # Kernel style: no braces around single statements, unless the other
        # branch needs them.
        bare = len(then) == 1 and len(orelse) <= 1
        if orelse and len(orelse) != 1:
            bare = False
        head = f"{indent}if ({cond}){'' if bare else ' {'}"
        out.extend(Line(part, origin) for part in _fit(head, self.width))
        out.extend(then)
        if orelse:
            out.append(Line(f"{indent}else" if bare else f"{indent}}} else {{", origin))
            out.extend(orelse)
        if not bare:
            out.append(Line(f"{indent}}}", origin))
        return out

    def _else_if(self, stmt: ast.If, context: str, indent: str) -> list[Line] | None:
        """6.x (kernel style since 2018 too, but the 2018 layouts' patches
        are frozen): an else branch that is one if statement, rendered as
        that if's braced lines, for `} else if`; None otherwise."""
        if not self.target.startswith("v6") or len(stmt.orelse) != 1:
            return None
        inner = stmt.orelse[0]
        if not isinstance(inner, ast.If):
            return None
        lines = self._stmt(replace(inner, doc=()), context, indent)
        head = lines[0].text
        if not head.endswith("{") or len(_fit(head, self.width)) != 1:
            return None
        # The branch's comment goes first inside it, as kernel code has it.
        lead = self.comment(inner.doc, indent + "\t", inner.span.line - len(inner.doc)) if inner.doc else []
        return [lines[0], *lead, *lines[1:]]

    def _macro(self, context: str, name: str, args: tuple[ast.Arg, ...], span: Span) -> str:
        if name in TRAP_PRIMITIVES and self.needs.trap is None:
            self.needs.trap = span
        if name in NEON_BUSY_PRIMITIVES and self.needs.neon_busy is None:
            self.needs.neon_busy = span
        if name in ("kernel_neon_begin", "kernel_neon_end") and self.needs.neon_include is None:
            self.needs.neon_include = span
        macro = getattr(self.prims, f"{context}_{name}", None)
        if macro is None:
            return self._fail(span, f"{name}() cannot be emitted in {_CONTEXTS[context]} for target {self.target}")
        try:
            text = str(macro(*[a.name for a in args]))
        except Refusal as exc:
            return self._fail(span, f"{name}() cannot be emitted for target {self.target}: {exc}")
        # A template asks for a local variable with a leading "//local: " line.
        code = []
        for line in text.split("\n"):
            if line.startswith(LOCAL_MARK):
                self.needs.locals.setdefault(self._hook.name, {}).setdefault(line[len(LOCAL_MARK) :], span)
            else:
                code.append(line)
        return "\n".join(code)

    def _flag(self, span: Span, flag: str, macro, *args) -> str:
        # A target may have no place for a flag (6.x: only FP_ENABLED maps
        # onto the vcpu's FP ownership); that is a refusal at the flag's use.
        try:
            return str(macro(*args))
        except Refusal as exc:
            return self._fail(span, f"flag {flag} cannot be emitted for target {self.target}: {exc}")

    def _fail(self, span: Span, message: str) -> str:
        diagnostic = Diagnostic(message, span, self._source, f"the {self._hook.name} hook runs in {_where(self)}")
        if self.refusals is None:
            raise FpdslError(diagnostic)
        self.refusals.append(diagnostic)
        return ""

    def _lines(self, text: str, indent: str, origin: Origin) -> list[Line]:
        if not text:
            return []
        out = []
        for t in text.split("\n"):
            out.extend(Line(part, origin) for part in _fit(f"{indent}{t}" if t else "", self.width))
        return out

    # -- expressions ---------------------------------------------------------

    def expr(self, e: ast.Expr, context: str) -> str:
        if isinstance(e, ast.BoolLit):
            return "true" if e.value else "false"
        if isinstance(e, ast.FlagRef):
            self.needs.flags.setdefault(e.name, e.span)
            return self._flag(e.span, e.name, self.prims.flag_read, e.name)
        if isinstance(e, ast.Call):
            return self._macro(context, e.name, e.args, e.span)
        if isinstance(e, ast.Not):
            inner = self.expr(e.operand, context)
            if inner.startswith("!") and _atomic(inner[1:]):
                return inner[1:]
            return f"!{inner}" if _atomic(inner) else f"!({inner})"
        assert isinstance(e, ast.BinOp)
        parts = []
        for side in (e.left, e.right):
            text = self.expr(side, context)
            same_op = isinstance(side, ast.BinOp) and side.op == e.op
            parts.append(text if _atomic(text) or same_op or text.startswith("!") else f"({text})")
        return f" {e.op} ".join(parts)

    # -- comments ------------------------------------------------------------

    def comment(self, doc: tuple[str, ...], indent: str, first_line: int) -> list[Line]:
        """A `##` comment as a C comment; each line points at its own `##`
        line (or at the paragraph when it had to be rewrapped)."""
        # Deep nesting leaves little room; a comment still gets a usable width.
        width = max(self.width - _columns(indent) - 3, 20)
        lines = _rewrap(doc, width)
        if len(lines) == 1 and len(lines[0]) > width - 3:
            # "/* " and " */" on the one line: narrower, or it spills over the limit.
            lines = _rewrap(doc, width - 3)
        text = str(self.blocks.comment(lines)).split("\n")
        path = (self._hook.policy if self._hook is not None else None) or self.path
        out = []
        for i, t in enumerate(text):
            # The opening "/*" line maps to the first comment line, the body
            # lines to theirs, the closing " */" to the last.
            k = min(max(i - (1 if len(text) > 1 else 0), 0), len(doc) - 1) if lines == list(doc) else 0
            out.append(Line(f"{indent}{t}", Origin(path, first_line + k, "comment")))
        return out


# Statement runs a target may write as one call (a template macro named
# after the joined call), longest first. 6.x's fpsimd_save_and_flush_cpu_state()
# is exactly the four-statement run: it masks interrupts around the other two.
_RUNS = (
    (
        ("local_irq_save", "fpsimd_save", "fpsimd_flush_cpu_state", "local_irq_restore"),
        "fpsimd_save_and_flush_cpu_state",
    ),
    (("fpsimd_save", "fpsimd_flush_cpu_state"), "fpsimd_save_and_flush_cpu_state"),
)


def _joined(stmts: tuple, i: int) -> tuple[str, int] | None:
    """The joined call starting at stmts[i] and how many statements it covers;
    a comment on any but the first statement keeps them apart."""
    for names, joined in _RUNS:
        run = stmts[i : i + len(names)]
        if len(run) == len(names) and all(
            isinstance(s, ast.Call) and s.name == name and (k == 0 or not s.doc)
            for k, (s, name) in enumerate(zip(run, names, strict=True))
        ):
            return joined, len(names)
    return None


_CONTEXTS = {"host": "kernel (host) code", "hyp": "hyp (EL2) code"}


def _where(lowering: Lowering) -> str:
    return "hyp (EL2) code" if lowering._hook.name == "trap" else "kernel (host) code"


def _atomic(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == " " and depth == 0:
            return False
    return True


def _fit(line: str, width: int = WIDTH) -> list[str]:
    """Break a statement longer than `width` columns, kernel style: after a
    top-level ',', '&&' or '||' inside its first parenthesis, continuing
    under the character after that '('; failing that, right after the '(',
    continuing two tabs further in (one, if two do not fit)."""
    if _columns(line) <= width or "(" not in line:
        return [line]
    indent = line[: len(line) - len(line.lstrip("\t"))]
    cut = line.index("(") + 1
    aligned = _aligned(line, cut, width)
    if aligned is not None:
        return aligned
    rest = line[cut:]
    tries = [[line[:cut], f"{indent}{tabs}{rest}"] for tabs in ("\t\t", "\t")]
    return next((t for t in tries if _columns(t[1]) <= width), tries[-1])


def _aligned(line: str, cut: int, width: int) -> list[str] | None:
    """`line` broken after top-level separators of the parenthesis opened
    at `cut` - 1, each continuation aligned with `cut`; None if no break
    makes every line fit."""
    pieces, start, depth = [], 0, 0
    for i in range(cut, len(line)):
        ch = line[i]
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            break
        if depth == 0 and (line.startswith(", ", i) or line.startswith((" && ", " || "), i)):
            end = i + 1 if ch == "," else i + 3
            pieces.append(line[start:end])
            start = end + 1  # the space after the separator
    pieces.append(line[start:])
    if len(pieces) == 1:
        return None
    col = _columns(line[:cut])
    lead = "\t" * (col // TAB) + " " * (col % TAB)
    out = [pieces[0]]
    for piece in pieces[1:]:
        joined = f"{out[-1]} {piece}"
        out[-1:] = [joined] if _columns(joined) <= width else [out[-1], lead + piece]
    return out if all(_columns(text) <= width for text in out) else None


def _columns(indent: str) -> int:
    return sum(TAB if c == "\t" else 1 for c in indent)


def _rewrap(doc: tuple[str, ...], width: int) -> list[str]:
    """Keep the author's lines where they fit; rewrap a paragraph that
    does not."""
    if all(len(line) <= width for line in doc):
        return list(doc)
    out: list[str] = []
    para: list[str] = []
    for line in [*doc, ""]:
        if line.strip():
            para.append(line.strip())
            continue
        if para:
            # Whole words only: a comment never splits a word the policy wrote.
            out.extend(textwrap.wrap(" ".join(para), width, break_long_words=False, break_on_hyphens=False))
            para = []
        if line == "" and len(out) and len(out) < len(doc):
            out.append("")
    while out and out[-1] == "":
        out.pop()
    return out
