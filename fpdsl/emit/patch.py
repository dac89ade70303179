"""Write an emission as `git format-patch` mail: headers, the commit
message, a diffstat and `diff --git` sections; or as a series with one
patch per subsystem and a cover letter; or annotated for review."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fpdsl import __version__
from fpdsl.emit.edits import Edit, FileChange, Hunk, apply_edits

ZERO_SHA = "0" * 40

# Subsystems in series order: the interface first, then its user.
SUBSYSTEMS = (
    ("arm64: fpsimd", ("arch/arm64/kernel/", "arch/arm64/include/asm/fpsimd.h")),
    ("KVM: arm64", ("",)),
)


@dataclass(frozen=True)
class Mail:
    author: str  # "Name <email>"
    date: str  # RFC 2822
    subject: str
    body: str  # the commit message body, without Signed-off-by
    prefix: str = "PATCH"  # the subject's tag: PATCH, RFC PATCH, PATCH v2 ...
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    notes: str = ""  # below the `---` line, above the diffstat: git am drops it
    base: str | None = None  # base-commit: trailer, as git format-patch --base


def encoded_header(text: str, phrase: bool = False) -> str:
    """A header's text as `git format-patch` writes it: as is, unless it has
    a non-ASCII character or "=?" (which would start an RFC 2047 encoded
    word, and `git mailinfo` would then lose the message); then UTF-8
    Q-encoded words of at most 75 characters, one per folded line. A
    `phrase` (the name before an address) keeps fewer characters literal."""
    if text.isascii() and "=?" not in text:
        return text
    words, payload = [], ""
    for ch in text:
        if ch == " ":
            piece = "_"
        elif (
            ch.isascii() and (ch.isalnum() or ch in "!*+-/")
            if phrase
            else ch.isascii() and ch.isprintable() and ch not in "=?_"
        ):
            piece = ch
        else:
            piece = "".join(f"={b:02X}" for b in ch.encode("utf-8"))
        if len(payload) + len(piece) > 75 - len("=?UTF-8?q??="):
            words.append(payload)
            payload = ""
        payload += piece
    words.append(payload)
    return "\n ".join(f"=?UTF-8?q?{w}?=" for w in words)


def _headers(mail: Mail, tag: str) -> list[str]:
    name, bracket, address = mail.author.rpartition(" <")
    author = f"{encoded_header(name, phrase=True)}{bracket}{address}" if bracket else mail.author
    head = [f"From {ZERO_SHA} Mon Sep 17 00:00:00 2001", f"From: {author}", f"Date: {mail.date}"]
    head.append(f"Subject: {encoded_header(f'{tag} {mail.subject}')}")
    head += [f"To: {', '.join(mail.to)}"] if mail.to else []
    head += [f"Cc: {', '.join(mail.cc)}"] if mail.cc else []
    return head


def blob_id(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()[:12]


def diff_text(changes: list[FileChange]) -> str:
    out: list[str] = []
    for c in changes:
        old_text = "\n".join(c.old)
        out.append(f"diff --git a/{c.path} b/{c.path}")
        out.append(f"index {blob_id(old_text)}..{blob_id(c.new_text)} 100644")
        out.append(f"--- a/{c.path}")
        out.append(f"+++ b/{c.path}")
        for h in c.hunks:
            out.append(_hunk_header(c, h))
            out.extend(f"{tag}{text}" for tag, text, _ in h.rows)
    return "\n".join(out) + "\n"


def _hunk_header(change: FileChange, hunk: Hunk) -> str:
    # Name the enclosing function, as git does, so a reviewer sees where.
    func = ""
    for i in range(hunk.old_start - 1, -1, -1):
        line = change.old[i] if i < len(change.old) else ""
        if line[:1].isalpha() or line[:1] == "_":
            func = f" {line.rstrip()}"
            break
    return hunk.header() + func


def diffstat(changes: list[FileChange]) -> str:
    rows = []
    for c in changes:
        added = sum(1 for h in c.hunks for r in h.rows if r[0] == "+")
        removed = sum(1 for h in c.hunks for r in h.rows if r[0] == "-")
        rows.append((c.path, added, removed))
    width = max(len(p) for p, _, _ in rows)
    most = max(a + r for _, a, r in rows)
    room = max(10, 72 - width - 8)
    out = []
    for path, added, removed in rows:
        scale = min(1.0, room / most) if most else 1.0
        plus = max(1 if added else 0, round(added * scale))
        minus = max(1 if removed else 0, round(removed * scale))
        out.append(f" {path:<{width}} | {added + removed:>3} {'+' * plus}{'-' * minus}")
    total_add = sum(a for _, a, _ in rows)
    total_del = sum(r for _, _, r in rows)
    summary = f" {len(rows)} file{'s' if len(rows) != 1 else ''} changed"
    if total_add:
        summary += f", {total_add} insertion{'s' if total_add != 1 else ''}(+)"
    if total_del:
        summary += f", {total_del} deletion{'s' if total_del != 1 else ''}(-)"
    return "\n".join(out + [summary])


def format_patch(mail: Mail, changes: list[FileChange], signoff: str, number: str = "") -> str:
    tag = f"[{mail.prefix}{' ' + number if number else ''}]"
    head = _headers(mail, tag) + ["", mail.body.rstrip("\n"), "", f"Signed-off-by: {signoff}", "---"]
    if mail.notes:
        head += [mail.notes.rstrip("\n"), ""]
    head += [diffstat(changes), ""]
    base = f"\nbase-commit: {mail.base}\n" if mail.base else ""
    return "\n".join(head) + "\n" + diff_text(changes) + base + f"-- \nfpdsl {__version__}\n\n"


def split_by_subsystem(changes: list[FileChange]) -> list[tuple[str, list[FileChange]]]:
    groups: dict[str, list[FileChange]] = {}
    for c in changes:
        for name, prefixes in SUBSYSTEMS:
            if any(c.path.startswith(p) for p in prefixes):
                groups.setdefault(name, []).append(c)
                break
    return [(name, groups[name]) for name, _ in SUBSYSTEMS if name in groups]


def cover_letter(mail: Mail, parts: list[tuple[str, Mail, list[FileChange]]], signoff: str) -> str:
    total = len(parts)
    lines = _headers(mail, f"[{mail.prefix} 0/{total}]") + ["", mail.body.rstrip("\n"), ""]
    for i, (_, part, _) in enumerate(parts, 1):
        lines.append(f"  [{i}/{total}] {part.subject}")
    lines += [""] + ([mail.notes.rstrip("\n"), ""] if mail.notes else [])
    lines += [diffstat(_net(parts)), ""]
    lines += [f"base-commit: {mail.base}", ""] if mail.base else []
    lines += ["-- ", f"fpdsl {__version__}", "", ""]
    return "\n".join(lines)


def _net(parts: list[tuple[str, Mail, list[FileChange]]]) -> list[FileChange]:
    """The series' changes per file, first old text to last new text (a
    file two patches change is one row of the cover letter's diffstat)."""
    first: dict[str, FileChange] = {}
    last: dict[str, FileChange] = {}
    for _, _, changes in parts:
        for c in changes:
            first.setdefault(c.path, c)
            last[c.path] = c
    out = []
    for path in sorted(first):
        if first[path] is last[path]:
            out.append(first[path])
            continue
        old = "\n".join(first[path].old)
        whole = apply_edits(path, old, [_replace_all(path, first[path].old, last[path])])
        out.append(whole)
    return out


def _replace_all(path: str, old: list[str], last: FileChange) -> Edit:
    return Edit(path, 0, len(old) - 1, last.new[:-1], None)


def mbox(mails: list[str]) -> str:
    """All mails of a series in one file, as `git format-patch --stdout`."""
    return "".join(mails)


def annotate(changes: list[FileChange]) -> str:
    """Every hunk, each added line with the policy line that produced it and
    each removed line with the hook that replaced it."""
    out: list[str] = []
    for c in changes:
        out.append(f"=== {c.path}")
        for h in c.hunks:
            out.append(_hunk_header(c, h))
            for tag, text, origin in h.rows:
                shown = text.expandtabs(8)
                if tag == " " or origin is None:
                    out.append(f"{tag}{shown}")
                else:
                    verb = "from" if tag == "+" else "removed:"
                    out.append(f"{tag}{shown:<80}  # {verb} {origin.render()} ({origin.why})")
        out.append("")
    return "\n".join(out)
