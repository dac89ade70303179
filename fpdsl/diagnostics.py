"""Located diagnostics rendered like a compiler: file:line:col, the source
line, a caret under the culprit and an optional hint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, order=True)
class Span:
    """A 1-based line/column range in a source file."""

    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    @property
    def length(self) -> int:
        if self.end_line == self.line and self.end_column > self.column:
            return self.end_column - self.column
        return 1


@dataclass(frozen=True)
class Source:
    """A source text and the name it is reported under."""

    path: str
    text: str

    def line_text(self, line: int) -> str:
        # Lines end at '\n' only, as for the lexer: str.splitlines() would also
        # split at '\f', '\v', '\x1c'.. and '\u2028' and echo the wrong line.
        lines = self.text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1].removesuffix("\r")
        return ""


@dataclass
class Diagnostic:
    message: str
    span: Span | None = None
    source: Source | None = None
    hint: str | None = None
    severity: str = "error"
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        where = self.source.path if self.source else "fpdsl"
        if self.span is not None:
            where = f"{where}:{self.span.line}:{self.span.column}"
        out = [f"{where}: {self.severity}: {self.message}"]
        if self.span is not None and self.source is not None:
            text, column = _window(_printable(self.source.line_text(self.span.line)), self.span.column)
            out.append(f"  {self.span.line:>4} | {text}")
            width = max(1, min(self.span.length, 60, len(text) - column + 1))
            out.append(f"       | {' ' * (column - 1)}^{'~' * (width - 1)}")
        for note in self.notes:
            out.append(f"  note: {note}")
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)


ECHO_WIDTH = 100  # longer source lines are echoed as a window around the column


def _window(text: str, column: int) -> tuple[str, int]:
    """A long line cut down to ECHO_WIDTH characters around `column`, with
    '...' where it was cut; and the column within what is shown."""
    if len(text) <= ECHO_WIDTH:
        return text, column
    start = max(0, min(column - 1 - ECHO_WIDTH // 3, len(text) - ECHO_WIDTH))
    lead = "..." if start > 0 else ""
    tail = "..." if start + ECHO_WIDTH < len(text) else ""
    return lead + text[start : start + ECHO_WIDTH] + tail, column - start + len(lead)


def _printable(line: str) -> str:
    """The echoed source line, one cell per character so that the caret lines
    up: tabs become spaces, control and invisible characters '?' (a stray
    escape sequence must not reach the terminal)."""
    return "".join(" " if c == "\t" else c if c.isprintable() else "?" for c in line)


class FpdslError(Exception):
    """An error for the user; carries one or more diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.render() for d in diagnostics))


class UsageError(FpdslError):
    """Bad invocation: missing/unreadable input (exit status 2)."""


def read_source(path: str | Path, *, max_bytes: int = 1 << 20) -> Source:
    """Read a text input or raise UsageError with a clear reason."""
    p = Path(path)

    def refuse(message: str, span: Span | None = None, text: str = "", hint: str | None = None) -> UsageError:
        return UsageError(Diagnostic(message, span, Source(str(path), text), hint))

    from fpdsl.fsutil import InputRefused, read_regular  # fsutil's errors are ours: no cycle at import

    try:
        data = read_regular(p, max_bytes)
    except InputRefused as exc:
        raise refuse(str(exc)) from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise refuse(f"binary file (NUL byte at offset {nul}), not a text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        line_start = before.rfind(b"\n") + 1
        column = len(before[line_start:].decode("utf-8")) + 1
        raise refuse(
            f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x})",
            Span(line, column),
            data.decode("utf-8", errors="replace"),
            "save the file as UTF-8",
        ) from None
    return Source(str(path), text.removeprefix("\ufeff"))  # an editor's byte order mark is not content


def did_you_mean(name: str, candidates: list[str] | set[str]) -> str | None:
    import difflib

    best = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return best[0] if best else None
