"""The emit-patch and review commands."""

from __future__ import annotations

import email.utils
import os
import re
import subprocess
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import click

from fpdsl.cli.common import _load_checked, finish_on_termination
from fpdsl.diagnostics import FpdslError, UsageError, read_source
from fpdsl.fsutil import atomic_write, write_all


def _date(option: str | None, policy_path: str) -> str:
    """--date (ISO 8601 or RFC 2822), else the policy file's mtime; "now"
    only when asked for by name."""
    if option == "now":
        when = datetime.now(UTC)
    elif option:
        try:
            when = datetime.fromisoformat(option)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(option)
            except (TypeError, ValueError):
                raise UsageError(f"--date: cannot read '{option}' (use ISO 8601, RFC 2822 or 'now')") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    else:
        when = datetime.fromtimestamp(int(Path(policy_path).stat().st_mtime), UTC)
    return email.utils.format_datetime(when)


def _one_line(what: str, value: str) -> str:
    """A value that goes into a mail header: one visible line."""
    bad = next((ch for ch in value if ch in "\r\n" or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise UsageError(f"{what}: contains U+{ord(bad):04X}; a mail header takes one line of visible text")
    return value


def _signoff(option: str | None) -> str:
    if option:
        _one_line("--signoff", option)
        name, addr = email.utils.parseaddr(option)
        if not name or "@" not in addr or any(ch in addr for ch in " <>,;"):
            raise UsageError(f"--signoff: expected 'Name <email>', got '{option}'")
        return f"{name} <{addr}>"

    def git(key: str) -> str:
        try:
            out = subprocess.run(["git", "config", key], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip()

    name, addr = git("user.name"), git("user.email")
    if not name or not addr:
        raise UsageError("no author: pass --signoff 'Name <email>' or set git config user.name and user.email")
    return f"{_one_line('git config user.name', name)} <{_one_line('git config user.email', addr)}>"


def _emission(policy_file: str, tree: str, target_name: str | None, whole: bool = False):
    from fpdsl.emit.plan import plan
    from fpdsl.emit.targets import detect_target

    policy = _load_checked(policy_file)
    root = Path(tree)
    target = detect_target(root, target_name)
    return policy, root, target, plan(policy, root, target, keep_same=whole)


@click.command("emit-patch")
@click.argument("policy")
@click.option("--tree", required=True, help="the kernel source tree to patch (read only unless --apply)")
@click.option("-o", "--output", help="write the patch to this file (default: standard output)")
@click.option("--series", "series_dir", help="write one patch per subsystem and a cover letter into this directory")
@click.option(
    "--target",
    "target_name",
    help="the tree layout (v4.16, v4.17, v4.18, v6.1, v6.12); detected from the tree by default",
)
@click.option("--date", help="the patch date (ISO 8601, RFC 2822, or 'now'); default: the policy file's mtime")
@click.option("--signoff", help="'Name <email>' for From: and Signed-off-by: (default: git config)")
@click.option("--workload", default="seed_2018", show_default=True, help="profile for the cost table")
@click.option("--no-verify", is_flag=True, help="skip the explorer and cost analysis in the commit message")
@click.option("--annotate", is_flag=True, help="print each hunk with the policy line behind every line, write nothing")
@click.option("--apply", "apply_", is_flag=True, help="also write the patched files into the tree")
@click.option(
    "--whole",
    is_flag=True,
    help="6.x: also write the hooks whose code the tree already has (their comments and layout change); "
    "by default those are left out",
)
@click.option(
    "--verify",
    "verify_tree",
    is_flag=True,
    help="before writing, apply the patch to a scratch copy of the (prepared) tree, run its checkpatch.pl and "
    "compile the touched objects; write nothing if a step fails",
)
@click.option("--subject", help="the summary after 'KVM: arm64: ' (default: from the policy's description)")
@click.option(
    "--subject-prefix",
    help="the tag in brackets (default: PATCH; RFC PATCH when the policy is not CLEAN)",
)
@click.option("-v", "--reroll-count", type=click.IntRange(1, 99), help="mark the series as its Nth version (vN)")
@click.option("--to", multiple=True, help="a To: address (repeatable)")
@click.option("--cc", multiple=True, help="a Cc: address (repeatable)")
@click.option("--base", help="the commit the patch applies to, as a base-commit: trailer ('auto': the tree's HEAD)")
def emit_patch_cmd(
    policy,
    tree,
    output,
    series_dir,
    target_name,
    date,
    signoff,
    workload,
    no_verify,
    annotate,
    apply_,
    whole,
    verify_tree,
    subject,
    subject_prefix,
    reroll_count,
    to,
    cc,
    base,
):
    """Emit POLICY as a kernel patch against the tree at --tree.

    The tree is only read unless --apply. Exit 0; 1 on a missing or
    ambiguous anchor or a primitive the target lacks; 2 on a bad tree, file
    or target.

    \b
    Examples:
      fpdsl emit-patch policies/host_machinery.fp --tree linux-6.1 -o fp.patch
      fpdsl emit-patch policies/lazy_until_put.fp --tree linux-4.16 --series out/
      fpdsl emit-patch my.fp --tree linux --annotate
      fpdsl emit-patch my.fp --tree linux-prepared -o fp.patch --verify
    """
    from fpdsl.emit.message import MODERN_BASELINES, commit_body, subject_summary, verification_notes, verify
    from fpdsl.emit.patch import Mail, mbox
    from fpdsl.emit.patch import annotate as annotated
    from fpdsl.emit.series import series_mails

    if output and series_dir:
        raise UsageError("give -o or --series, not both")
    resolved, root, target, emission = _emission(policy, tree, target_name, whole)
    if not emission.changes:
        why = (
            f"its baseline is {emission.baseline}"
            if emission.baseline
            else "its code is the policy's, statement for statement; only comments would change"
        )
        click.echo(
            f"{resolved.name}: nothing to emit: the {target.name} tree already implements every hook ({why})", err=True
        )
        return
    if annotate:
        if output:
            atomic_write(output, annotated(emission.changes))
        else:
            click.echo(annotated(emission.changes), nl=False)
        return
    touched = [c.path for c in emission.changes]
    if output:
        _not_in_tree(output, root, touched)
    author = _signoff(signoff)
    when = _date(date, policy)
    envelope = _envelope(to, cc, base, root)
    check = (
        None
        if no_verify
        else verify(
            resolved,
            workload,
            emission.baseline or MODERN_BASELINES.get(emission.target.name),
            tree_kernel=emission.target.kernel,
        )
    )
    if check is not None and check.first_failure:
        # Emitting a broken policy is legitimate (a diff to discuss), but say so.
        click.echo(
            f"warning: {resolved.name} is {check.verdict} at {check.bound}; the commit message says so "
            f"(first counterexample, {check.first_failure}; `fpdsl simulate {policy}` shows the trace)",
            err=True,
        )
    if subject is not None:
        summary = _one_line("--subject", subject)
    else:
        summary = subject_summary(resolved) or f"Switch FPSIMD context handling to {resolved.name}"
    if subject_prefix is not None:
        prefix = _one_line("--subject-prefix", subject_prefix)
    else:
        # A policy the model finds broken is posted for discussion, not for merging.
        prefix = "RFC PATCH" if check is not None and check.verdict != "CLEAN" else "PATCH"
    if reroll_count:
        prefix += f" v{reroll_count}"
    mail = Mail(
        author,
        when,
        f"KVM: arm64: {summary}",
        commit_body(emission, check),
        prefix,
        notes=verification_notes(check),
        **envelope,
    )
    mails = series_mails(emission, resolved, mail, split=bool(series_dir), version=reroll_count)
    if verify_tree:
        _verify_or_fail(mails, root)
    if series_dir:
        out_dir = Path(series_dir)
        if out_dir.is_symlink() and not out_dir.exists():
            raise UsageError(f"--series: {out_dir} is a symbolic link to nothing")
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"--series: {out_dir} is not a directory")
        for name, _ in mails:
            _not_in_tree(out_dir / name, root, touched)
        # All files or none: a failure on the last leaves no partial series.
        write_all({out_dir / name: text for name, text in mails}, what="--series")
        click.echo(f"wrote {len(mails)} files to {out_dir}", err=True)
    else:
        # One mail, or every patch of the series in one mbox (no cover letter).
        text = mails[0][1] if len(mails) == 1 else mbox([t for _, t in mails[1:]])
        if output:
            atomic_write(output, text)
        else:
            click.echo(text, nl=False)
    if apply_:
        written: dict[str, str] = {}
        for change in emission.changes:  # in series order: the last text wins
            written[change.path] = change.new_text
        real_root = Path(os.path.realpath(root))
        for path in written:
            real = Path(os.path.realpath(root / path))
            if real_root not in real.parents:
                raise UsageError(f"--apply: {path} resolves to {real}, outside the tree {real_root}; nothing applied")
        # The whole patch or nothing: a read-only file leaves the tree as it was.
        write_all({root / path: text for path, text in written.items()}, what="--apply", mkdir=False)
        click.echo(f"applied to {root}: {', '.join(written)}", err=True)


_ADDRESS = re.compile(r"^[^<>,\s][^<>,]*<[^<>\s@]+@[^<>\s]+>$|^[^<>,\s@]+@[^<>,\s]+$")


def _envelope(to: tuple[str, ...], cc: tuple[str, ...], base: str | None, root: Path) -> dict:
    """To:, Cc: and base-commit: as the mail's headers and trailer will
    hold them: each address one line, 'Name <addr>' or 'addr'."""
    for option, values in (("--to", to), ("--cc", cc)):
        for value in values:
            if not _ADDRESS.match(_one_line(option, value)):
                raise UsageError(f"{option}: {value!r} is not an address ('Name <user@host>' or 'user@host')")
    if base == "auto":
        try:
            got = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--verify", "HEAD"], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            got = None
        if got is None or got.returncode != 0:
            raise UsageError(f"--base auto: {root} is not a git work tree with a commit")
        base = got.stdout.strip()
    if base is not None and not re.fullmatch(r"[0-9a-f]{40}", base):
        raise UsageError(f"--base: {base!r} is not a full commit id (40 hex digits) or 'auto'")
    return {"to": tuple(to), "cc": tuple(cc), "base": base}


def _not_in_tree(output: str | Path, root: Path, touched: list[str]) -> None:
    """Refuse an output path that would overwrite a file of the tree (a
    source the patch touches, or any existing file other than a patch)."""
    out = Path(os.path.realpath(output))
    real_root = Path(os.path.realpath(root))
    if real_root not in out.parents:
        return
    rel = str(out.relative_to(real_root))
    if rel in touched or (out.exists() and out.suffix not in (".patch", ".diff", ".mbox", ".eml", ".txt")):
        raise UsageError(f"output {output} is {rel} of the tree {root}; fpdsl writes the tree only with --apply")


def _verify_or_fail(mails: list[tuple[str, str]], root: Path) -> None:
    """verify-patch on what would be written: one mail, or the series' mails
    in order, each its own patch for checkpatch (the series as one mbox
    would be one patch with a Signed-off-by per mail: "Duplicate
    signature"); a cover letter is left out."""
    import sys

    from fpdsl.emit.verify import PatchFile, verify_patch

    with finish_on_termination():
        report = verify_patch(mails[0][1] if len(mails) == 1 else [PatchFile(name, text) for name, text in mails], root)
    click.echo(report.render(), err=True, nl=False)
    if not report.ok:
        click.echo("emit-patch: verification failed, nothing written", err=True)
        sys.exit(1)


@click.command("review")
@click.argument("patch", type=click.Path(dir_okay=False))
@click.argument("policy")
@click.option("--tree", required=True, help="the unpatched tree the patch was emitted against")
@click.option("--target", "target_name", help="the tree layout; detected by default")
def review_cmd(patch, policy, tree, target_name):
    """Print every hunk of PATCH with the POLICY line that produced each line.

    The mapping comes from the generator: the patch is emitted again from
    POLICY and the tree, and must be the same diff.

    \b
    Examples:
      fpdsl review fp.patch policies/host_machinery.fp --tree linux-6.1
      fpdsl review series.mbox my.fp --tree linux-4.16
    """
    from fpdsl.emit.patch import annotate

    text = read_source(patch, max_bytes=8 << 20).text
    theirs = [d for d in (_diff_part(mail) for mail in _split_mails(text)) if d]
    if not theirs:
        raise UsageError(f"{patch}: no 'diff --git' section: not a patch")
    # Emitted with or without --whole: whichever gives the same diffs.
    for whole in (False, True):
        _, _, _, emission = _emission(policy, tree, target_name, whole)
        ours = _part_diffs(emission)
        if all(d in ours for d in theirs):
            break
    else:
        raise FpdslError(
            f"{patch}: this is not the patch fpdsl emits for {policy} against {tree}; "
            "review needs the unpatched tree and the same policy"
        )
    out = []
    for diff in theirs:
        kind, changes = ours[diff]
        if len(ours) > 1:
            out.append(f"##### {_KINDS.get(kind, kind)}")
        out.append(annotate(changes))
    click.echo("".join(out), nl=False)


_KINDS = {
    "interface": "arm64: fpsimd: interfaces (from the policy's needs)",
    "conversion": "KVM: arm64: Convert lazy FPSIMD context switch trap to C (templates/v4.16/trap_to_c.j2)",
    "kvm": "KVM: arm64: the policy",
}


def _part_diffs(emission) -> dict[str, tuple[str, list]]:
    """diff text -> (kind, changes) of each patch fpdsl emits."""
    from fpdsl.emit.patch import diff_text

    if emission.parts:
        return {diff_text(p.changes): (p.kind, p.changes) for p in emission.parts}
    if not emission.changes:
        return {}
    out = {diff_text(emission.changes): ("kvm", emission.changes)}
    from fpdsl.emit.patch import split_by_subsystem

    for subsystem, changes in split_by_subsystem(emission.changes):
        out.setdefault(diff_text(changes), (subsystem, changes))
    return out


def _split_mails(text: str) -> list[str]:
    """The mails of an mbox (or the one mail of a patch file)."""
    starts = [m.start() for m in re.finditer(r"^From [0-9a-f]{40} ", text, re.M)]
    if not starts:
        return [text]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _diff_part(text: str) -> str:
    """The diff of one mail: from the first `diff --git` line after the
    message's `---` line (a message may quote such text)."""
    sep = re.search(r"^---$", text, re.M)
    found = re.search(r"^diff --git ", text[sep.end() if sep else 0 :], re.M)
    if found is None:
        return ""
    start = (sep.end() if sep else 0) + found.start()
    end = text.find("\n-- \n", start)
    diff = text[start : end + 1] if end >= 0 else text[start:]
    # git format-patch --base's trailer follows the last hunk, after a blank line.
    return re.sub(r"\n\n(?:(?:base-commit|prerequisite-patch-id): [0-9a-f]+\n)+$", "\n", diff)
