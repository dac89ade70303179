"""`python -m fpdsl.cli`."""

from fpdsl.cli.app import main

main()
