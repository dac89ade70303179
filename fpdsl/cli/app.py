"""The `fpdsl` command group. Each command lives in a module of its own and
is imported only when it runs, so `fpdsl check` does not pay for numpy,
scipy or the explorer."""

from __future__ import annotations

import importlib
import os
import sys

import click

from fpdsl.diagnostics import FpdslError, UsageError

# name -> (module, attribute, one-line help shown by `fpdsl --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": ("fpdsl.cli.check", "check_cmd", "Parse and check policy FILES; print located diagnostics."),
    "simulate": ("fpdsl.cli.simulate", "simulate_cmd", "Explore interleavings up to a bound, or replay a scenario."),
    "stats": ("fpdsl.cli.stats", "stats_cmd", "Expected costs per KVM_RUN of one policy under a workload profile."),
    "compare": ("fpdsl.cli.stats", "compare_cmd", "Compare policies' costs under a workload (table, sweep, plot)."),
    "emit-patch": ("fpdsl.cli.emit", "emit_patch_cmd", "Emit a policy as a kernel patch (git format-patch mail)."),
    "review": ("fpdsl.cli.emit", "review_cmd", "Check that a patch is what the policy emits; attribute every line."),
    "verify-patch": ("fpdsl.cli.verify", "verify_patch_cmd", "Apply, checkpatch and compile a patch on a real tree."),
    "primitives": ("fpdsl.cli.check", "primitives_cmd", "List the hooks, primitives and predicates a policy may use."),
    "man": ("fpdsl.cli.man", "man_cmd", "Print the manual page (fpdsl man | man -l -)."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing uses the table's help lines: importing every command
        # module to print `fpdsl --help` would cost half a second.
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, _, text) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fpdsl")
@click.option(
    "-L",
    "--policy-path",
    multiple=True,
    type=click.Path(file_okay=False),
    help="also look for the bases that 'extends' names in this folder (repeatable; before the shipped "
    "policies; FPDSL_PATH too)",
)
def cli(policy_path: tuple[str, ...]) -> None:
    """Check, simulate and emit arm64 KVM FPSIMD/SVE context-handling policies."""
    if policy_path:
        given = [p for p in os.environ.get("FPDSL_PATH", "").split(os.pathsep) if p]
        os.environ["FPDSL_PATH"] = os.pathsep.join([*policy_path, *given])


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
