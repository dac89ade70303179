"""Reading what make and gcc print: a build's output in a stable order,
whether a target was built, gcc's C errors and warnings and the ones a
patched build adds, and the first error of a failed step for its one-line
summary."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# gcc's C errors: `file.c:L:C: error: ...` (also `fatal error:`), in .c and .h files only.
C_ERROR = re.compile(r"^(?P<file>[^\s:]+\.[ch]):(?P<line>\d+):(?P<col>\d+): (?P<msg>(?:fatal )?error: .*)$")
# gcc's warnings, the same way: `file.h:L:C: warning: ... [-Wname]`.
C_WARNING = re.compile(r"^(?P<file>[^\s:]+\.[ch]):(?P<line>\d+):(?P<col>\d+): (?P<msg>warning: .*)$")
ERROR_WORD = re.compile(r"\berror\b", re.IGNORECASE)
MAKE_LINE = re.compile(r"^make(\[\d+\])?: ")
# kbuild's progress lines ("  CC      arch/arm64/kvm/arm.o"): under -j2 their
# order varies from run to run, so the report sorts the output by them and
# keeps only the ones that show the target itself was built.
PROGRESS_LINE = re.compile(r"^  [A-Z][A-Z0-9_-]*\s+(\S+)$")


def tidy_build_output(output: str, built: str) -> str:
    """A build's output in a stable order, without other targets' chatter.

    Under -j2 the order of targets varies from run to run: cut the output
    into one piece per target (each starts at its kbuild progress line,
    "  CC      arch/arm64/kvm/arm.o"), sort the pieces by target, and keep the
    pieces of `built` (the object; for a kbuild directory, the pieces of its
    targets, "arch/arm64/kvm/../../../virt/kvm/arm/arm.o" included, that
    hold a message, and a count of all) and of any other target (host tools
    built on the way) only when they hold an error. make's own lines
    (`make[1]: *** ...`) go last, sorted. Without -Otarget a piece may hold
    another target's messages; a failure still shows."""
    directory = built.endswith("/")
    preamble: list[str] = []
    pieces: list[tuple[str, bool, list[str]]] = []
    make_lines: list[str] = []
    for line in output.split("\n"):
        m = PROGRESS_LINE.match(line)
        if MAKE_LINE.match(line):
            make_lines.append(line)
        elif m:
            target = m.group(1)
            own = target.startswith(built) if directory else os.path.normpath(target) == built
            pieces.append((os.path.normpath(target), own, [line]))
        elif pieces:
            pieces[-1][2].append(line)
        else:
            preamble.append(line)
    pieces.sort(key=lambda piece: piece[0])
    kept: list[str] = []
    for _, own, piece in pieces:
        if own and (not directory or any(piece[1:])):
            kept.extend(piece)
        elif any(ERROR_WORD.search(text) for text in piece):
            kept.extend(piece[1:])  # without its progress line
    if directory:
        count = sum(own for _, own, _ in pieces)
        kept.append(f"({count} kbuild targets under {built}; those with messages shown)")
    lines = preamble + kept + sorted(set(make_lines))
    text = "\n".join(line for line in lines if line)
    return text + "\n" if text else ""


def _compiled(output: str, obj: str) -> bool:
    """Whether a kbuild progress line shows `obj` (tree-relative, normalised) being built."""
    return any(
        m and os.path.normpath(m.group(1)) == obj for m in (PROGRESS_LINE.match(line) for line in output.split("\n"))
    )


@dataclass(frozen=True)
class CError:
    """One gcc C error (or warning): the file (normalised: arch/arm/kvm/../../../virt/kvm/arm/arm.c
    is virt/kvm/arm/arm.c), its position, the message and gcc's lines."""

    file: str
    line: int
    column: int
    message: str  # "error: ..." or "fatal error: ..."
    text: str  # gcc's error line (file normalised) and the source lines it quotes

    @property
    def key(self) -> tuple[str, str]:
        """What two builds are compared by: no line numbers, which a patch moves."""
        return self.file, self.message


def c_errors(output: str) -> list[CError]:
    """gcc's C errors in a build's output, in order. Assembler errors
    (`file.s:N: Error:`, `{standard input}`, `.S` files) and make's own
    failure lines are not C errors."""
    return _diagnostics(output, C_ERROR)


def c_warnings(output: str) -> list[CError]:
    """gcc's warnings on C files in a build's output, in order (each a
    CError whose message starts with "warning:")."""
    return _diagnostics(output, C_WARNING)


def _diagnostics(output: str, pattern: re.Pattern[str]) -> list[CError]:
    errors: list[CError] = []
    lines = output.split("\n")
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if m is None:
            continue
        file = os.path.normpath(m.group("file"))
        quoted = []
        for follow in lines[i + 1 :]:
            if not follow.startswith(" ") or PROGRESS_LINE.match(follow):
                break
            quoted.append(follow)
        head = f"{file}:{m.group('line')}:{m.group('col')}: {m.group('msg')}"
        errors.append(
            CError(file, int(m.group("line")), int(m.group("col")), m.group("msg"), "\n".join([head, *quoted]))
        )
    return errors


def new_c_errors(before: Iterable[CError], after: Iterable[CError]) -> list[CError]:
    """The errors of `after` that `before` lacks, compared without line
    numbers and counted (a second identical error in the same file is new)."""
    left = Counter(e.key for e in before)
    new = []
    for error in after:
        if left[error.key] > 0:
            left[error.key] -= 1
        else:
            new.append(error)
    return new


def _first_error(output: str) -> str:
    """The first gcc error (its path normalised), else the first other error line."""
    for line in output.split("\n"):
        m = C_ERROR.match(line) or re.match(r"^(?P<file>\S+):(?P<line>\d+):(?P<col>\d+): (?P<msg>error: .*)$", line)
        if m:
            return f"{os.path.normpath(m.group('file'))}:{m.group('line')}:{m.group('col')}: {m.group('msg')}".strip()
    for pattern in (r"^error: .*$", r"^.*\*\*\* .*$"):
        m = re.search(pattern, output, re.MULTILINE)
        if m:
            return m.group(0).strip()
    return ""
