"""The shipped LALR tables (grammars/fpdsl.lark.tables) are the grammar's:
fresh, loaded with the same keywords, parsing exactly as a parser built from
the grammar does; a stale or damaged file is ignored, never trusted."""

from __future__ import annotations

import hashlib
from pathlib import Path

import lark
import pytest

from fpdsl.lang import parser as policy_parser
from fpdsl.lang import tables

ROOT = Path(__file__).resolve().parent.parent
POLICY_TEXTS = sorted((ROOT / "policies").glob("*.fp")) + sorted((ROOT / "tests" / "policies").rglob("*.fp"))


def _grammar() -> str:
    return tables.grammar_path().read_text(encoding="utf-8")


def test_tables_are_built_from_the_shipped_grammar():
    first = tables.tables_path().read_bytes().split(b"\n", 1)[0].decode()
    digest = hashlib.sha256(_grammar().encode()).hexdigest()
    assert first.endswith(f" grammar {digest}"), "stale tables: run `python -m fpdsl.lang.tables`"


def test_loaded_tables_parse_as_the_grammar_does():
    if tables.header(_grammar()) != tables.tables_path().read_bytes().split(b"\n", 1)[0] + b"\n":
        pytest.skip(f"tables written by another Lark than {lark.__version__}: the grammar is used instead")
    loaded = tables.load_tables(_grammar(), {"NAME": policy_parser._keyword_as_name})
    assert loaded is not None
    built = policy_parser.build_parser(_grammar())
    keywords = dict(policy_parser._KEYWORDS)
    policy_parser._parser.cache_clear()
    policy_parser._KEYWORDS.clear()
    policy_parser._parser()
    assert policy_parser._KEYWORDS == keywords and "hook" in keywords and "kernel" in keywords
    assert len(POLICY_TEXTS) > 10
    for path in POLICY_TEXTS:
        text = path.read_text(encoding="utf-8")
        try:
            expected = built.parse(text)
        except lark.exceptions.UnexpectedInput as exc:
            with pytest.raises(type(exc)):
                loaded.parse(text)
            continue
        assert loaded.parse(text) == expected, path


def test_stale_or_damaged_tables_are_not_used(tmp_path, monkeypatch):
    grammar = _grammar()
    stale = tmp_path / "stale"
    stale.write_bytes(tables.header(grammar + "\n// edited") + tables.tables_path().read_bytes().split(b"\n", 1)[1])
    damaged = tmp_path / "damaged"
    damaged.write_bytes(tables.header(grammar) + b"not a pickle")
    for path in (stale, damaged, tmp_path / "missing"):
        monkeypatch.setattr(tables, "tables_path", lambda path=path: path)
        assert tables.load_tables(grammar, {}) is None
