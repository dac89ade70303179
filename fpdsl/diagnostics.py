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
        lines = self.text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
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
            text = self.source.line_text(self.span.line).replace("\t", " ")
            out.append(f"  {self.span.line:>4} | {text}")
            pad = " " * (self.span.column - 1)
            caret = "^" + "~" * max(0, min(self.span.length, 60) - 1)
            out.append(f"       | {pad}{caret}")
        for note in self.notes:
            out.append(f"  note: {note}")
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)


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
    if not p.exists():
        raise UsageError(f"{path}: no such file")
    if p.is_dir():
        raise UsageError(f"{path}: is a directory, not a policy file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise UsageError(f"{path}: file is {len(data)} bytes; policies are limited to {max_bytes} bytes")
    if b"\0" in data:
        raise UsageError(f"{path}: binary file (contains NUL bytes), not a policy")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start} is invalid)") from None
    return Source(str(path), text)


def did_you_mean(name: str, candidates: list[str] | set[str]) -> str | None:
    import difflib

    best = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return best[0] if best else None
