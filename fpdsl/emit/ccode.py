"""Whether two pieces of C say the same thing to the compiler: comments,
layout and the braces kernel style puts around a single statement aside.
An edit that changes nothing else is not worth a hunk."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tree_sitter import Node

from fpdsl.emit.anchors import c_parser

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
# Statements whose body may be a single statement with or without braces.
_BODY_OF = frozenset({"if_statement", "else_clause", "for_statement", "while_statement", "do_statement"})


def same_code(old: Iterable[str], new: Iterable[str]) -> bool:
    """`old` and `new` (lines of a function body) compile to the same code."""
    return code_tokens(old) == code_tokens(new)


def code_tokens(lines: Iterable[str]) -> tuple[str, ...]:
    """The tokens of a run of statements, with single statements unbraced.
    Text tree-sitter cannot parse as statements is compared token by token."""
    text = "\n".join(lines)
    wrapped = f"void __fpdsl_compare(void)\n{{\n{text}\n}}\n".encode()
    root = c_parser().parse(wrapped).root_node
    if root.has_error:
        flat = _COMMENT.sub(" ", text)
        return tuple(re.findall(r"\w+|[^\w\s]", flat))
    out: list[str] = []
    body = root.children[0].child_by_field_name("body")
    for child in body.children[1:-1]:  # inside the wrapper's braces
        _tokens(child, out)
    return tuple(out)


def _tokens(node: Node, out: list[str]) -> None:
    if node.type == "comment":
        return
    if node.type == "compound_statement" and node.parent is not None and node.parent.type in _BODY_OF:
        inner = [c for c in node.named_children if c.type != "comment"]
        # An unbraced if inside an if/else would change which if the else binds to.
        if len(inner) == 1 and inner[0].type not in ("declaration", "if_statement"):
            _tokens(inner[0], out)
            return
    if node.child_count == 0:
        out.append(node.text.decode())
        return
    for child in node.children:
        _tokens(child, out)
