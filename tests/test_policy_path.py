"""`extends` finds a base beside the policy, then in the folders of
`fpdsl --policy-path` (and FPDSL_PATH), then among the shipped policies."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import run_cli


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "mybase.fp").write_text('policy mybase "a base of our own"\nkernel v4.16\nextends eager\n')
    kid = tmp_path / "work" / "kid.fp"
    kid.parent.mkdir()
    kid.write_text('policy kid "a policy"\nextends mybase\n')
    return lib, kid


def test_a_base_in_a_policy_path_folder_is_found(tmp_path: Path) -> None:
    lib, kid = _layout(tmp_path)
    missing = run_cli("check", str(kid))
    assert missing.returncode == 1
    assert "unknown base policy 'mybase'" in missing.stderr and "--policy-path folder (FPDSL_PATH)" in missing.stderr
    assert run_cli("--policy-path", str(lib), "check", str(kid)).returncode == 0
    assert run_cli("-L", str(lib), "simulate", str(kid), "-q").returncode == 0  # eager, extended: clean


def test_fpdsl_path_is_the_same_search(tmp_path: Path, monkeypatch) -> None:
    lib, kid = _layout(tmp_path)
    monkeypatch.setenv("FPDSL_PATH", os.pathsep.join([str(tmp_path / "nothing"), str(lib)]))
    assert run_cli("check", str(kid)).returncode == 0


def test_the_shipped_library_comes_last(tmp_path: Path) -> None:
    lib, _ = _layout(tmp_path)
    # A folder's own eager.fp is found before the shipped one.
    (lib / "eager.fp").write_text('policy eager "not the shipped one"\nkernel v4.16\nhook load { nope() }\n')
    kid = tmp_path / "kid2.fp"
    kid.write_text('policy kid2 "x"\nextends eager\n')
    r = run_cli("-L", str(lib), "check", str(kid))
    assert r.returncode == 1 and "unknown primitive 'nope'" in r.stderr
