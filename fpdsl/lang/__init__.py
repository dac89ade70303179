"""The fpdsl language: grammar, syntax tree, parser, checker."""
