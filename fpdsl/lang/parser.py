"""Parse policy text into the syntax tree. The LALR parser is built once and
cached; every Lark exception is translated into a located Diagnostic."""

from __future__ import annotations

import functools

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from fpdsl.diagnostics import Diagnostic, FpdslError, Source, Span
from fpdsl.lang import ast
from fpdsl.resources import resource_dir

# What each terminal is called in an error message.
TERMINAL_NAMES = {
    "POLICY": "'policy'",
    "KERNEL": "'kernel'",
    "EXTENDS": "'extends'",
    "FLAG": "'flag'",
    "HOOK": "'hook'",
    "IF": "'if'",
    "ELSE": "'else'",
    "PASS": "'pass'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "KERNEL_VERSION": "a kernel version such as v4.16",
    "NAME": "a name",
    "STRING": 'a "quoted description"',
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "SEMI": "';'",
    "ASSIGN": "'='",
    "AND": "'&&'",
    "OR": "'||'",
    "NOT": "'!'",
    "DOC_COMMENT": "a '##' comment",
    "$END": "end of file",
}


@functools.cache
def _parser() -> Lark:
    grammar = (resource_dir("grammars") / "fpdsl.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _span(meta_or_token) -> Span:
    if isinstance(meta_or_token, Token):
        return Span(meta_or_token.line, meta_or_token.column, meta_or_token.end_line, meta_or_token.end_column)
    return Span(meta_or_token.line, meta_or_token.column, meta_or_token.end_line, meta_or_token.end_column)


def _doc(items: list) -> tuple[tuple[str, ...], list]:
    """Split a leading doc_comment (tuple of lines) off a rule's children."""
    if items and isinstance(items[0], tuple) and all(isinstance(x, str) for x in items[0]):
        return items[0], items[1:]
    if items and items[0] is None:
        return (), items[1:]
    return (), items


@v_args(meta=True)
class _ToAst(Transformer):
    def doc_comment(self, meta, tokens):
        return tuple(str(t)[2:].strip() for t in tokens)

    def bool_lit(self, meta, items):
        return ast.BoolLit(items[0].type == "TRUE", _span(meta))

    def args(self, meta, names):
        return tuple(ast.Arg(str(n), _span(n)) for n in names if n.type == "NAME")

    def call(self, meta, items):
        name, _lpar, args, _rpar = items
        return ast.Call(str(name), args or (), _span(meta))

    def call_stmt(self, meta, items):
        doc, rest = _doc(items)
        call: ast.Call = rest[0]
        return ast.Call(call.name, call.args, call.span, doc)

    def assign_stmt(self, meta, items):
        doc, rest = _doc(items)
        name, _eq, value = rest[0], rest[1], rest[2]
        return ast.Assign(str(name), value.value, Span(name.line, name.column, name.end_line, name.end_column), doc)

    def pass_stmt(self, meta, items):
        doc, rest = _doc(items)
        return ast.Pass(_span(rest[0]), doc)

    def block(self, meta, items):
        return tuple(i for i in items if not isinstance(i, Token))

    def else_part(self, meta, items):
        body = items[1]
        return (body,) if isinstance(body, ast.If) else body

    def if_stmt(self, meta, items):
        doc, rest = _doc(items)
        cond, then = rest[1], rest[2]
        orelse = rest[3] if len(rest) > 3 and rest[3] is not None else ()
        return ast.If(cond, then, orelse, _span(rest[0]), doc)

    def predicate(self, meta, items):
        return items[0]

    def flag_ref(self, meta, items):
        return ast.FlagRef(str(items[0]), _span(items[0]))

    def group(self, meta, items):
        return items[1]

    def negation(self, meta, items):
        return ast.Not(items[1], _span(meta))

    def _binop(self, meta, items):
        expr = items[0]
        for i in range(1, len(items), 2):
            expr = ast.BinOp(str(items[i]), expr, items[i + 1], _span(meta))
        return expr

    or_expr = _binop
    and_expr = _binop

    def hook(self, meta, items):
        doc, rest = _doc(items)
        kw, name, _lb, *body, rb = rest
        stmts = tuple(s for s in body if not isinstance(s, Token))
        span = Span(kw.line, kw.column, rb.end_line, rb.end_column)
        return ast.Hook(str(name), stmts, span, _span(name), doc)

    def decl(self, meta, items):
        _doc_lines, rest = _doc(items)
        _kw, name, _eq, value = rest
        return ast.FlagDecl(str(name), bool(value and value.value), _span(name))

    def kernel_decl(self, meta, items):
        return ("kernel", str(items[1]), _span(items[1]))

    def extends_decl(self, meta, items):
        return ("extends", str(items[1]), _span(items[1]))

    def header(self, meta, items):
        _kw, name, desc, kernel, extends = items
        return name, desc, kernel, extends


def parse_policy(source: Source) -> ast.Policy:
    """Parse one policy; raise FpdslError with a located diagnostic."""
    if not source.text.strip():
        raise FpdslError(
            Diagnostic(
                "empty policy file",
                Span(1, 1),
                source,
                hint='a policy starts with: policy NAME "one-line description"',
            )
        )
    try:
        tree = _parser().parse(source.text)
    except UnexpectedInput as exc:
        raise FpdslError(_translate(exc, source)) from None
    header, *rest = tree.children
    name, desc, kernel, extends = _ToAst().transform(header)
    body = [_ToAst().transform(c) for c in rest]
    return ast.Policy(
        name=str(name),
        description=str(desc)[1:-1],
        kernel=kernel[1] if kernel else None,
        extends=extends[1] if extends else None,
        flags=[b for b in body if isinstance(b, ast.FlagDecl)],
        hooks=[b for b in body if isinstance(b, ast.Hook)],
        source=source,
        name_span=_span(name),
        kernel_span=kernel[2] if kernel else None,
        extends_span=extends[2] if extends else None,
    )


def _describe_expected(expected: set[str]) -> str:
    names = sorted({TERMINAL_NAMES.get(t, t.lower()) for t in expected if not t.startswith("__")})
    if not names:
        return "something else"
    if len(names) > 6:
        return ", ".join(names[:6]) + ", ..."
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _token_text(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    return f"'{token}'"


def _translate(exc: UnexpectedInput, source: Source) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        char = source.text[exc.pos_in_stream] if exc.pos_in_stream < len(source.text) else "?"
        hint = None
        if char == '"':
            hint = "strings are one line: close the quote on the same line"
        elif char in "&|":
            hint = "use '&&' and '||' for 'and' and 'or'"
        elif char == "/":
            hint = "comments start with '#' ('##' for a comment carried into the emitted C)"
        return Diagnostic(f"unexpected character {char!r}", Span(exc.line, exc.column), source, hint)
    if isinstance(exc, UnexpectedEOF):
        lines = source.text.splitlines() or [""]
        line = len(lines)
        return Diagnostic(
            f"unexpected end of file, expected {_describe_expected(set(exc.expected))}",
            Span(line, len(lines[-1]) + 1),
            source,
            "is a '}' missing?",
        )
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        expected = set(exc.expected)
        if token.type == "$END":
            lines = source.text.splitlines() or [""]
            span = Span(len(lines), len(lines[-1]) + 1)
            return Diagnostic(
                f"unexpected end of file, expected {_describe_expected(expected)}",
                span,
                source,
                "is a '}' missing?" if "RBRACE" in expected else None,
            )
        span = Span(token.line, token.column, token.end_line or token.line, token.end_column or token.column + 1)
        hint = _hint_for(token, expected)
        return Diagnostic(
            f"unexpected {_token_text(token)}, expected {_describe_expected(expected)}", span, source, hint
        )
    return Diagnostic(str(exc).splitlines()[0], None, source)


def _hint_for(token: Token, expected: set[str]) -> str | None:
    if "POLICY" in expected:
        return 'a policy starts with: policy NAME "one-line description"'
    if token.type == "STRING" and "NAME" in expected:
        return "names are not quoted"
    if "STRING" in expected:
        return "give the policy a one-line description in double quotes after its name"
    if token.type in {"FLAG", "KERNEL", "EXTENDS"}:
        return "declarations come in this order: policy, kernel, extends, flags, then hooks"
    if "LPAR" in expected and token.type != "LPAR" and "ASSIGN" in expected:
        return "a statement is a call such as fpsimd_save() or a flag assignment such as FP_ENABLED = true"
    if token.type == "ASSIGN" and "ASSIGN" not in expected:
        return "flags are assigned true or false in a hook body"
    if "LBRACE" in expected:
        return "bodies are enclosed in { }"
    return None
