"""The check and primitives commands."""

from __future__ import annotations

import sys

import click

from fpdsl.cli.common import _policy_files
from fpdsl.diagnostics import FpdslError, UsageError
from fpdsl.lang.checker import check
from fpdsl.lang.loader import load_policy


def _targets() -> list[str]:
    from fpdsl.emit.targets import TARGETS

    return list(TARGETS)


@click.command("check")
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--target",
    "target_names",
    multiple=True,
    type=click.Choice(_targets()),
    help="also say everything emit-patch would refuse for this tree layout (repeatable); "
    "what only a tree can say (anchors) is left to emit-patch",
)
def check_cmd(files: tuple[str, ...], target_names: tuple[str, ...]) -> None:
    """Parse and check policy FILES; print located diagnostics.

    A directory means its *.fp files. Exit 0 when every file is clean, 1
    with diagnostics, 2 on a file that cannot be read as a policy.

    \b
    Examples:
      fpdsl check policies/
      fpdsl check my_policy.fp --target v4.18 --target v6.12
    """
    failed = 0
    for path in _policy_files(files):
        try:
            resolved = load_policy(path)
            diags = check(resolved)
            if not diags:
                diags = [d for name in target_names for d in _refusals(resolved, name)]
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


def _refusals(resolved, target_name: str) -> list:
    from fpdsl.emit.legality import target_problems
    from fpdsl.emit.targets import TARGETS

    return target_problems(resolved, TARGETS[target_name])


@click.command("primitives")
def primitives_cmd() -> None:
    """List the hooks, primitives and predicates a policy may use."""
    from fpdsl.lang.vocabulary import HOOKS, PREDICATES, PRIMITIVES

    def where(p) -> str:
        # Which hooks may use it: the trap hook is hyp code (see the checker).
        kernels = _kernels(p.since, p.until)
        hooks = {"v4.16": "every hook", None: "not in trap"}.get(p.hyp, f"every hook (trap: {p.hyp}+)")
        return f"[{', '.join(x for x in (hooks, kernels) if x)}]"

    rows = {
        "hooks:": [(h.name, h.when) for h in HOOKS.values()],
        "primitives (statements):": [
            (f"{p.name}({', '.join(p.args)})", f"{p.doc} {where(p)}") for p in PRIMITIVES.values()
        ],
        "predicates (conditions):": [
            (f"{p.name}({', '.join(p.args)})", f"{p.doc} {where(p)}") for p in PREDICATES.values()
        ],
    }
    width = max(len(name) for section in rows.values() for name, _ in section)
    for title, section in rows.items():
        click.echo(title)
        for name, text in section:
            click.echo(f"  {name:<{width}}  {text}")


def _kernels(since: str | None, until: str | None) -> str:
    """Which kernel models have a primitive, in words."""
    if since and until:
        return f"kernel {since} only" if since == until else f"kernel {since} to {until}"
    if since:
        return f"kernel {since}+"
    if until:
        from fpdsl.lang.vocabulary import KERNEL_VERSIONS

        return f"kernel {until} only" if until == KERNEL_VERSIONS[0] else f"kernel up to {until}"
    return ""
