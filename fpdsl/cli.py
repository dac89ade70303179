"""The `fpdsl` command line. Thin: parse options, call the layers, print."""

from __future__ import annotations

import json
import os
import sys

import click

from fpdsl.cli_common import DEFAULT_BOUND, _load_checked, _policy_files
from fpdsl.diagnostics import FpdslError, UsageError
from fpdsl.fsutil import atomic_write
from fpdsl.lang.checker import check
from fpdsl.lang.loader import load_policy
from fpdsl.model.records import PROPERTIES


def bound_options(f):
    # A bound with no CPU, no KVM_RUN call or no guest exit explores nothing
    # of KVM and would report a vacuous CLEAN.
    from fpdsl.sim.scenario import BOUND_LIMITS

    for name, text in (
        ("exits", "guest exits per KVM_RUN"),
        ("runs", "KVM_RUN calls"),
        ("tasks", "competing tasks"),
        ("cpus", "CPUs"),
    ):
        kind = click.IntRange(*BOUND_LIMITS[name])
        f = click.option(f"--{name}", type=kind, default=DEFAULT_BOUND[name], show_default=True, help=text)(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fpdsl")
def cli() -> None:
    """Check, simulate and emit arm64 KVM FPSIMD/SVE context-handling policies."""


@cli.command("check")
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


@cli.command("simulate")
@click.argument("policies", nargs=-1, required=True)
@click.option("--scenario", help="replay a built-in scenario (e.g. seed_ab) or a scenario file")
@click.option("--all", "all_", is_flag=True, help="explore every policy given (files or folders); one verdict table")
@bound_options
@click.option("--property", "props", multiple=True, type=click.Choice(PROPERTIES), help="check only these")
@click.option("--skip", "skips", multiple=True, type=click.Choice(PROPERTIES), help="do not check these")
@click.option(
    "--forget-dead",
    is_flag=True,
    help="merge states differing only in contents no step can read (same verdicts and shortest counterexamples)",
)
@click.option("--max-states", default=2_000_000, show_default=True, help="stop (INCOMPLETE) beyond this many states")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--dot", "dot_file", type=click.Path(dir_okay=False), help="write the first counterexample as Graphviz")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def simulate_cmd(
    policies, scenario, all_, cpus, tasks, runs, exits, props, skips, forget_dead, max_states, as_json, dot_file, quiet
):
    """Explore every interleaving up to a bound (exit 1 on a violation), or
    replay a --scenario step by step."""
    from fpdsl.cli_simulate import explore_many, explore_one, replay

    properties = tuple(p for p in (props or PROPERTIES) if p not in skips)
    bound = {"cpus": cpus, "tasks": tasks, "runs": runs, "exits": exits}
    if forget_dead:
        bound["dead_values"] = True
    files = _policy_files(policies)
    if scenario:
        for path in files:
            replay(_load_checked(path), scenario, as_json)
        return
    if all_ or len(files) > 1:
        sys.exit(explore_many([_load_checked(p) for p in files], bound, properties, max_states, as_json, quiet))
    sys.exit(explore_one(_load_checked(files[0]), bound, properties, max_states, as_json, dot_file, quiet))


@cli.command("primitives")
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


def write_output(path: str | None, text: str) -> None:
    if path is None:
        click.echo(text, nl=False)
    else:
        atomic_write(path, text)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def _register(module: str, *names: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    for name in names:
        cli.add_command(getattr(mod, name))


_register("fpdsl.cli_stats", "stats_cmd", "compare_cmd")
_register("fpdsl.cli_emit", "emit_patch_cmd", "review_cmd")
_register("fpdsl.cli_verify", "verify_patch_cmd")


def main() -> None:
    """Entry point: no Python traceback reaches the user."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except UsageError as exc:
        for d in exc.diagnostics:
            click.echo(d.render(), err=True)
        sys.exit(2)
    except FpdslError as exc:
        for d in exc.diagnostics:
            click.echo(d.render(), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("FPDSL_DEBUG"):
            raise
        click.echo(f"fpdsl: internal error: {type(exc).__name__}: {exc} (set FPDSL_DEBUG=1 for details)", err=True)
        sys.exit(70)


if __name__ == "__main__":
    main()
