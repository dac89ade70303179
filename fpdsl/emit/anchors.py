"""Find patch sites in real kernel C files structurally, with tree-sitter's C
grammar: a function by name, the statements in it that call something, a
struct's closing brace, a header declaration. Every lookup that finds no
site, or more than one, raises AnchorError naming the file, the function and
the statement expected; no caller writes anything after that."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import tree_sitter_c
from tree_sitter import Language, Node, Parser

from fpdsl.diagnostics import FpdslError


class AnchorError(FpdslError):
    """A site the target needs is missing or ambiguous in the tree."""


@lru_cache(maxsize=1)
def c_parser() -> Parser:
    return Parser(Language(tree_sitter_c.language()))


@dataclass(frozen=True)
class Site:
    """A 0-based line range [start, end) in a file, and the indentation of
    the statement found there."""

    start: int
    end: int
    indent: str


class CFile:
    """One parsed C file of the tree."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.lines = text.split("\n")
        self._data = text.encode()
        self.root = c_parser().parse(self._data).root_node

    # -- lookups ------------------------------------------------------------

    def function(self, name: str) -> Node:
        found = [n for n in _walk(self.root) if n.type == "function_definition" and _declared_name(n) == name]
        return self._one(found, f"the definition of {name}()")

    def calls(self, scope: Node, callee: str) -> list[Node]:
        """Statements in `scope` whose expression calls `callee` (directly, or
        as the value assigned), in source order."""
        return [n for n in _walk(scope) if n.type == "expression_statement" and _statement_callee(n) == callee]

    def call(
        self, function: str, callee: str, *, after: Node | None = None, first: bool = False, sibling: bool = False
    ) -> Node:
        """The statement calling `callee` in `function`; with `after`, the
        ones after that node (with `sibling`, only in the same block)."""
        scope = self.function(function)
        found = self.calls(scope, callee)
        if after is not None:
            found = [n for n in found if n.start_byte >= after.end_byte]
            if sibling:
                parent = after.parent
                found = [n for n in found if n.parent is not None and n.parent.start_byte == parent.start_byte]
        what = f"the statement '{callee}();' in {function}()" + (" after guest entry" if after is not None else "")
        if first and found:
            found = found[:1]
        return self._one(found, what)

    def if_on(self, function: str, identifier: str) -> Node:
        scope = self.function(function)
        found = [
            n
            for n in _walk(scope)
            if n.type == "if_statement" and self._text(n.child_by_field_name("condition")).strip("() ") == identifier
        ]
        return self._one(found, f"the statement 'if ({identifier})' in {function}()")

    def assignment_to(self, function: str, identifier: str) -> Node:
        scope = self.function(function)
        found = [
            n
            for n in _walk(scope)
            if n.type == "expression_statement"
            and n.named_children
            and n.named_children[0].type == "assignment_expression"
            and self._text(n.named_children[0].child_by_field_name("left")) == identifier
        ]
        return self._one(found, f"the assignment to '{identifier}' in {function}()")

    def local_declaration(self, function: str, identifier: str) -> Node:
        body = self.function(function).child_by_field_name("body")
        found = [n for n in body.named_children if n.type == "declaration" and identifier in _declarators(n, self)]
        return self._one(found, f"the declaration of '{identifier}' in {function}()")

    def struct_body(self, name: str) -> Node:
        found = [
            n
            for n in _walk(self.root)
            if n.type == "struct_specifier"
            and n.child_by_field_name("body") is not None
            and self._text(n.child_by_field_name("name")) == name
        ]
        return self._one(found, f"the definition of struct {name}").child_by_field_name("body")

    def prototype(self, name: str) -> Node:
        found = [
            n
            for n in _walk(self.root)
            if n.type == "declaration"
            and any(c.type == "function_declarator" and _declared_name(c) == name for c in _walk(n))
        ]
        return self._one(found, f"the declaration of {name}()")

    def has_define(self, name: str) -> bool:
        return any(
            n.type == "preproc_def" and self._text(n.child_by_field_name("name")) == name for n in _walk(self.root)
        )

    def has_include(self, header: str) -> bool:
        return any(line.strip() == f"#include <{header}>" for line in self.lines)

    def last_include(self, prefix: str) -> int:
        found = [i for i, line in enumerate(self.lines) if line.startswith(f"#include <{prefix}")]
        if not found:
            raise AnchorError(f"{self.path}: no '#include <{prefix}...>' line to add an include after")
        return found[-1]

    # -- sites --------------------------------------------------------------

    def site(self, node: Node) -> Site:
        """The whole lines a statement occupies, with the comment lines that
        introduce it when they are directly above."""
        start = node.start_point[0]
        return Site(start, node.end_point[0] + 1, _indent(self.lines[start]))

    def with_leading_comment(self, node: Node) -> Site:
        site = self.site(node)
        prev = node.prev_named_sibling
        if prev is not None and prev.type == "comment" and prev.end_point[0] == site.start - 1:
            return Site(prev.start_point[0], site.end, site.indent)
        return site

    def body_start(self, function: str) -> Site:
        """Just after the function's local declarations."""
        body = self.function(function).child_by_field_name("body")
        line = body.start_point[0] + 1
        for child in body.named_children:
            if child.type != "declaration":
                break
            line = child.end_point[0] + 1
            if line < len(self.lines) and self.lines[line].strip() == "":
                line += 1
        return Site(line, line, "\t")

    def declarations_end(self, function: str) -> tuple[int, bool]:
        """The line after the function's leading local declarations, and
        whether it has any."""
        body = self.function(function).child_by_field_name("body")
        line, found = body.start_point[0] + 1, False
        for child in body.named_children:
            if child.type != "declaration":
                break
            line, found = child.end_point[0] + 1, True
        return line, found

    def body_end(self, function: str) -> Site:
        body = self.function(function).child_by_field_name("body")
        line = body.end_point[0]
        return Site(line, line, "\t")

    def statements(self, function: str, *, keep_final_return: bool, declarations: bool = False) -> Site:
        """The lines of a function's body, from its first statement (or
        declaration) to its last, optionally short of a final return."""
        body = self.function(function).child_by_field_name("body")
        stmts = list(body.named_children)
        if keep_final_return and stmts and stmts[-1].type == "return_statement":
            stmts = stmts[:-1]
        if not declarations:
            stmts = [c for c in stmts if c.type != "declaration"]
        if not stmts:
            raise AnchorError(f"{self.path}: {function}() has no statements to replace")
        first = stmts[0].start_point[0]
        return Site(first, stmts[-1].end_point[0] + 1, "\t")

    def after_function(self, function: str) -> int:
        """The line after a function's definition and its EXPORT_SYMBOL."""
        line = self.function(function).end_point[0] + 1
        probe = line
        while probe < len(self.lines) and self.lines[probe].strip() == "":
            probe += 1
        if (
            probe < len(self.lines)
            and self.lines[probe].strip().startswith("EXPORT_SYMBOL(")
            and function in self.lines[probe]
        ):
            line = probe + 1
        return line

    # -- helpers ------------------------------------------------------------

    def _text(self, node: Node | None) -> str:
        return "" if node is None else self._data[node.start_byte : node.end_byte].decode()

    def _one(self, found: list[Node], what: str) -> Node:
        if not found:
            raise AnchorError(f"{self.path}: cannot find {what}")
        if len(found) > 1:
            lines = ", ".join(str(n.start_point[0] + 1) for n in found)
            raise AnchorError(f"{self.path}: {what} is ambiguous: found {len(found)} times (lines {lines})")
        return found[0]


def walk(node: Node) -> Iterator[Node]:
    """`node` and every named node under it, in source order."""
    return _walk(node)


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.named_children))


def _declared_name(node: Node) -> str | None:
    decl = node.child_by_field_name("declarator")
    while decl is not None and decl.type != "identifier":
        if decl.type in ("function_declarator", "pointer_declarator", "parenthesized_declarator"):
            decl = decl.child_by_field_name("declarator") or (decl.named_children[0] if decl.named_children else None)
        else:
            return None
    return decl.text.decode() if decl is not None else None


def _statement_callee(stmt: Node) -> str | None:
    if not stmt.named_children:
        return None
    expr = stmt.named_children[0]
    if expr.type == "assignment_expression":
        expr = expr.child_by_field_name("right")
    if expr is None or expr.type != "call_expression":
        return None
    fn = expr.child_by_field_name("function")
    return fn.text.decode() if fn is not None and fn.type == "identifier" else None


def _declarators(decl: Node, cfile: CFile) -> set[str]:
    return {n.text.decode() for n in _walk(decl) if n.type == "identifier"}


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip("\t "))]
