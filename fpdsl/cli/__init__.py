"""The command line: thin. Options are parsed here, the layers do the work."""

from fpdsl.cli.app import cli, main

__all__ = ["cli", "main"]
