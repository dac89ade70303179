"""The check and primitives commands."""

from __future__ import annotations

import sys

import click

from fpdsl.cli.common import _policy_files
from fpdsl.diagnostics import FpdslError, UsageError
from fpdsl.lang.checker import check
from fpdsl.lang.loader import load_policy


@click.command("check")
@click.argument("files", nargs=-1, required=True)
def check_cmd(files: tuple[str, ...]) -> None:
    """Parse and check policy FILES; print located diagnostics."""
    failed = 0
    for path in _policy_files(files):
        try:
            diags = check(load_policy(path))
        except UsageError:
            raise
        except FpdslError as exc:
            diags = exc.diagnostics
        for d in diags:
            click.echo(d.render(), err=True)
        if diags:
            failed += 1
        else:
            click.echo(f"{path}: ok")
    if failed:
        sys.exit(1)


@click.command("primitives")
def primitives_cmd() -> None:
    """List the hooks, primitives and predicates a policy may use."""
    from fpdsl.lang.vocabulary import HOOKS, PREDICATES, PRIMITIVES

    click.echo("hooks:")
    for h in HOOKS.values():
        click.echo(f"  {h.name:<10} {h.when}")
    click.echo("primitives (statements):")
    for p in PRIMITIVES.values():
        click.echo(f"  {p.name}({', '.join(p.args)}){'':<4} {p.doc}" + (f" [kernel {p.since}+]" if p.since else ""))
    click.echo("predicates (conditions):")
    for p in PREDICATES.values():
        click.echo(f"  {p.name}({', '.join(p.args)}){'':<4} {p.doc}")
