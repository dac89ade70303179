"""The command line's help: every option explained, examples in every
command's help, `fpdsl --help` without importing the heavy layers."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from fpdsl.cli.app import COMMANDS, cli

CONTEXT = click.Context(cli)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_option_has_help(name: str) -> None:
    command = cli.get_command(CONTEXT, name)
    missing = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.hidden and not p.help]
    assert missing == []


@pytest.mark.parametrize("name", [n for n in COMMANDS if n != "primitives"])
def test_every_command_help_has_examples(name: str) -> None:
    command = cli.get_command(CONTEXT, name)
    assert "Examples:\n" in command.help and f"fpdsl {name} " in command.help.split("Examples:", 1)[1]


def test_top_level_help_lists_every_command_without_importing_them() -> None:
    code = (
        "import sys; from fpdsl.cli.app import main; sys.argv = ['fpdsl', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy', 'matplotlib', 'lark')"
        " or m.startswith(('fpdsl.sim', 'fpdsl.emit', 'fpdsl.stats', 'fpdsl.model')))\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert f"  {name} " in out
    assert "HEAVY []" in out


def test_primitives_are_aligned() -> None:
    from helpers import run

    lines = [line for line in run("primitives").output.splitlines() if line.startswith("  ")]
    columns = {len(line) - len(line[2:].split("  ", 1)[1].lstrip()) for line in lines}
    assert len(columns) == 1  # every description starts in the same column


def test_primitives_say_which_hooks_may_use_them() -> None:
    from helpers import run

    out = run("primitives").output
    assert "claim the FPSIMD registers for kernel-mode NEON [not in trap]" in out
    assert "a flag of the vcpu thread is set [every hook (trap: v4.18+)]" in out
    assert "save the CPU's FPSIMD registers into a saved state [every hook]" in out
    assert "bind a saved state to this CPU's registers [not in trap, kernel v4.18+]" in out
    assert "(the 2022 fix) [not in trap, kernel v6.12.0 only]" in out
    assert "this CPU's registers hold [not in trap, kernel up to v4.18]" in out


def test_the_manual_page_has_every_command_and_option() -> None:
    import click

    from fpdsl.cli.man import manual

    page = manual(cli, CONTEXT)
    assert page.startswith(".TH FPDSL 1 ")
    for name in COMMANDS:
        command = cli.get_command(CONTEXT, name)
        assert f".SS {name}\n" in page
        for p in command.params:
            if isinstance(p, click.Option) and not p.hidden:
                assert f"\\fB{p.opts[0]}" in page, (name, p.opts)
    assert "\\b" not in page.replace("\\fB", "")  # click's paragraph marks are gone
