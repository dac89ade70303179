"""The verify-patch command: a patch (or a series) against a real, prepared kernel tree."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fpdsl.cli.common import finish_on_termination
from fpdsl.diagnostics import UsageError, read_source


@click.command("verify-patch")
@click.argument("patches", nargs=-1, required=True, metavar="PATCH...")
@click.option(
    "--tree",
    required=True,
    help="a kernel tree prepared for arm64 (make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- defconfig prepare; "
    "2018 trees also HOSTCFLAGS=-fcommon)",
)
@click.option(
    "--object",
    "objects",
    multiple=True,
    help="also compile this object (dir/name.o) or kbuild directory (dir/), e.g. for a touched header",
)
@click.option("--cross-compile", default="aarch64-linux-gnu-", show_default=True, help="the CROSS_COMPILE prefix")
@click.option(
    "--arm32",
    is_flag=True,
    help="2018 trees: also build the 32-bit ARM KVM objects (arch/arm/kvm/) unpatched and patched; "
    "fail on a C error the patch adds",
)
@click.option(
    "--arm32-cross-compile",
    default="arm-linux-gnueabihf-",
    show_default=True,
    help="the CROSS_COMPILE prefix for --arm32",
)
@click.option(
    "--werror",
    is_flag=True,
    help="fail on a gcc warning the patch adds (without it, new warnings are shown and the patch passes)",
)
@click.option("--keep", is_flag=True, help="keep the patched scratch copy (a hard-link farm) and print where it is")
@click.option("--verbose", "-v", is_flag=True, help="print every step's output, not only a failed step's")
@click.option("--timings", is_flag=True, help="print how long each step took")
def verify_patch_cmd(
    patches: tuple[str, ...],
    tree: str,
    objects: tuple[str, ...],
    cross_compile: str,
    arm32: bool,
    arm32_cross_compile: str,
    werror: bool,
    keep: bool,
    verbose: bool,
    timings: bool,
) -> None:
    """Apply PATCH to a scratch copy of the kernel tree at --tree, run the
        tree's checkpatch.pl and compile the objects it affects, showing the gcc
    warnings it adds (--werror: failing on them). Several PATCH
        files, or a directory (its NNNN-*.patch files, as `emit-patch --series`
        or `git format-patch` write them; the cover letter is skipped), are
        applied in order, each checked by checkpatch, and built once. Exit 0 when
        every step passes, 1 when one fails, 2 on a bad patch file, object or
        tree.

        \b
        Examples:
          fpdsl verify-patch fp.patch --tree linux-6.1
          fpdsl verify-patch out/ --tree linux-4.16 --arm32 --timings
          fpdsl verify-patch fp.patch --tree linux --object arch/arm64/kvm/ --keep
    """
    from fpdsl.emit.verify import PatchFile, series_files, verify_patch

    files = series_files(patches)
    mails = [PatchFile(path.name, read_source(path).text) for path in files]
    if len(files) != len({path.resolve() for path in files}):
        raise UsageError("the same patch file is given twice")
    with finish_on_termination():
        report = verify_patch(
            mails[0].text if len(mails) == 1 else mails,
            Path(tree),
            objects=list(objects),
            cross_compile=cross_compile,
            keep=keep,
            arm32=arm32,
            arm32_cross_compile=arm32_cross_compile,
            werror=werror,
        )
    for line in report.render(timings=timings, verbose=verbose).rstrip("\n").split("\n"):
        if line.startswith("[ok]"):
            click.secho(line, fg="green")
        elif line.startswith("[warn]"):
            click.secho(line, fg="yellow")
        elif line.startswith("[FAIL]"):
            click.secho(line, fg="red", bold=True)
        else:
            click.echo(line)
    if report.scratch is not None:
        click.echo(f"scratch copy kept: {report.scratch}")
    if not report.ok:
        sys.exit(1)
