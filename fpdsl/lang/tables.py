"""The LALR tables of the policy grammar, shipped beside it so that a
`fpdsl check` from an editor does not rebuild them (Lark's analysis is most
of a short run's time). The file is Lark's own serialization, headed by the
Lark version and the grammar's SHA-256: a file that does not match the
grammar and Lark at hand is ignored and the parser is built from the
grammar (nothing is written at run time). Regenerate it after editing the
grammar with `python -m fpdsl.lang.tables`."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import lark
from lark import Lark, Token

from fpdsl.resources import resource_dir

TABLES_NAME = "fpdsl.lark.tables"


def grammar_path() -> Path:
    return resource_dir("grammars") / "fpdsl.lark"


def tables_path() -> Path:
    return resource_dir("grammars") / TABLES_NAME


def header(grammar: str) -> bytes:
    """The first line of a tables file: which Lark and which grammar."""
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()
    return f"lark {lark.__version__} grammar {digest}\n".encode("ascii")


def load_tables(grammar: str, callbacks: dict[str, Callable[[Token], Token]]) -> Lark | None:
    """The shipped parser if it was built from `grammar` by this Lark, else None."""
    try:
        with tables_path().open("rb") as f:
            if f.readline() != header(grammar):
                return None
            # Lark's cache loader: options that do not change the tables
            # (the lexer callbacks) are given again here.
            return Lark.__new__(Lark)._load(f, lexer_callbacks=callbacks)
    except Exception:  # a damaged or foreign file: build from the grammar instead
        return None


def write_tables(parser: Lark, grammar: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(header(grammar))
        parser.save(f, exclude_options=("lexer_callbacks", "edit_terminals"))
    tmp.replace(path)


def main() -> int:
    from fpdsl.lang.parser import build_parser

    grammar = grammar_path().read_text(encoding="utf-8")
    write_tables(build_parser(grammar), grammar, tables_path())
    print(f"wrote {tables_path()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
