"""`fpdsl man`: a manual page in roff, written from the commands' own help,
so it cannot drift from them (`fpdsl man | man -l -`)."""

from __future__ import annotations

import inspect

import click

from fpdsl import __version__


def _roff(text: str) -> str:
    # A leading dot or quote would be a roff request; backslashes escape.
    lines = text.replace("\\", "\\e").split("\n")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in lines)


def _help_text(command: click.Command) -> str:
    # click's \b marks a paragraph it must not rewrap: here, .nf does that.
    return inspect.cleandoc(command.help or "").replace("\b\n", "")


def manual(group: click.Group, ctx: click.Context) -> str:
    out = [
        f'.TH FPDSL 1 "" "fpdsl {__version__}" "fpdsl manual"',
        ".SH NAME",
        "fpdsl \\- check, simulate and emit arm64 KVM FPSIMD/SVE context-handling policies",
        ".SH SYNOPSIS",
        ".B fpdsl",
        "[\\fB\\-L\\fR \\fIDIR\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        _roff(_help_text(group)),
        ".SH COMMANDS",
    ]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        usage = " ".join(command.collect_usage_pieces(ctx))
        out += [".SS " + name, f".B fpdsl {name}", _roff(usage), ".PP", ".nf", _roff(_help_text(command)), ".fi"]
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            flags = ", ".join(param.opts + param.secondary_opts)
            out += [".TP", f"\\fB{_roff(flags)}\\fR", _roff(param.help or "")]
    out += [".SH SEE ALSO", "The README of the fpdsl source tree; \\fBgit-format-patch\\fR(1)."]
    return "\n".join(out) + "\n"


@click.command("man", hidden=False)
@click.pass_context
def man_cmd(ctx: click.Context) -> None:
    """Print the manual page (roff): fpdsl man | man -l -

    \b
    Examples:
      fpdsl man | man -l -
      fpdsl man > fpdsl.1
    """
    group = ctx.parent.command if ctx.parent is not None else ctx.command
    click.echo(manual(group, ctx.parent or ctx), nl=False)
