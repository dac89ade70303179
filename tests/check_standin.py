"""Developer check: compare a stand-in kernel tree (tests/standin.py) with a
real kernel tree and list every structural difference.

Run by hand, not by CI:

    python tests/check_standin.py --layout v4.16 --tree /work/trees/v4.16
    python tests/check_standin.py --layout v4.18 --tree /work/trees/v4.19 --layout v4.18 --tree /work/trees/v4.18rt
    python tests/check_standin.py --all v4.16=/work/trees/v4.16 v4.18=/work/trees/v4.19
    python tests/check_standin.py --all          # the default layout -> tree mapping

One line per difference, `path: symbol: what differs (stand-in: X; real: Y)`,
grouped by file, then `N differences in M files`. Exit status 0: no
difference, 1: differences, 2: usage error.

What is compared, per stand-in file, against the same path in the real tree
(a stand-in file the tree lacks is a difference; what only the real file has
is not, except for the calls of a function the stand-in defines):
C files (tree-sitter's C grammar; kernel attribute macros such as __hyp_text
blanked out first and kept as attributes, `__ASSEMBLY__` branches dropped,
`for_each_*(...)` loops read as loops): functions (static/inline/extern,
attributes, return type, parameters, the calls in the body, the order of the
shared ones and the control structures around them; kvm_call_hyp(f, ...)
counts as a call of f), prototypes and other top-level declarations,
top-level macro invocations (DEFINE_PER_CPU, EXPORT_SYMBOL, ...), struct and
union members and their types, enumerators, typedefs, #defines (values
token-compared) and #includes. Assembly: ENTRY/ENDPROC blocks and their
b/bl/b.cond/cbz/tbz targets, labels, branches outside the blocks, #defines,
.macro names, #includes. kbuild Makefiles: each assignment's objects (other
variables: their value). The top Makefile: VERSION and PATCHLEVEL. Kconfig:
config symbols. Whitespace, comments, braces and the order of unrelated
declarations are not differences. A symbol missing from its file is looked
up elsewhere in the real tree (arch/arm64, virt/kvm, include/) and the hit
named, unless --no-locate.
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import tree_sitter_c
from tree_sitter import Language, Node, Parser

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# The layout -> real tree pairs `--all` checks when given none: each stand-in
# and the tree it follows, as folders of $FPDSL_TREES (default /work/trees).
_TREES = os.environ.get("FPDSL_TREES", "/work/trees")
DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (
    ("v4.16", f"{_TREES}/v4.16"),
    ("v4.17", f"{_TREES}/v4.17"),
    ("v4.19", f"{_TREES}/v4.19"),
    ("v4.18rt", f"{_TREES}/v4.18rt"),
)


@dataclass(frozen=True)
class Difference:
    """One structural difference: `path: symbol: what`."""

    path: str
    symbol: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.symbol}: {self.what}"


class UsageError(Exception):
    """Bad command line: unknown layout, missing tree."""


# Finds where a symbol the real file lacks lives elsewhere in the real tree:
# locate(kind, name, path) -> relative paths. kind: function, prototype,
# struct, define, entry.
Locator = Callable[[str, str, str], list[str]]


# ---------------------------------------------------------------------------
# C lexing
# ---------------------------------------------------------------------------

# Kernel attribute macros that tree-sitter's C grammar does not know; they are
# blanked out (replaced by spaces) before parsing and kept as attributes.
ATTRIBUTES = frozenset(
    """
    __hyp_text notrace __always_unused __maybe_unused __used __init __exit __initdata __initconst
    __exitdata __ref __refdata __noreturn __always_inline noinline __noinline __cold __hot __weak
    __user __iomem __percpu __rcu __force __must_check asmlinkage __kprobes __ro_after_init
    __read_mostly __visible __sched __pure __packed __cacheline_aligned __cacheline_aligned_in_smp
    ____cacheline_aligned ____cacheline_aligned_in_smp __attribute_const__ __nocfi __kernel __safe
    __nocast __bitwise __deprecated __latent_entropy __irq_entry __exception __exception_irq_entry
    noinstr __no_sanitize_address __naked __nosavedata __page_aligned_data __page_aligned_bss
    __lockfunc __init_or_module __meminit __flatten __randomize_layout __no_randomize_layout
    __designated_init __noclone __no_kcsan __net_init __malloc __nonstring
    """.split()
)
# Attribute macros that take an argument list.
ATTRIBUTES_WITH_ARGS = frozenset(
    "__attribute__ __attribute __aligned __section __printf __scanf __acquires __releases __must_hold "
    "__alias __cond_acquires __alloc_size".split()
)
STORAGE = ("extern", "static", "inline")
# Calls whose first argument names the function really called (at EL2).
HYP_CALLS = frozenset({"kvm_call_hyp", "kvm_call_hyp_ret", "kvm_call_hyp_nvhe"})
# Tokens after which a `for_each_...(...)` starts a statement: a loop macro.
_STMT_BEFORE = frozenset({";", "{", "}", ")", "else", ":"})
_STORAGE_ALIASES = {"__inline": "inline", "__inline__": "inline"}
_CONTROL = {
    "if_statement": "if",
    "while_statement": "while",
    "for_statement": "for",
    "do_statement": "do-while",
    "switch_statement": "switch",
}


@dataclass(frozen=True)
class Tok:
    kind: str  # ident, num, str, punct, pp
    text: str
    start: int
    end: int
    space: bool  # whitespace or a comment before it


_LEX = re.compile(
    r"""(?P<ws>[ \t\r\f\v]+|\\?\n)
      |(?P<comment>//[^\n]*|/\*.*?\*/)
      |(?P<str>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
      |(?P<ident>[A-Za-z_]\w*)
      |(?P<num>\.?\d(?:[eEpP][+-]|[\w.])*)
      |(?P<punct>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\#\#|[\s\S])""",
    re.S | re.X,
)


def lex(text: str) -> list[Tok]:
    """C tokens, comments dropped; each preprocessor line (with its
    continuations) is one `pp` token."""
    out: list[Tok] = []
    pos, n, space, line_start = 0, len(text), True, True
    while pos < n:
        if line_start and text[pos] == "#":
            end = pos
            while end < n and text[end] != "\n":
                if text.startswith("/*", end):
                    close = text.find("*/", end + 2)
                    end = n if close < 0 else close + 2
                elif text[end] == "\\" and end + 1 < n and text[end + 1] == "\n":
                    end += 2
                else:
                    end += 1
            out.append(Tok("pp", text[pos:end], pos, end, True))
            pos, space = end, True
            continue
        m = _LEX.match(text, pos)
        kind = m.lastgroup or "punct"
        if kind in ("ws", "comment"):
            space = True
            if "\n" in m.group() and not m.group().startswith("\\"):
                line_start = True
        else:
            out.append(Tok(kind, m.group(), pos, m.end(), space))
            space, line_start = False, False
        pos = m.end()
    return out


def render(tokens: Sequence[Tok]) -> str:
    """Tokens as text: one space where the source had whitespace or a comment."""
    parts: list[str] = []
    for i, t in enumerate(tokens):
        if i and t.space:
            parts.append(" ")
        parts.append(t.text)
    return "".join(parts)


def _key(tokens: Sequence[Tok]) -> tuple[str, ...]:
    return tuple(t.text for t in tokens)


def _group_end(tokens: Sequence[Tok], i: int) -> int:
    """Index just past the bracket group opening at tokens[i]."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].text in pairs:
            depth += 1
        elif tokens[j].text in pairs.values():
            depth -= 1
            if depth == 0:
                return j + 1
    return len(tokens)


def _split_commas(tokens: Sequence[Tok]) -> list[list[Tok]]:
    parts: list[list[Tok]] = [[]]
    depth = 0
    for t in tokens:
        if t.text in "([{" and t.kind == "punct":
            depth += 1
        elif t.text in ")]}" and t.kind == "punct":
            depth -= 1
        if t.text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(t)
    return [p for p in parts if p]


def _pp_directive(text: str) -> tuple[str, str]:
    """('define', rest) for '#  define X ...'; continuations and comments removed."""
    body = re.sub(r"/\*.*?\*/", " ", text.replace("\\\n", " "), flags=re.S)
    body = re.sub(r"//.*", "", body)
    m = re.match(r"\s*#\s*(\w*)\s*(.*)", body, re.S)
    return (m.group(1), m.group(2).strip()) if m else ("", "")


# ---------------------------------------------------------------------------
# C structure
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    specifiers: tuple[str, ...]
    attributes: tuple[str, ...]
    ret: str
    ret_key: tuple[str, ...]
    params: tuple[tuple[str, tuple[str, ...]], ...]  # (display, key)


@dataclass(frozen=True)
class Call:
    name: str
    context: tuple[str, ...]


@dataclass
class Function:
    name: str
    line: int
    sig: Signature
    calls: list[Call]


@dataclass
class Declaration:
    name: str
    line: int
    sig: Signature | None  # None: not a function
    specifiers: tuple[str, ...] = ()
    type: str = ""
    type_key: tuple[str, ...] = ()


@dataclass
class Macro:
    name: str
    args: str
    args_key: tuple[str, ...]
    specifiers: tuple[str, ...]

    @property
    def display(self) -> str:
        return " ".join((*self.specifiers, f"{self.name}({self.args})"))


@dataclass
class CUnit:
    """The structure of one C file."""

    functions: dict[str, list[Function]] = field(default_factory=dict)
    declarations: dict[str, list[Declaration]] = field(default_factory=dict)
    structs: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    typedefs: dict[str, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    enums: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    defines: dict[str, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)
    macros: list[Macro] = field(default_factory=list)
    errors: int = 0


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(Language(tree_sitter_c.language()))


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.named_children))


class _CParse:
    """Lexes, blanks kernel macros, parses with tree-sitter, extracts a CUnit.

    Text is handled as latin-1 so that a character offset is a byte offset."""

    def __init__(self, text: str) -> None:
        self.src = text.encode("utf-8", "replace").decode("latin-1")
        self.tokens = lex(self.src)
        self.starts = [t.start for t in self.tokens]
        self.attr_spans: list[tuple[int, int, str]] = []  # blanked attributes
        self.macro_spans: list[tuple[int, int]] = []
        self.loops: dict[int, str] = {}  # `for_each_x(...)` rewritten as `while(...)`, by offset
        self.unit = CUnit()
        self._blank()
        chars = list(self.src)
        for start, end, *_ in [*self.attr_spans, *self.macro_spans]:
            for i in range(start, end):
                if chars[i] != "\n":
                    chars[i] = " "
        for start, name in self.loops.items():
            chars[start : start + len(name)] = list("while".ljust(len(name)))
        self.blanked = "".join(chars)
        self.btokens = lex(self.blanked)
        self.bstarts = [t.start for t in self.btokens]
        self.root = _parser().parse(self.blanked.encode("latin-1")).root_node

    # -- blanking -------------------------------------------------------------

    def _assembly_spans(self) -> list[tuple[int, int]]:
        """The `#ifdef __ASSEMBLY__` branches of a header (their preprocessor
        lines excluded)."""
        spans: list[tuple[int, int]] = []
        stack: list[list[bool]] = []  # per open conditional: [about __ASSEMBLY__, this branch is assembly]
        start = None
        for t in self.tokens:
            if t.kind != "pp":
                continue
            directive, rest = _pp_directive(t.text)
            was = any(branch for _, branch in stack)
            cond = re.sub(r"\s+", "", rest)
            if directive in ("if", "ifdef", "ifndef"):
                about = cond.lstrip("!") in ("__ASSEMBLY__", "defined(__ASSEMBLY__)")
                negated = directive == "ifndef" or cond.startswith("!")
                stack.append([about, about and not negated])
            elif directive == "else" and stack:
                stack[-1][1] = stack[-1][0] and not stack[-1][1]
            elif directive == "elif" and stack:
                stack[-1][1] = False
            elif directive == "endif" and stack:
                stack.pop()
            now = any(branch for _, branch in stack)
            if now and not was:
                start = t.end
            elif was and not now and start is not None:
                spans.append((start, t.start))
                start = None
        if start is not None:
            spans.append((start, len(self.src)))
        return spans

    def _blank(self) -> None:
        asm = self._assembly_spans()
        self.macro_spans.extend(asm)
        toks = self.tokens
        i, depth, stmt_start = 0, 0, True
        while i < len(toks):
            t = toks[i]
            if t.kind != "pp" and any(s <= t.start < e for s, e in asm):
                i += 1
                continue
            if t.kind == "pp":
                stmt_start = depth == 0
                i += 1
                continue
            if t.kind == "ident" and t.text in ATTRIBUTES | ATTRIBUTES_WITH_ARGS:
                end = i + 1
                if t.text in ATTRIBUTES_WITH_ARGS and end < len(toks) and toks[end].text == "(":
                    end = _group_end(toks, end)
                self.attr_spans.append((t.start, toks[end - 1].end, render(toks[i:end])))
                i = end
                continue
            if depth > 0 and t.kind == "ident" and "for_each" in t.text and len(t.text) >= 5:
                if i + 1 < len(toks) and toks[i + 1].text == "(" and i > 0 and toks[i - 1].text in _STMT_BEFORE:
                    close = _group_end(toks, i + 1)
                    if close < len(toks) and toks[close].text not in (";", ",", ")"):
                        self.loops[t.start] = t.text
            if (
                depth > 0
                and t.text in ("struct", "union", "enum")
                and 0 < i < len(toks) - 2
                and toks[i - 1].text in ("(", ",")
                and toks[i + 2].text in (",", ")")
            ):  # a type passed to a macro, as in container_of(p, struct s, member)
                self.macro_spans.append((t.start, t.end))
            if depth == 0 and stmt_start and t.kind == "ident":
                end = self._macro_at(i)
                if end:
                    stmt_start = True
                    i = end
                    continue
            if t.text == "{":
                depth += 1
            elif t.text == "}":
                depth = max(0, depth - 1)
            stmt_start = depth == 0 and t.text in (";", "}")
            i += 1

    def _macro_at(self, i: int) -> int:
        """A top-level `[static|extern] NAME(args) [= init];`: record it and
        return the index past its `;`, else 0."""
        toks = self.tokens
        j, specs = i, []
        while j < len(toks) and (toks[j].text in ("static", "extern") or toks[j].text in ATTRIBUTES):
            if toks[j].text not in ATTRIBUTES:
                specs.append(toks[j].text)
            j += 1
        if j + 1 >= len(toks) or toks[j].kind != "ident" or toks[j + 1].text != "(":
            return 0
        name = toks[j].text
        if name in ATTRIBUTES_WITH_ARGS or name in ("typeof", "__typeof__", "sizeof"):
            return 0
        close = _group_end(toks, j + 1)
        k = close
        if k < len(toks) and toks[k].text == "=":
            while k < len(toks) and toks[k].text != ";":
                k = _group_end(toks, k) if toks[k].text in "({[" else k + 1
        if k >= len(toks) or toks[k].text != ";":
            return 0
        args = toks[j + 2 : close - 1]
        self.unit.macros.append(Macro(name, render(args), _key(args), tuple(specs)))
        self.macro_spans.append((toks[i].start, toks[k].end))
        return k + 1

    # -- token helpers --------------------------------------------------------

    def _btoks(self, start: int, end: int) -> list[Tok]:
        lo = bisect.bisect_left(self.bstarts, start)
        hi = bisect.bisect_left(self.bstarts, end)
        return [t for t in self.btokens[lo:hi] if t.kind != "pp"]

    def _otoks(self, start: int, end: int) -> list[Tok]:
        lo = bisect.bisect_left(self.starts, start)
        hi = bisect.bisect_left(self.starts, end)
        return [t for t in self.tokens[lo:hi] if t.kind != "pp"]

    def _attrs_in(self, start: int, end: int, skip: tuple[int, int] = (0, 0)) -> tuple[str, ...]:
        return tuple(
            sorted(text for s, e, text in self.attr_spans if start <= s < end and not (skip[0] <= s < skip[1]))
        )

    def _header_start(self, start: int) -> int:
        """Extend a node's start back over blanked attributes before it."""
        while True:
            before = [s for s, e, _ in self.attr_spans if e <= start and not self.blanked[e:start].strip()]
            if not before:
                return start
            start = max(before)

    def _text(self, node: Node | None) -> str:
        return self.blanked[node.start_byte : node.end_byte]

    # -- signatures -----------------------------------------------------------

    def signature(self, start: int, end: int, name: str) -> Signature | None:
        toks = self._btoks(start, end)
        at = next(
            (i for i in range(len(toks) - 1) if toks[i].text == name and toks[i + 1].text == "("),
            None,
        )
        if at is None:
            return None
        specs, ret = [], []
        for t in toks[:at]:
            word = _STORAGE_ALIASES.get(t.text, t.text)
            if word in STORAGE:
                specs.append(word)
            else:
                ret.append(t)
        group_end = _group_end(toks, at + 1)
        pstart, pend = toks[at + 1].end, toks[group_end - 1].start
        params = tuple((render(p), _key(p)) for p in _split_commas(self._otoks(pstart, pend)))
        specifiers = tuple(s for s in STORAGE if s in specs)
        return Signature(specifiers, self._attrs_in(start, end, (pstart, pend)), render(ret), _key(ret), params)

    # -- extraction -----------------------------------------------------------

    def extract(self) -> CUnit:
        unit = self.unit
        unit.errors = sum(1 for n in _walk(self.root) if n.type == "ERROR" or n.is_missing)
        for t in self.tokens:
            if t.kind != "pp":
                continue
            directive, rest = _pp_directive(t.text)
            if directive == "include":
                unit.includes.append(re.sub(r"\s+", " ", rest))
            elif directive == "define":
                _add_define(unit.defines, rest)
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.type == "function_definition":
                self._function(node)
                continue
            if node.type == "declaration":
                self._declaration(node)
            elif node.type == "type_definition":
                self._typedef(node)
            if node.type in ("struct_specifier", "union_specifier"):
                self._struct(node)
            elif node.type == "enum_specifier":
                self._enum(node)
            stack.extend(reversed(node.named_children))
        return unit

    def _declarator_name(self, decl: Node | None) -> tuple[str | None, bool]:
        """(name, is_function) of a declarator chain."""
        is_function = False
        while decl is not None:
            if decl.type in ("identifier", "field_identifier", "type_identifier"):
                return self._text(decl), is_function
            if decl.type == "function_declarator":
                inner = decl.child_by_field_name("declarator")
                if inner is not None and inner.type in ("identifier", "field_identifier"):
                    return self._text(inner), True
                decl = inner
            elif decl.type in ("pointer_declarator", "init_declarator", "array_declarator", "attributed_declarator"):
                decl = decl.child_by_field_name("declarator") or (
                    decl.named_children[0] if decl.named_children else None
                )
            elif decl.type == "parenthesized_declarator":
                decl = decl.named_children[0] if decl.named_children else None
            else:
                return None, False
        return None, False

    def _function(self, node: Node) -> None:
        name, _ = self._declarator_name(node.child_by_field_name("declarator"))
        body = node.child_by_field_name("body")
        if name is None or body is None:
            return
        start = self._header_start(node.start_byte)
        sig = self.signature(start, body.start_byte, name)
        if sig is None:
            return
        calls = [Call(n, ctx) for n, ctx in self._calls(body)]
        self.unit.functions.setdefault(name, []).append(Function(name, node.start_point[0] + 1, sig, calls))

    def _calls(self, body: Node) -> list[tuple[str, tuple[str, ...]]]:
        out: list[tuple[str, tuple[str, ...]]] = []

        def visit(node: Node, ctx: tuple[str, ...]) -> None:
            if node.type == "call_expression":
                fn = node.child_by_field_name("function")
                if fn is not None and fn.type == "identifier":
                    name = self._text(fn)
                    args = node.child_by_field_name("arguments")
                    first = args.named_children[0] if args is not None and args.named_children else None
                    if name in HYP_CALLS and first is not None and first.type == "identifier":
                        more = ", ..." if len(args.named_children) > 1 else ""
                        name = f"{name}({self._text(first)}{more})"  # the hyp function called is the call
                    out.append((name, ctx))
            kind = _CONTROL.get(node.type)
            if node.type == "while_statement" and node.start_byte in self.loops:
                kind = self.loops[node.start_byte]
                out.append((kind, ctx))
            for child in node.named_children:
                inner = ctx
                if kind:
                    inner = (*ctx, kind)
                if node.type == "else_clause":
                    inner = (*ctx[:-1], "else") if ctx and ctx[-1] == "if" else (*ctx, "else")
                visit(child, inner)

        visit(body, ())
        return out

    def _declaration(self, node: Node) -> None:
        if any(a.type == "function_definition" for a in _ancestors(node)):
            return
        start = self._header_start(node.start_byte)
        toks = self._btoks(start, node.end_byte)
        specs = tuple(s for s in STORAGE if s in {_STORAGE_ALIASES.get(t.text, t.text) for t in toks})
        type_node = node.child_by_field_name("type")
        for decl in node.children_by_field_name("declarator"):
            name, is_function = self._declarator_name(decl)
            if name is None:
                continue
            line = node.start_point[0] + 1
            if is_function:
                sig = self.signature(start, node.end_byte, name)
                if sig is not None:
                    self.unit.declarations.setdefault(name, []).append(Declaration(name, line, sig))
                    continue
            shown, key = self._member_type(type_node, decl, name, node.start_byte)
            self.unit.declarations.setdefault(name, []).append(Declaration(name, line, None, specs, shown, key))

    def _member_type(self, type_node: Node | None, decl: Node, name: str, start: int) -> tuple[str, tuple[str, ...]]:
        """`u64 x[4]` -> 'u64 [4]': the base type and the declarator without its name."""
        base_end = type_node.end_byte if type_node is not None else decl.start_byte
        base = [t for t in self._btoks(start, base_end) if _STORAGE_ALIASES.get(t.text, t.text) not in STORAGE]
        if type_node is not None and type_node.type in ("struct_specifier", "union_specifier", "enum_specifier"):
            if type_node.child_by_field_name("body") is not None:
                kw = type_node.type.split("_")[0]
                tag = type_node.child_by_field_name("name")
                base = lex(f"{kw} {self._text(tag)} {{...}}" if tag is not None else f"{kw} {{...}}")
        end = decl.end_byte
        if decl.type == "init_declarator":
            inner = decl.child_by_field_name("declarator")
            end = inner.end_byte if inner is not None else end
        dtoks = self._btoks(decl.start_byte, end)
        drop = next((i for i, t in enumerate(dtoks) if t.text == name), None)
        if drop is not None:
            dtoks = dtoks[:drop] + dtoks[drop + 1 :]
        shown = (render(base) + " " + render(dtoks)).strip()
        return shown, _key(base) + _key(dtoks)

    def _typedef(self, node: Node) -> None:
        type_node = node.child_by_field_name("type")
        for decl in node.children_by_field_name("declarator"):
            name, _ = self._declarator_name(decl)
            if name is not None:
                shown, key = self._member_type(type_node, decl, name, node.start_byte + len("typedef"))
                self.unit.typedefs.setdefault(name, []).append((shown, key))

    def _struct(self, node: Node) -> None:
        name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
        if name is None or body is None:
            return
        kind = "union" if node.type == "union_specifier" else "struct"
        members = self.unit.structs.setdefault(f"{kind} {self._text(name)}", {})
        self._members(body, "", members)

    def _enum(self, node: Node) -> None:
        name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
        if body is None:
            return
        key = f"enum {self._text(name)}" if name is not None else "enum (anonymous)"
        values = self.unit.enums.setdefault(key, {})
        for item in _walk(body):
            if item.type == "enumerator":
                value = item.child_by_field_name("value")
                toks = self._btoks(value.start_byte, value.end_byte) if value is not None else []
                values[self._text(item.child_by_field_name("name"))] = (render(toks), _key(toks))

    def _members(self, body: Node, prefix: str, members: dict) -> None:
        for child in body.named_children:
            if child.type != "field_declaration":
                if child.type.startswith("preproc_") or child.type == "field_declaration_list":
                    self._members(child, prefix, members)
                continue
            type_node = child.child_by_field_name("type")
            decls = child.children_by_field_name("declarator")
            if not decls and type_node is not None and type_node.type == "macro_type_specifier":
                toks = [t for t in self._btoks(child.start_byte, child.end_byte) if t.text != ";"]
                if len(toks) > 2 and toks[1].text == "(" and toks[2].kind == "ident":  # DECLARE_BITMAP(name, n);
                    members[prefix + toks[2].text] = (render(toks), _key(toks))
                continue
            inner = type_node.child_by_field_name("body") if type_node is not None else None
            if not decls and inner is not None:  # an anonymous struct or union: its members are ours
                self._members(inner, prefix, members)
                continue
            for decl in decls:
                name, _ = self._declarator_name(decl)
                if name is None:
                    continue
                members[prefix + name] = self._member_type(type_node, decl, name, child.start_byte)
                if inner is not None:
                    self._members(inner, f"{prefix}{name}.", members)


def _ancestors(node: Node) -> Iterator[Node]:
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def _add_define(defines: dict[str, list[tuple[str, tuple[str, ...]]]], rest: str) -> None:
    """Record `NAME[(params)] value` (a #define's text after the keyword)."""
    m = re.match(r"(\w+)(\([^)]*\))?\s*(.*)", rest, re.S)
    if m:
        params = re.sub(r"\s+", "", m.group(2) or "")
        value = lex(m.group(3))
        shown = params + (" " if params and value else "") + render(value)
        defines.setdefault(m.group(1), []).append((shown, (params, *_key(value))))


def _compare_defines(path: str, stand: dict, real: dict, locate: Locator | None) -> list[Difference]:
    out = []
    for name, values in stand.items():
        real_values = real.get(name)
        for shown, key in values:
            if not real_values:
                out.append(
                    Difference(
                        path, f"#define {name}", "not defined in real" + _elsewhere(locate, "define", name, path)
                    )
                )
            elif key not in [k for _, k in real_values]:
                what = f"value (stand-in: {shown or 'empty'}; real: {real_values[0][0] or 'empty'})"
                out.append(Difference(path, f"#define {name}", what))
    return out


def parse_problems(text: str) -> list[int]:
    """The 1-based lines where tree-sitter could not parse a C file (after
    blanking the kernel macros): structure there may be missed."""
    root = _CParse(text).root
    return sorted({n.start_point[0] + 1 for n in _walk(root) if n.type == "ERROR" or n.is_missing})


def parse_c(text: str) -> CUnit:
    """The functions, declarations, structs, defines, includes and top-level
    macro invocations of a C file."""
    return _CParse(text).extract()


# ---------------------------------------------------------------------------
# Comparing sequences (calls, branches)
# ---------------------------------------------------------------------------


def _lcs_pairs(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _ctx(context: tuple[str, ...]) -> str:
    return "inside " + " > ".join(context) if context else "not inside a control structure"


def _show_call(name: str) -> str:
    return name if name.endswith(")") else f"{name}()"


def compare_sequences(
    stand: Sequence[Call], real: Sequence[Call], *, noun: str = "calls", show: Callable[[str], str] = _show_call
) -> list[str]:
    """What differs between two call (or branch) sequences: the items only in
    one of them, the shared ones out of order, and those in different
    control structures."""
    pairs = _lcs_pairs([c.name for c in stand], [c.name for c in real])
    matched_s, matched_r = {i for i, _ in pairs}, {j for _, j in pairs}
    rest_s = [i for i in range(len(stand)) if i not in matched_s]
    rest_r = [j for j in range(len(real)) if j not in matched_r]
    moved: list[tuple[int, int]] = []
    for i in list(rest_s):
        j = next((j for j in rest_r if real[j].name == stand[i].name), None)
        if j is not None:
            moved.append((i, j))
            rest_s.remove(i)
            rest_r.remove(j)
    out: list[str] = []
    if rest_r:
        out.append(f"{noun} only in real (real: {', '.join(show(real[j].name) for j in rest_r)})")
    if rest_s:
        out.append(f"{noun} only in stand-in (stand-in: {', '.join(show(stand[i].name) for i in rest_s)})")
    anchors_s, anchors_r = [i for i, _ in pairs], [j for _, j in pairs]

    def place(seq: Sequence[Call], anchors: list[int], k: int) -> str:
        """Where seq[k] sits relative to the calls both sequences share in order."""
        before = [a for a in anchors if a < k]
        if before:
            return f"after {show(seq[before[-1]].name)}"
        after = [a for a in anchors if a > k]
        return f"before {show(seq[after[0]].name)}" if after else "first"

    for i, j in sorted(moved):
        out.append(
            f"order of {show(stand[i].name)} "
            f"(stand-in: {place(stand, anchors_s, i)}; real: {place(real, anchors_r, j)})"
        )
    for i, j in sorted(pairs + moved):
        if stand[i].context != real[j].context:
            out.append(
                f"{show(stand[i].name)} in a different control structure "
                f"(stand-in: {_ctx(stand[i].context)}; real: {_ctx(real[j].context)})"
            )
    return out


# ---------------------------------------------------------------------------
# Comparing C files
# ---------------------------------------------------------------------------


def _specs(specs: tuple[str, ...]) -> str:
    return " ".join(specs) or "none"


def compare_signatures(stand: Signature, real: Signature) -> list[str]:
    out: list[str] = []
    if stand.specifiers != real.specifiers:
        out.append(f"specifiers (stand-in: {_specs(stand.specifiers)}; real: {_specs(real.specifiers)})")
    if stand.attributes != real.attributes:
        out.append(f"attributes (stand-in: {_specs(stand.attributes)}; real: {_specs(real.attributes)})")
    if stand.ret_key != real.ret_key:
        out.append(f"return type (stand-in: {stand.ret or 'none'}; real: {real.ret or 'none'})")
    if len(stand.params) != len(real.params):
        out.append(
            f"parameters (stand-in: {', '.join(p for p, _ in stand.params) or 'none'}; "
            f"real: {', '.join(p for p, _ in real.params) or 'none'})"
        )
    else:
        for k, (s, r) in enumerate(zip(stand.params, real.params, strict=True), 1):
            if s[1] != r[1]:
                out.append(f"parameter {k} (stand-in: {s[0]}; real: {r[0]})")
    return out


def _best(candidates: Sequence, compare: Callable) -> tuple[object, list[str]]:
    """The candidate with the fewest differences, and those differences."""
    scored = [(compare(c), c) for c in candidates]
    diffs, best = min(scored, key=lambda pair: len(pair[0]))
    return best, diffs


def _elsewhere(locate: Locator | None, kind: str, name: str, path: str) -> str:
    if locate is None:
        return ""
    found = locate(kind, name, path)
    where = "a file of that name at" if kind == "file" else "in"
    return f" (real: {where} {', '.join(found)})" if found else ""


def compare_c(path: str, stand_text: str, real_text: str, locate: Locator | None = None) -> list[Difference]:
    """Every structural difference of a stand-in C file from the real one."""
    stand, real = parse_c(stand_text), parse_c(real_text)
    out: list[Difference] = []

    def diff(symbol: str, what: str) -> None:
        out.append(Difference(path, symbol, what))

    for inc in stand.includes:
        if inc not in real.includes:
            diff(f"#include {inc}", "not in real")

    out.extend(_compare_defines(path, stand.defines, real.defines, locate))

    for macro in stand.macros:
        same = [m for m in real.macros if m.name == macro.name and m.args_key == macro.args_key]
        if any(m.specifiers == macro.specifiers for m in same):
            continue
        symbol = f"{macro.name}({macro.args})"
        if same:
            diff(symbol, f"specifiers (stand-in: {_specs(macro.specifiers)}; real: {_specs(same[0].specifiers)})")
            continue
        subject = macro.args_key[-1:] if macro.args_key else ()
        near = [
            m
            for m in real.macros
            if (m.name == macro.name and m.args_key[-1:] == subject) or m.args_key == macro.args_key
        ]
        diff(symbol, "not in real" + (f" (real: {near[0].display})" if near else ""))

    for name, items in stand.structs.items():
        real_members = real.structs.get(name)
        if real_members is None:
            diff(name, "not defined in real" + _elsewhere(locate, "struct", name, path))
            continue
        for member, (shown, key) in items.items():
            if member not in real_members:
                short = member.rsplit(".", 1)[-1]
                decl = shown if re.search(rf"\b{re.escape(short)}\b", shown) else f"{shown} {short}".replace("* ", "*")
                diff(name, f"member {member} not in real (stand-in: {decl})")
            elif real_members[member][1] != key:
                diff(name, f"type of {member} (stand-in: {shown}; real: {real_members[member][0]})")

    real_enumerators = {k: v for values in real.enums.values() for k, v in values.items()}
    for name, values in stand.enums.items():
        real_values = real.enums.get(name, real_enumerators if name == "enum (anonymous)" else None)
        if real_values is None:
            diff(name, "not defined in real")
            continue
        for item, (shown, key) in values.items():
            if item not in real_values:
                diff(name, f"enumerator {item} not in real")
            elif key and real_values[item][1] != key:
                diff(name, f"value of {item} (stand-in: {shown}; real: {real_values[item][0] or 'implicit'})")

    for name, values in stand.typedefs.items():
        real_values = real.typedefs.get(name)
        for shown, key in values:
            if not real_values:
                diff(f"typedef {name}", "not in real")
            elif key not in [k for _, k in real_values]:
                diff(f"typedef {name}", f"type (stand-in: {shown}; real: {real_values[0][0]})")

    for name, decls in stand.declarations.items():
        for decl in decls:
            out.extend(Difference(path, *d) for d in _compare_declaration(name, decl, real, locate, path))

    for name, funcs in stand.functions.items():
        for func in funcs:
            out.extend(Difference(path, f"{name}()", d) for d in _compare_function(func, real, locate, path))
    return out


def _compare_function(func: Function, real: CUnit, locate: Locator | None, path: str) -> list[str]:
    candidates = real.functions.get(func.name)
    if not candidates:
        if func.name in real.declarations:
            found = locate("function", func.name, path) if locate is not None else []
            return [
                "not defined in real (real: declared only" + (f", defined in {', '.join(found)})" if found else ")")
            ]
        if func.name in real.defines:
            return [f"not defined in real (real: a macro, #define {func.name}{real.defines[func.name][0][0]})"]
        return ["not defined in real" + _elsewhere(locate, "function", func.name, path)]

    def compare(other: Function) -> list[str]:
        return compare_signatures(func.sig, other.sig) + compare_sequences(func.calls, other.calls)

    return _best(candidates, compare)[1]


def _compare_declaration(
    name: str, decl: Declaration, real: CUnit, locate: Locator | None, path: str
) -> list[tuple[str, str]]:
    if decl.sig is not None:
        symbol = f"{name}()"
        protos = [d for d in real.declarations.get(name, []) if d.sig is not None]
        defs = real.functions.get(name, [])
        if not protos and not defs:
            if name in real.defines:
                return [(symbol, f"not declared in real (real: a macro, #define {name}{real.defines[name][0][0]})")]
            return [(symbol, "not declared in real" + _elsewhere(locate, "prototype", name, path))]
        if protos:
            diffs = _best([d.sig for d in protos], lambda sig: compare_signatures(decl.sig, sig))[1]
            return [(symbol, d) for d in diffs]
        # Only a definition in the real file (a static inline in a header, say).
        diffs = _best([f.sig for f in defs], lambda sig: compare_signatures(decl.sig, sig))[1]
        return [(symbol, "declared in stand-in, defined in real")] + [(symbol, d) for d in diffs]
    symbol = name
    others = [d for d in real.declarations.get(name, []) if d.sig is None]
    if not others:
        return [(symbol, "not declared in real" + _elsewhere(locate, "prototype", name, path))]
    if any(o.type_key == decl.type_key and o.specifiers == decl.specifiers for o in others):
        return []
    o = next((o for o in others if o.type_key == decl.type_key), others[0])
    out = []
    if o.type_key != decl.type_key:
        out.append((symbol, f"type (stand-in: {decl.type}; real: {o.type})"))
    if o.specifiers != decl.specifiers:
        out.append((symbol, f"specifiers (stand-in: {_specs(decl.specifiers)}; real: {_specs(o.specifiers)})"))
    return out


# ---------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------

_ASM_BLOCK_START = re.compile(r"^\s*(?:ENTRY|SYM_FUNC_START\w*|SYM_CODE_START\w*|GLOBAL)\(\s*(\w+)\s*\)")
_ASM_BLOCK_END = re.compile(r"^\s*(?:ENDPROC|END|SYM_FUNC_END\w*|SYM_CODE_END)\(\s*(\w+)\s*\)")
_ASM_LABEL = re.compile(r"^\s*([A-Za-z_.$][\w.$]*):")
_ASM_BRANCH = re.compile(r"^\s*(?:\w+:\s*)?(bl|b|b\.\w+|cbz|cbnz|tbz|tbnz|ventry)\s+([^;]*)", re.I)
_TARGET_OPERAND = {"cbz": 1, "cbnz": 1, "tbz": 2, "tbnz": 2}


@dataclass
class AsmUnit:
    blocks: dict[str, list[Call]] = field(default_factory=dict)
    outside: list[Call] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    includes: list[str] = field(default_factory=list)
    defines: dict[str, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    macros: set[str] = field(default_factory=set)  # .macro NAME


def parse_asm(text: str) -> AsmUnit:
    """ENTRY...ENDPROC blocks with the branches in them, the branches outside
    them, the labels and the includes of an assembly file."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    unit, current = AsmUnit(), None
    for raw in text.split("\n"):
        line = re.sub(r"//.*", "", raw)
        stripped = line.strip()
        if stripped.startswith("#"):
            directive, rest = _pp_directive(stripped)
            if directive == "include":
                unit.includes.append(re.sub(r"\s+", " ", rest))
            elif directive == "define":
                _add_define(unit.defines, rest)
            continue
        m = re.match(r"\s*\.macro\s+(\w+)", line)
        if m:
            unit.macros.add(m.group(1))
        m = _ASM_BLOCK_START.match(line)
        if m:
            current = m.group(1)
            unit.blocks.setdefault(current, [])
            continue
        m = _ASM_BLOCK_END.match(line)
        if m:
            current = None
            continue
        m = _ASM_LABEL.match(line)
        if m and not m.group(1).isdigit():
            unit.labels.add(m.group(1))
        m = _ASM_BRANCH.match(line)
        if m:
            mnemonic = m.group(1).lower()
            operands = [o.strip() for o in m.group(2).split(",")]
            k = _TARGET_OPERAND.get(mnemonic, 0)
            target = operands[k] if k < len(operands) else ""
            if not re.fullmatch(r"[A-Za-z_.$][\w.$]*", target):
                continue  # a register (br), a local numeric label, a macro argument
            branch = Call(f"{mnemonic} {target}", ())
            (unit.blocks[current] if current else unit.outside).append(branch)
    return unit


def compare_asm(path: str, stand_text: str, real_text: str, locate: Locator | None = None) -> list[Difference]:
    """Every structural difference of a stand-in assembly file from the real one."""
    stand, real = parse_asm(stand_text), parse_asm(real_text)
    out: list[Difference] = []
    for inc in stand.includes:
        if inc not in real.includes:
            out.append(Difference(path, f"#include {inc}", "not in real"))
    out.extend(_compare_defines(path, stand.defines, real.defines, locate))
    for name in sorted(stand.macros - real.macros):
        out.append(Difference(path, f".macro {name}", "not in real"))
    for name, branches in stand.blocks.items():
        symbol = f"ENTRY({name})"
        if name not in real.blocks:
            hint = " (real: a plain label)" if name in real.labels else _elsewhere(locate, "entry", name, path)
            out.append(Difference(path, symbol, "not in real" + hint))
            continue
        for what in compare_sequences(branches, real.blocks[name], noun="branches", show=str):
            out.append(Difference(path, symbol, what))
    for label in sorted(stand.labels - real.labels - set(stand.blocks)):
        out.append(Difference(path, f"label {label}", "not in real"))
    real_outside = {b.name for b in real.outside}
    for branch in stand.outside:
        if branch.name in real_outside:
            continue
        target = branch.name.split()[-1]
        near = sorted({b.name for b in real.outside if b.name.split()[-1] == target})
        inside = sorted(name for name, bs in real.blocks.items() if any(b.name == branch.name for b in bs))
        hint = f"; real: {', '.join(near)}" if near else (f"; real: inside ENTRY({inside[0]})" if inside else "")
        out.append(
            Difference(path, "(outside ENTRY blocks)", f"branch only in stand-in (stand-in: {branch.name}{hint})")
        )
    return out


# ---------------------------------------------------------------------------
# Makefiles, Kconfig
# ---------------------------------------------------------------------------

_ASSIGN = re.compile(r"^([A-Za-z0-9_.\-/$()+]+?)\s*(\+=|:=|\?=|=)\s*(.*)$")


def make_assignments(text: str) -> list[tuple[str, str, list[str]]]:
    """(variable, operator, words) of each assignment, continuations joined,
    comments and recipe lines dropped."""
    out = []
    for line in re.sub(r"\\\n", " ", text).split("\n"):
        if line.startswith("\t"):
            continue
        line = re.sub(r"(?<!\\)#.*", "", line).strip()
        m = _ASSIGN.match(line)
        if m:
            out.append((m.group(1), m.group(2), m.group(3).split()))
    return out


def _is_list(var: str) -> bool:
    return var.startswith(("obj-", "kvm-", "lib-", "head-", "core-", "libs-")) or var.endswith(("-y", "-objs", "-m"))


def compare_kbuild(path: str, stand_text: str, real_text: str) -> list[Difference]:
    """Each object a stand-in kbuild assignment lists is in the real file's
    assignments to the same variable; other variables keep their value."""
    stand, real = make_assignments(stand_text), make_assignments(real_text)
    by_var: dict[str, list[list[str]]] = {}
    for var, _, words in real:
        by_var.setdefault(var, []).append(words)
    out: list[Difference] = []
    for var, op, words in stand:
        symbol = f"{var} {op}"
        if var not in by_var:
            near = [v for v, _, w in real if set(words) & set(w)]
            hint = f" (real: under {', '.join(sorted(set(near)))})" if near else ""
            out.append(Difference(path, symbol, f"not assigned in real{hint}"))
        elif _is_list(var):
            have = {w for ws in by_var[var] for w in ws}
            missing = [w for w in words if w not in have]
            if missing:
                hints = []
                for word in missing:
                    near = sorted({v for v, _, w in real if word in w})
                    if near:
                        hints.append(f"{word} under {', '.join(near)}")
                real_side = f"; real: {', '.join(hints)}" if hints else ""
                noun = "objects" if all(w.endswith((".o", "/")) for w in missing) else "words"
                out.append(Difference(path, symbol, f"{noun} not in real (stand-in: {' '.join(missing)}{real_side})"))
        elif words not in by_var[var]:
            out.append(
                Difference(path, symbol, f"value (stand-in: {' '.join(words)}; real: {' '.join(by_var[var][0])})")
            )
    return out


def compare_top_makefile(path: str, stand_text: str, real_text: str) -> list[Difference]:
    """VERSION and PATCHLEVEL of the top Makefile."""
    stand = {v: " ".join(w) for v, _, w in make_assignments(stand_text)}
    real = {v: " ".join(w) for v, _, w in make_assignments(real_text)}
    out = []
    for var in ("VERSION", "PATCHLEVEL"):
        if stand.get(var) != real.get(var):
            shown = f"stand-in: {stand.get(var, 'unset')}; real: {real.get(var, 'unset')}"
            out.append(Difference(path, var, f"differs ({shown})"))
    return out


def compare_kconfig(path: str, stand_text: str, real_text: str) -> list[Difference]:
    def symbols(text: str) -> list[str]:
        return re.findall(r"^\s*(?:menu)?config\s+(\w+)", text, re.M)

    have = set(symbols(real_text))
    return [Difference(path, f"config {s}", "not in real") for s in symbols(stand_text) if s not in have]


# ---------------------------------------------------------------------------
# Files and trees
# ---------------------------------------------------------------------------


def compare_file(path: str, stand_text: str, real_text: str | None, locate: Locator | None = None) -> list[Difference]:
    """The differences of one stand-in file from its real counterpart (None:
    the real tree has no such file), each once."""
    return list(dict.fromkeys(_compare_file(path, stand_text, real_text, locate)))


def _compare_file(path: str, stand_text: str, real_text: str | None, locate: Locator | None) -> list[Difference]:
    if real_text is None:
        return [Difference(path, "(file)", "not in the real tree" + _elsewhere(locate, "file", path, path))]
    name = os.path.basename(path)
    if path == "Makefile":
        return compare_top_makefile(path, stand_text, real_text)
    if name in ("Makefile", "Kbuild") or name.startswith("Makefile."):
        return compare_kbuild(path, stand_text, real_text)
    if name.startswith("Kconfig"):
        return compare_kconfig(path, stand_text, real_text)
    if name.endswith((".c", ".h")):
        return compare_c(path, stand_text, real_text, locate)
    if name.endswith(".S"):
        return compare_asm(path, stand_text, real_text, locate)
    return []


class TreeLocator:
    """Finds where a symbol lives in the real tree when the file the stand-in
    puts it in lacks it."""

    DIRS = ("arch/arm64", "virt/kvm", "include/linux", "include/kvm", "include/asm-generic")

    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self._texts: dict[str, str] | None = None

    def _files(self) -> dict[str, str]:
        if self._texts is None:
            self._texts = {}
            for top in self.DIRS:
                for dirpath, _, names in os.walk(self.tree / top):
                    for name in names:
                        if name.endswith((".c", ".h", ".S")):
                            full = Path(dirpath, name)
                            try:
                                self._texts[str(full.relative_to(self.tree))] = full.read_text(errors="replace")
                            except OSError:
                                pass
        return self._texts

    def __call__(self, kind: str, name: str, path: str) -> list[str]:
        if kind == "file":
            base = os.path.basename(name)
            return sorted(p for p in self._files() if os.path.basename(p) == base)[:3]
        n = re.escape(name)
        tag = r"\s+".join(map(re.escape, name.split()))  # struct/union NAME
        pattern = {
            "function": rf"^[A-Za-z_][^;={{}}\n]*\b{n}\s*\([^;{{}}]*\)[^;{{}}]*\{{",
            "prototype": rf"^[A-Za-z_][^;={{}}\n]*\b{n}\s*\([^;{{}}]*\)[^;{{}}]*[;{{]"
            rf"|^extern[^;={{}}\n]*\b{n}\b[^;{{}}]*;|^\s*#\s*define\s+{n}\b",
            "struct": rf"^\s*(?:typedef\s+)?{tag}\s*\{{",
            "define": rf"^\s*#\s*define\s+{n}\b",
            "entry": rf"^\s*(?:ENTRY|SYM_\w+_START\w*)\(\s*{n}\s*\)|^{n}:",
        }[kind]
        regex = re.compile(pattern, re.M)
        found = [p for p, text in self._files().items() if p != path and name in text and regex.search(text)]
        return sorted(found)[:3]


def compare_layout(files: dict[str, str], tree: Path, *, locate: bool = True) -> list[Difference]:
    """Every structural difference of a layout's stand-in files from a real tree."""
    locator = TreeLocator(tree) if locate else None
    out: list[Difference] = []
    for path in sorted(files):
        real_path = tree / path
        try:
            real_text = real_path.read_text(errors="replace") if real_path.is_file() else None
            out.extend(compare_file(path, files[path], real_text, locator))
        except Exception as exc:  # report it as this file's difference, not as a traceback
            out.append(Difference(path, "(file)", f"could not be compared ({type(exc).__name__}: {exc})"))
    return out


def format_report(diffs: Sequence[Difference]) -> str:
    """One line per difference, a blank line between files, a summary line."""
    lines: list[str] = []
    previous = None
    for d in diffs:
        if previous is not None and d.path != previous:
            lines.append("")
        lines.append(str(d))
        previous = d.path
    lines.append(summary(diffs))
    return "\n".join(lines)


def summary(diffs: Sequence[Difference]) -> str:
    if not diffs:
        return "no structural difference"
    files = len({d.path for d in diffs})
    return f"{len(diffs)} difference{'s' if len(diffs) != 1 else ''} in {files} file{'s' if files != 1 else ''}"


def describe(path: str, text: str) -> str:
    """What the check compares in one stand-in file (for --verbose)."""
    if path.endswith((".c", ".h")):
        u = parse_c(text)
        parts = [
            (len(u.functions), "function"),
            (len(u.declarations), "declaration"),
            (len(u.structs), "struct/union"),
            (len(u.enums), "enum"),
            (len(u.typedefs), "typedef"),
            (len(u.defines), "#define"),
            (len(u.includes), "#include"),
            (len(u.macros), "top-level macro"),
        ]
    elif path.endswith(".S"):
        a = parse_asm(text)
        parts = [
            (len(a.blocks), "ENTRY block"),
            (len(a.labels), "label"),
            (len(a.outside), "branch outside blocks"),
            (len(a.defines), "#define"),
            (len(a.includes), "#include"),
        ]
    elif path == "Makefile":
        parts = [(2, "version field")]
    else:
        parts = [(len(make_assignments(text)), "assignment")]
    return f"{path}: compares " + (
        ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in parts if n) or "presence"
    )


def _pairs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    if args.all is not None:
        if args.layout or args.tree:
            raise UsageError("--all takes LAYOUT=TREE pairs; do not mix it with --layout/--tree")
        if not args.all:
            return [(layout, Path(tree)) for layout, tree in DEFAULT_PAIRS if _known_layout(layout)]
        pairs = []
        for item in args.all:
            layout, sep, tree = item.partition("=")
            if not sep or not layout or not tree:
                raise UsageError(f"expected LAYOUT=TREE, got {item!r}")
            pairs.append((layout, Path(tree)))
        return pairs
    if args.pairs:
        raise UsageError(f"unexpected arguments without --all: {' '.join(args.pairs)}")
    if not args.layout or len(args.layout) != len(args.tree or []):
        raise UsageError("give --layout L --tree T (as many pairs as you like), or --all")
    return [(layout, Path(tree)) for layout, tree in zip(args.layout, args.tree, strict=True)]


def _known_layout(layout: str) -> bool:
    return (TESTS / ("standin" + layout.replace("v", "").replace(".", "") + ".py")).is_file()


def _stand_in(layout: str) -> dict[str, str]:
    import standin

    if not re.fullmatch(r"v?\d+\.\d+[a-z]*", layout):
        raise UsageError(f"unknown layout {layout!r} (layouts are named like v4.16)")
    try:
        return standin.layout(layout)
    except ValueError:
        raise UsageError(f"unknown layout {layout!r} (no tests/standin*.py module for it)") from None
    except Exception as exc:  # a stand-in module being edited may not import
        raise UsageError(f"cannot load the stand-in files of layout {layout!r}: {type(exc).__name__}: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check_standin.py",
        description="List the structural differences between a stand-in tree (tests/standin.py) and a real tree.",
    )
    parser.add_argument(
        "--layout", action="append", help="stand-in layout, e.g. v4.16 (repeatable, paired with --tree)"
    )
    parser.add_argument("--tree", action="append", help="real kernel tree (repeatable)")
    parser.add_argument(
        "--all",
        nargs="*",
        metavar="LAYOUT=TREE",
        help="check these pairs; with none, the default mapping ("
        + ", ".join(f"{layout}={tree}" for layout, tree in DEFAULT_PAIRS)
        + ")",
    )
    parser.add_argument("--no-locate", action="store_true", help="do not search the real tree for missing symbols")
    parser.add_argument("-v", "--verbose", action="store_true", help="say on stderr what each stand-in file compares")
    parser.add_argument("pairs", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.all is not None and args.pairs:
        args.all = [*args.all, *args.pairs]
        args.pairs = []
    try:
        pairs = _pairs(args)
        checks = []
        for layout, tree in pairs:
            if not tree.is_dir() or not (tree / "Makefile").is_file():
                raise UsageError(f"{tree}: not a kernel tree (no such directory, or no top Makefile)")
            checks.append((layout, tree, _stand_in(layout)))
    except UsageError as exc:
        print(f"check_standin.py: error: {exc}", file=sys.stderr)
        return 2
    totals = []
    for layout, tree, files in checks:
        for path, text in sorted(files.items()):
            if args.verbose:
                print(f"check_standin.py: layout {layout}: {describe(path, text)}", file=sys.stderr)
            lines = parse_problems(text) if path.endswith((".c", ".h")) else []
            if lines:
                shown = ", ".join(map(str, lines[:8])) + (", ..." if len(lines) > 8 else "")
                print(
                    f"check_standin.py: warning: layout {layout}: {path}: does not parse at line {shown}",
                    file=sys.stderr,
                )
        diffs = compare_layout(files, tree, locate=not args.no_locate)
        if len(checks) > 1:
            print(f"== layout {layout} vs {tree} ==")
        print(format_report(diffs))
        if len(checks) > 1:
            print()
        totals.append((layout, tree, diffs))
    if len(checks) > 1:
        for layout, tree, diffs in totals:
            print(f"layout {layout} vs {tree}: {summary(diffs)}")
    return 1 if any(diffs for _, _, diffs in totals) else 0


if __name__ == "__main__":
    sys.exit(main())
