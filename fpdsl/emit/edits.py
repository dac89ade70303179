"""Line edits of a file, each added line carrying the policy line that
produced it, and the unified-diff hunks they make."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from fpdsl.emit.ccode import code_tokens, same_code


@dataclass(frozen=True)
class Origin:
    """Where an emitted line comes from: a policy file and line, and why."""

    path: str
    line: int
    why: str

    def render(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Line:
    text: str
    origin: Origin | None


@dataclass
class Edit:
    """Replace lines [start, end) of `path` (0-based) by `lines`; removed
    lines are attributed to `origin`."""

    path: str
    start: int
    end: int
    lines: list[Line]
    origin: Origin
    order: int = 0  # among insertions at the same line


@dataclass
class FileChange:
    path: str
    old: list[str]
    new: list[Line]
    removed: dict[int, Origin] = field(default_factory=dict)  # old line index -> why it went
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def new_text(self) -> str:
        return "\n".join(line.text for line in self.new)


@dataclass
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    rows: list[tuple[str, str, Origin | None]]  # (' ' | '-' | '+', text, origin)

    def header(self) -> str:
        return f"@@ -{_range(self.old_start, self.old_len)} +{_range(self.new_start, self.new_len)} @@"


def _range(start: int, length: int) -> str:
    # Unified diff: 1-based start; an empty range names the line before it.
    first = start + 1 if length else start
    return f"{first}" if length == 1 else f"{first},{length}"


class OverlapError(ValueError):
    pass


def same_code_edit(old: list[str], e: Edit) -> bool:
    """The edit changes comments or layout only: the tree (lines `old`)
    already says it."""
    return same_code(old[e.start : e.end], (line.text for line in e.lines))


def _split(old: list[str], e: Edit) -> list[Edit]:
    """The parts of a replacement that change lines; lines it keeps as they
    were become context, not -/+ (a line diff of the replaced range)."""
    new = [line.text for line in e.lines]
    matcher = difflib.SequenceMatcher(None, old[e.start : e.end], new, autojunk=False)
    return [
        Edit(e.path, e.start + i1, e.start + i2, e.lines[j1:j2], e.origin, e.order)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal" and not (i1 < i2 and _prose(old[e.start + i1 : e.start + i2]) and _prose(new[j1:j2]))
    ]


def _prose(lines: list[str]) -> bool:
    """Comments and blank lines only. Where the policy's code keeps the
    tree's, the tree's comments and spacing stay too: a hunk that trades
    one comment for another is noise to a reviewer."""
    return not code_tokens(lines)


def apply_edits(path: str, text: str, edits: list[Edit], context: int = 3, keep_same: bool = False) -> FileChange:
    """The file with `edits` made. An edit that changes only comments or
    layout is left out unless `keep_same`."""
    old = text.split("\n")
    kept = [e for e in edits if keep_same or not same_code_edit(old, e)]
    edits = sorted((part for e in kept for part in _split(old, e)), key=lambda e: (e.start, e.end, e.order))
    for a, b in zip(edits, edits[1:], strict=False):
        if b.start < a.end:
            raise OverlapError(f"{path}: two sites overlap at line {b.start + 1}")
    new: list[Line] = []
    removed: dict[int, Origin] = {}
    # Each row of the merged sequence: (tag, text, origin, old index, new index).
    rows: list[tuple[str, str, Origin | None, int, int]] = []
    cursor = 0
    for e in edits:
        for i in range(cursor, e.start):
            rows.append((" ", old[i], None, i, len(new)))
            new.append(Line(old[i], None))
        for i in range(e.start, e.end):
            removed[i] = e.origin
            rows.append(("-", old[i], e.origin, i, len(new)))
        for line in e.lines:
            rows.append(("+", line.text, line.origin, e.end, len(new)))
            new.append(line)
        cursor = max(cursor, e.end)
    for i in range(cursor, len(old)):
        rows.append((" ", old[i], None, i, len(new)))
        new.append(Line(old[i], None))
    change = FileChange(path, old, new, removed)
    change.hunks = _hunks(rows, context)
    return change


def _hunks(rows: list[tuple[str, str, Origin | None, int, int]], context: int) -> list[Hunk]:
    changed = [i for i, r in enumerate(rows) if r[0] != " "]
    if not changed:
        return []
    # The trailing "" after a final newline is not a line of the file.
    last_row = len(rows) - 1 if rows and rows[-1][0] == " " and rows[-1][1] == "" else len(rows)
    groups: list[list[int]] = [[changed[0], changed[0]]]
    for i in changed[1:]:
        if i - groups[-1][1] <= 2 * context:
            groups[-1][1] = i
        else:
            groups.append([i, i])
    hunks = []
    for lo, hi in groups:
        lo = max(0, lo - context)
        hi = min(last_row - 1, hi + context)
        window = rows[lo : hi + 1]
        old_len = sum(1 for r in window if r[0] != "+")
        new_len = sum(1 for r in window if r[0] != "-")
        first = window[0]
        old_start = first[3]
        new_start = first[4]
        hunks.append(Hunk(old_start, old_len, new_start, new_len, [(r[0], r[1], r[2]) for r in window]))
    return hunks
