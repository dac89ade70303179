"""What free text in a policy may contain. `##` comments become C comments
and the description goes into mail subjects and commit messages, so a
policy someone else wrote must not be able to end the comment, start a
new line, or hide characters a reviewer cannot see."""

from __future__ import annotations

import unicodedata

from lark import Token, Tree

from fpdsl.diagnostics import Diagnostic, FpdslError, Source, Span

# Unicode categories a reader cannot see or that move text: controls,
# format characters (bidi overrides, zero-width joiners), private use,
# surrogates, unassigned code points, line and paragraph separators.
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}
MAX_DESCRIPTION = 120


def check_text(tree: Tree, source: Source) -> None:
    """Raise a located diagnostic for the first `##` comment or description
    that could leave its context."""
    for token in tree.scan_values(lambda v: isinstance(v, Token) and v.type in ("DOC_COMMENT", "STRING")):
        if token.type == "DOC_COMMENT":
            _check_comment(token, source)
        else:
            _check_description(token, source)


def _at(token: Token, offset: int) -> Span:
    return Span(token.line, token.column + offset, token.line, token.column + offset + 1)


def _first_invisible(text: str, allow_tab: bool) -> int | None:
    for i, ch in enumerate(text):
        if ch == "\t" and allow_tab:
            continue
        if unicodedata.category(ch) in _INVISIBLE:
            return i
    return None


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def _refuse_invisible(
    token: Token, text: str, offset: int, source: Source, what: str, why: str, hint: str | None = None
) -> None:
    """A located diagnostic at the first invisible or control character of
    `text`, which starts `offset` columns into `token` (a tab is allowed in
    comments, not in the one-line description, which has the quote first)."""
    bad = _first_invisible(text, allow_tab=offset == 0)
    if bad is not None:
        raise FpdslError(
            Diagnostic(
                f"{what} may not contain the invisible or control character {_describe(text[bad])}: {why}",
                _at(token, bad + offset),
                source,
                hint,
            )
        )


def _check_comment(token: Token, source: Source) -> None:
    text = str(token)
    for delimiter in ("*/", "/*"):
        at = text.find(delimiter)
        if at >= 0:
            raise FpdslError(
                Diagnostic(
                    f"a '##' comment may not contain '{delimiter}': it is emitted inside a C comment",
                    _at(token, at),
                    source,
                    "write it differently (e.g. '* /'), or use a plain '#' comment, which is not emitted",
                )
            )
    _refuse_invisible(
        token,
        text,
        0,
        source,
        "a '##' comment",
        "it is emitted into C and must read as what it is",
        "remove the character (a bare carriage return ends a line only on some systems)",
    )


def _check_description(token: Token, source: Source) -> None:
    text = str(token)[1:-1]
    _refuse_invisible(token, text, 1, source, "the description", "it goes into the patch mail's subject and message")
    if len(text) > MAX_DESCRIPTION:
        raise FpdslError(
            Diagnostic(
                f"the description is {len(text)} characters long; at most {MAX_DESCRIPTION} "
                "(it is a one-line summary: put the rest in '#' comments)",
                _at(token, MAX_DESCRIPTION + 1),
                source,
            )
        )
