"""Parse policy text into the syntax tree. The LALR parser is built once and
cached; every Lark exception is translated into a located Diagnostic."""

from __future__ import annotations

import functools
import re

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternRE, PatternStr, TerminalDef

from fpdsl.diagnostics import Diagnostic, FpdslError, Source, Span
from fpdsl.lang import ast
from fpdsl.lang.tables import grammar_path, load_tables
from fpdsl.lang.text_rules import check_text
from fpdsl.lang.vocabulary import PREDICATES, PRIMITIVES

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
    "BUG_ON": "'bug_on'",
    "WARN_ON_ONCE": "'warn_on_once'",
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


# Keyword text -> terminal name ("flag" -> "FLAG"), filled when the parser is built.
_KEYWORDS: dict[str, str] = {}

# Deeper nesting of blocks or expressions than this is refused (the tree
# transformer and the checker recurse).
MAX_NESTING = 100


_WHOLE_WORD = r"(?![A-Za-z0-9_])"


def _whole_word_keywords(terminal: TerminalDef) -> None:
    """Keywords match whole words only. Lark's contextual lexer would otherwise
    read `flagX` as `flag X` (and `policyp` as `policy p`) wherever a name is
    not expected."""
    pattern = terminal.pattern
    if isinstance(pattern, PatternStr) and pattern.value.isidentifier():
        _KEYWORDS[pattern.value] = terminal.name
        terminal.pattern = PatternRE(re.escape(pattern.value) + _WHOLE_WORD, pattern.flags)
        terminal.priority = 1  # before NAME where both may come


def _keyword_as_name(token: Token) -> Token:
    """A keyword lexed as a NAME (where no keyword may come) is given back its
    keyword type, so `flag if` or a stray `else` is a syntax error about the
    keyword rather than a flag called `if`."""
    kind = _KEYWORDS.get(str(token))
    return Token.new_borrow_pos(kind, str(token), token) if kind else token


def build_parser(grammar: str) -> Lark:
    """Build the LALR parser from the grammar text (what the shipped tables hold)."""
    return Lark(
        grammar,
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        edit_terminals=_whole_word_keywords,
        lexer_callbacks={"NAME": _keyword_as_name},
    )


@functools.cache
def _parser() -> Lark:
    grammar = grammar_path().read_text(encoding="utf-8")
    parser = load_tables(grammar, {"NAME": _keyword_as_name})
    if parser is None:
        return build_parser(grammar)
    for terminal in parser.terminals:  # what _whole_word_keywords recorded when the tables were built
        pattern = terminal.pattern
        if isinstance(pattern, PatternRE) and pattern.value.endswith(_WHOLE_WORD):
            _KEYWORDS[pattern.value[: -len(_WHOLE_WORD)]] = terminal.name
    return parser


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

    def assert_stmt(self, meta, items):
        doc, rest = _doc(items)
        keyword, _lpar, cond = rest[0], rest[1], rest[2]
        return ast.Assertion(str(keyword).upper(), cond, _span(keyword), doc)

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
        raise FpdslError(_empty(source, "empty policy file"))
    try:
        tree = _parser().parse(source.text)
    except UnexpectedInput as exc:
        raise FpdslError(_translate(exc, source)) from None
    _check_nesting(tree, source)
    check_text(tree, source)
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


def _empty(source: Source, message: str) -> Diagnostic:
    return Diagnostic(message, Span(1, 1), source, hint='a policy starts with: policy NAME "one-line description"')


