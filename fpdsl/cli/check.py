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
    """Parse and check policy FILES; print located diagnostics.

    A directory means its *.fp files. Exit 0 when every file is clean, 1
    with diagnostics, 2 on a file that cannot be read as a policy.

    \b
    Examples:
      fpdsl check policies/
      fpdsl check my_policy.fp
    """
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

    rows = {
        "hooks:": [(h.name, h.when) for h in HOOKS.values()],
        "primitives (statements):": [
            (f"{p.name}({', '.join(p.args)})", p.doc + (f" [kernel {p.since}+]" if p.since else ""))
            for p in PRIMITIVES.values()
        ],
        "predicates (conditions):": [(f"{p.name}({', '.join(p.args)})", p.doc) for p in PREDICATES.values()],
    }
    width = max(len(name) for section in rows.values() for name, _ in section)
    for title, section in rows.items():
        click.echo(title)
        for name, text in section:
            click.echo(f"  {name:<{width}}  {text}")
