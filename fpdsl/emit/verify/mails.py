"""The mails verify-patch is given: one patch or a `git format-patch`
series, the tree files each changes, which of them to apply (not a
series' cover letter), and the paths a patch may not name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdsl.diagnostics import UsageError

PATCH_NAME = re.compile(r"^(?:v\d+-)?\d{4}-.+\.patch$")  # with -v N, git writes vN-0001-...
COVER_SUBJECT = re.compile(r"^Subject: \[[^]]*\b0+/\d+\]", re.MULTILINE)


@dataclass(frozen=True)
class PatchFile:
    """One mail of a series: its name (for step names) and its text."""

    name: str
    text: str

    @property
    def touched(self) -> list[str]:
        return touched_files(self.text)

    @property
    def is_cover_letter(self) -> bool:
        """A mail that changes no file and is a series' [PATCH 0/N] or 0000-*.patch."""
        return not self.touched and (bool(COVER_SUBJECT.search(self.text)) or self.name.startswith("0000-"))


def touched_files(patch_text: str) -> list[str]:
    """The tree paths a patch changes (git's -p1), in the patch's order."""
    paths: list[str] = []
    for line in patch_text.split("\n"):
        names: list[str] = []
        if line.startswith("diff --git "):
            m = re.match(r"diff --git a/(\S+) b/(\S+)$", line)
            names = list(m.groups()) if m else []
        elif line.startswith(("--- ", "+++ ")):
            name = line[4:].split("\t")[0].strip()
            if name != "/dev/null" and "/" in name:
                names = [name.split("/", 1)[1]]
        for name in names:
            if name not in paths:
                paths.append(name)
    return paths


def unsafe_path(path: str) -> str | None:
    """Why a path a patch names cannot be a file of the tree, or None."""
    if not path or path.startswith("/"):
        return "an absolute path"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "a path with an empty, '.' or '..' component"
    if any(ord(ch) < 0x20 or ch == "\\" for ch in path):
        return "a path with a control character or backslash"
    return None


def series_files(paths: Sequence[str | Path]) -> list[Path]:
    """The patch files to apply, in order: each file as given, and for a
    directory its `NNNN-*.patch` files sorted by name (what `git format-patch`
    and `fpdsl emit-patch --series` write; the cover letter is skipped later,
    as it changes no file)."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if PATCH_NAME.match(p.name) and p.is_file())
            if not found:
                raise UsageError(f"{path}: a directory without NNNN-*.patch files")
            files.extend(found)
        else:
            files.append(path)
    return files


def select_patches(mails: Sequence[PatchFile]) -> tuple[list[PatchFile], list[str]]:
    """The mails to apply, in the given order, and a note for each cover
    letter of a series left out. Raise UsageError for a mail that changes no
    file and is not a series' cover letter, or when nothing is left."""
    patches: list[PatchFile] = []
    notes: list[str] = []
    for mail in mails:
        if mail.touched:
            patches.append(mail)
        elif len(mails) > 1 and mail.is_cover_letter:
            notes.append(f"{mail.name or 'a mail'}: a cover letter, not applied")
        else:
            name = f"{mail.name}: " if mail.name else ""
            raise UsageError(f"{name}the patch changes no file (no 'diff --git' or '---'/'+++' lines)")
    if not patches:
        raise UsageError("no patch to apply: every mail is a cover letter")
    return patches, notes