def _check_nesting(tree: Tree, source: Source) -> None:
    """Refuse absurd nesting before anything recurses over the tree: the
    transformer, the checker and the interpreter all do. A level is an 'if'
    inside a body, a '!', a '(' or one more operand of '&&'/'||' (which nest
    in the syntax tree)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in _NESTING:
            depth += 1
        elif node.data in {"and_expr", "or_expr"}:
            depth += len(node.children) // 2
        if depth > MAX_NESTING:
            meta = node.meta
            long_chain = node.data in {"and_expr", "or_expr"}
            raise FpdslError(
                Diagnostic(
                    f"condition too complex: more than {MAX_NESTING} operators and levels of nesting"
                    if long_chain
                    else f"nested too deeply: more than {MAX_NESTING} levels of 'if', '!' and '('",
                    Span(meta.line, meta.column) if not meta.empty else Span(1, 1),
                    source,
                    "split the condition or the 'if' into simpler pieces",
                )
            )
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))


_NESTING = {"if_stmt", "negation", "group"}


# ---- syntax errors ----------------------------------------------------------

# Collapsed in "expected ...": the terminals that may start a statement, a condition.
_STATEMENT_START = {"NAME", "IF", "PASS", "BUG_ON", "WARN_ON_ONCE"}
_CONDITION_START = {"NAME", "NOT", "LPAR", "TRUE", "FALSE"}


def _expected_terminals(exc: UnexpectedInput) -> set[str]:
    """The terminals that could really come next. LALR's table for a state
    with a default reduction lists too many (after `f()` it offers '&&' and
    ')'), so ask the parser which ones it would actually accept."""
    parser = getattr(exc, "interactive_parser", None)
    if parser is not None:
        try:
            accepted = set(parser.accepts())
        except Exception:  # noqa: BLE001 - fall back to the table's set
            accepted = set()
        if accepted:
            return accepted
    return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())


def _describe_expected(expected: set[str]) -> str:
    terms = {t for t in expected if not t.startswith("__") and t != "<END-OF-FILE>"}
    words: list[str] = []
    if _STATEMENT_START <= terms:
        words.append("a statement")
        terms -= _STATEMENT_START | {"DOC_COMMENT", "SEMI"}
    if _CONDITION_START <= terms:
        words.append("a condition")
        terms -= _CONDITION_START
    if len(terms) > 1:
        terms.discard("DOC_COMMENT")  # a '##' comment may precede almost anything
    order = list(TERMINAL_NAMES)
    words += [TERMINAL_NAMES[t] for t in order if t in terms]
    words += sorted(t.lower() for t in terms if t not in TERMINAL_NAMES)
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _token_text(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type in _KEYWORDS.values():
        return f"keyword '{token}'"
    return f"'{token}'"


def _stack(exc: UnexpectedInput) -> list:
    parser = getattr(exc, "interactive_parser", None)
    if parser is None:
        return []
    return list(parser.parser_state.value_stack)


def _unclosed_brace(stack: list) -> tuple[Token, str] | None:
    """The innermost '{' still open when the input ended, and what it opens."""
    braces: list[int] = []  # a '}' is shifted before its block is reduced: match them up
    for i, item in enumerate(stack):
        if isinstance(item, Token) and item.type == "LBRACE":
            braces.append(i)
        elif isinstance(item, Token) and item.type == "RBRACE" and braces:
            braces.pop()
    if not braces:
        return None
    i = braces[-1]
    opener = next(
        (t for t in reversed(stack[:i]) if isinstance(t, Token) and t.type in {"HOOK", "IF", "ELSE"}),
        None,
    )
    if opener is not None and opener.type == "HOOK":
        return stack[i], f"hook '{stack[i - 1]}'"
    if opener is not None:
        return stack[i], f"the '{opener}' block"
    return stack[i], "a block"


def _end_of_file_span(token: Token, source: Source) -> Span:
    """Just after the last token (trailing comments and blank lines are not
    where anything is missing)."""
    if token.end_line is not None and token.end_column is not None:
        return Span(token.end_line, token.end_column)
    lines = source.text.split("\n")
    return Span(len(lines), len(lines[-1].rstrip("\r")) + 1)


def _translate(exc: UnexpectedInput, source: Source) -> Diagnostic:
    expected = _expected_terminals(exc)
    if isinstance(exc, UnexpectedCharacters):
        return _unexpected_character(exc, source, expected)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            return _unexpected_end(exc, source, expected)
        span = Span(token.line, token.column, token.end_line or token.line, token.end_column or token.column + 1)
        return Diagnostic(
            f"unexpected {_token_text(token)}, expected {_describe_expected(expected)}",
            span,
            source,
            _hint_for(token, expected, _stack(exc)),
        )
    if isinstance(exc, UnexpectedEOF):  # only raised by Earley parsers; kept for safety
        lines = source.text.split("\n")
        return Diagnostic(
            f"unexpected end of file, expected {_describe_expected(expected)}",
            Span(len(lines), len(lines[-1]) + 1),
            source,
        )
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    span = Span(line, column) if isinstance(line, int) and isinstance(column, int) and line > 0 else None
    return Diagnostic("syntax error", span, source)


def _unexpected_end(exc: UnexpectedToken, source: Source, expected: set[str]) -> Diagnostic:
    token = exc.token
    if token.end_line is None:  # not a single token: the file holds only comments
        return _empty(source, "no policy in this file, only comments")
    span = _end_of_file_span(token, source)
    stack = _stack(exc)
    unclosed = _unclosed_brace(stack)
    if unclosed is not None and "RBRACE" in expected:
        brace, what = unclosed
        return Diagnostic(
            f"unexpected end of file: the '{{' of {what} (line {brace.line}) is never closed",
            span,
            source,
            f"add the missing '}}' (the '{{' is at line {brace.line}, column {brace.column})",
        )
    hint = None
    if stack and isinstance(stack[-1], Token) and stack[-1].type == "DOC_COMMENT":
        hint = _DOC_COMMENT_HINT
    elif "STRING" in expected:
        hint = _DESCRIPTION_HINT
    return Diagnostic(f"unexpected end of file, expected {_describe_expected(expected)}", span, source, hint)


def _unexpected_character(exc: UnexpectedCharacters, source: Source, expected: set[str]) -> Diagnostic:
    text = source.text
    char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
    span = Span(exc.line, exc.column)
    if char == '"':
        return Diagnostic("unterminated string", span, source, "strings are one line: close the quote on the same line")
    message = f"unexpected character {char!r}"
    if expected:
        message += f", expected {_describe_expected(expected)}"
    hint = None
    if char in "&|":
        hint = "use '&&' and '||' for 'and' and 'or'"
    elif char == "/":
        hint = "comments start with '#' ('##' for a comment carried into the emitted C)"
    elif char.isdigit() and expected & {"TRUE", "FALSE"}:
        hint = "flags are booleans: write true or false"
    elif char.isdigit() and "KERNEL_VERSION" in expected:
        hint = _KERNEL_HINT
    elif char.isdigit():
        hint = "numbers are not part of the language; names start with a letter or '_'"
    elif not char.isascii() and char.isalpha():
        hint = "names are made of ASCII letters, digits and '_'"
    elif not char.isprintable():
        hint = "remove the stray character (it may be invisible in an editor)"
    elif not char.isascii():
        hint = "remove the stray character: the language is plain ASCII outside comments and strings"
    return Diagnostic(message, span, source, hint)


_DESCRIPTION_HINT = 'give the policy a one-line description in double quotes after its name: policy NAME "..."'
_DOC_COMMENT_HINT = "a '##' comment documents the flag, hook or statement that follows it; use '#' for a plain comment"
_KERNEL_HINT = (
    "kernel versions are written like v4.16 (the model knows v4.16, v4.18, v6.1.134, v6.1, v6.12.0 and v6.12)"
)
_ORDER_HINT = "declarations come in this order: policy, kernel, extends, flags, then hooks"


def _hint_for(token: Token, expected: set[str], stack: list) -> str | None:
    top = stack[-1] if stack else None
    if isinstance(top, Token) and top.type == "DOC_COMMENT" and token.type != "DOC_COMMENT":
        return _DOC_COMMENT_HINT
    if token.type == "NAME":
        glued = next((k for k, t in _KEYWORDS.items() if t in expected and str(token).startswith(k)), None)
        if glued is not None:
            return f"put a space after '{glued}'"
    if "POLICY" in expected:
        return 'a policy starts with: policy NAME "one-line description"'
    if token.type == "STRING" and "NAME" in expected:
        return "names are not quoted"
    if "STRING" in expected:
        return _DESCRIPTION_HINT
    if "KERNEL_VERSION" in expected:
        return _KERNEL_HINT
    if token.type == "ELSE":
        return "'else' must follow the '}' that closes an 'if' block"
    if token.type in {"POLICY", "FLAG", "KERNEL", "EXTENDS", "HOOK"} and token.type not in expected:
        if token.type == "POLICY":
            return "one policy per file; 'policy' comes first"
        return _ORDER_HINT
    if token.type in _KEYWORDS.values() and expected == {"NAME"}:
        return f"'{token}' is a keyword and cannot be used as a name"
    if token.type == "RBRACE" and "RPAR" in expected:
        return "is a ')' missing?"
    if token.type == "RBRACE" and "RBRACE" not in expected and _unclosed_brace(stack) is None:
        return "this '}' has no matching '{'"
    if token.type == "ASSIGN" and ("LBRACE" in expected or _CONDITION_START <= expected):
        return "there are no comparisons: test a flag with 'if F { ... }' or 'if !F { ... }'"
    if token.type == "ASSIGN" and "ASSIGN" not in expected:
        return "flags are assigned true or false in a hook body: F = true"
    if expected & {"TRUE", "FALSE"} and not expected - {"TRUE", "FALSE"}:
        return "flags are booleans: write true or false"
    if expected == {"COMMA", "RPAR"}:
        return "separate arguments with ','"
    if "RPAR" in expected and token.type in {"LBRACE", "SEMI"}:
        return "is a ')' missing?"
    if _STATEMENT_START <= expected:
        return "a statement is a call such as fpsimd_save() or a flag assignment such as FP_ENABLED = true"
    if "LPAR" in expected and "ASSIGN" in expected:
        if isinstance(top, Token) and top.type == "NAME" and (str(top) in PRIMITIVES or str(top) in PREDICATES):
            return f"to call it, write {top}()"
        return "a statement is a call such as fpsimd_save() or a flag assignment such as FP_ENABLED = true"
    if "LBRACE" in expected:
        return "bodies are enclosed in { }"
    return None
