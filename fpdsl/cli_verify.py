"""The verify-patch command: a patch against a real, prepared kernel tree."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fpdsl.diagnostics import UsageError, read_source


@click.command("verify-patch")
@click.argument("patch")
@click.option("--tree", required=True, help="a kernel tree prepared for arm64 (make ARCH=arm64 defconfig prepare)")
@click.option("--object", "objects", multiple=True, help="also compile this object (e.g. for a touched header)")
@click.option("--cross-compile", default="aarch64-linux-gnu-", show_default=True, help="the CROSS_COMPILE prefix")
@click.option("--keep", is_flag=True, help="keep the patched scratch copy (a hard-link farm) and print where it is")
@click.option("--verbose", "-v", is_flag=True, help="print every step's output, not only a failed step's")
@click.option("--timings", is_flag=True, help="print how long each step took")
def verify_patch_cmd(
    patch: str, tree: str, objects: tuple[str, ...], cross_compile: str, keep: bool, verbose: bool, timings: bool
) -> None:
    """Apply PATCH to a scratch copy of the kernel tree at --tree, run the
    tree's checkpatch.pl and compile the objects it affects. Exit 0 when every
    step passes, 1 when one fails, 2 on a bad patch file or tree."""
    from fpdsl.emit.verify import verify_patch

    text = read_source(patch).text
    for obj in objects:
        if not obj.endswith(".o") or obj.startswith("/") or ".." in Path(obj).parts:
            raise UsageError(f"--object {obj}: expected a tree-relative object path ending in .o")
    report = verify_patch(text, Path(tree), objects=list(objects), cross_compile=cross_compile, keep=keep)
    for line in report.render(timings=timings, verbose=verbose).rstrip("\n").split("\n"):
        if line.startswith("[ok]"):
            click.secho(line, fg="green")
        elif line.startswith("[FAIL]"):
            click.secho(line, fg="red", bold=True)
        else:
            click.echo(line)
    if report.scratch is not None:
        click.echo(f"scratch copy kept: {report.scratch}")
    if not report.ok:
        sys.exit(1)
