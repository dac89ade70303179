"""The mails of an emission: one patch, or a series (a cover letter and
numbered patches, named as `git format-patch` names them). A v4.16/v4.17
emission is always its series; the other layouts split by subsystem only
when asked."""

from __future__ import annotations

import re
from dataclasses import replace

from fpdsl.emit.message import conversion_body, interface_body
from fpdsl.emit.patch import Mail, cover_letter, format_patch, split_by_subsystem
from fpdsl.emit.plan import Emission
from fpdsl.emit.plan416 import CONVERSION_SUBJECT
from fpdsl.lang.loader import ResolvedPolicy

_EXPORT = re.compile(r"^extern void (\w+)\(void\);$")


def series_mails(
    emission: Emission, resolved: ResolvedPolicy, mail: Mail, *, split: bool, version: int | None = None
) -> list[tuple[str, str]]:
    """(file name, text) of each mail: one mail for a single patch, else a
    cover letter and the numbered patches. A v4.16/v4.17 emission is always
    its series; the other layouts split by subsystem only when `split`."""
    author = mail.author
    # The tables below `---` and the base commit belong to the policy's
    # patch and the cover letter, not to the patches that prepare it.
    plain = replace(mail, notes="", base=None)
    parts: list[tuple[str, Mail, list]] = []
    if emission.parts:
        for part in emission.parts:
            if part.kind == "interface":
                exports = sorted(
                    {
                        m.group(1)
                        for c in part.changes
                        for line in c.new
                        if line.origin is not None and (m := _EXPORT.match(line.text))
                    }
                )
                sub = replace(plain, subject=interface_subject(resolved.name), body=interface_body(resolved, exports))
            elif part.kind == "conversion":
                sub = replace(plain, subject=CONVERSION_SUBJECT, body=conversion_body())
            else:
                sub = mail
            parts.append((part.kind, sub, part.changes))
    elif not split:
        return [("patch", format_patch(mail, emission.changes, mail.author))]
    else:
        for subsystem, changes in split_by_subsystem(emission.changes):
            sub = mail
            if subsystem.startswith("arm64"):
                sub = replace(plain, subject=interface_subject(resolved.name))
            parts.append((subsystem, sub, changes))
    if len(parts) == 1:
        _, only, changes = parts[0]
        return [("patch", format_patch(only, changes, author))]
    cover = cover_letter(mail, parts, author)
    out = [(patch_file_name(0, "cover letter", version), cover)]
    for i, (_, sub, changes) in enumerate(parts, 1):
        text = format_patch(replace(sub, base=None), changes, author, f"{i}/{len(parts)}")  # base: the cover's
        out.append((patch_file_name(i, sub.subject, version), text))
    return out


def patch_file_name(number: int, subject: str, version: int | None = None) -> str:
    """The file name `git format-patch` gives patch `number`: the subject's
    runs of characters other than letters, digits, '.' and '_' become one
    '-', and the name before ".patch" (with `-v N`'s "vN-" in front) is at
    most 57 characters."""
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", subject).replace("..", ".").strip("-.")
    reroll = f"v{version}-" if version else ""
    return f"{reroll}{number:04d}-{slug}"[:57].rstrip("-.") + ".patch"


def interface_subject(policy_name: str) -> str:
    return f"arm64: fpsimd: Interfaces for KVM FPSIMD policy {policy_name}"
