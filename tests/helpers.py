"""Shared helpers for the tests: shipped policies and the CLI."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import ResolvedPolicy, load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SHIPPED = sorted(p.stem for p in POLICIES.glob("*.fp"))


def policy(name: str) -> ResolvedPolicy:
    return check_or_raise(load_policy(POLICIES / f"{name}.fp"))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fpdsl.cli", *args], capture_output=True, text=True, cwd=cwd or ROOT, check=False
    )


@dataclass
class Result:
    exit_code: int
    output: str  # stdout and stderr


def run(*args: str) -> Result:
    """The fpdsl command in-process, through main()'s error handling."""
    from fpdsl.cli import main

    out = io.StringIO()
    argv = sys.argv
    sys.argv = ["fpdsl", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0
    finally:
        sys.argv = argv
    return Result(code, out.getvalue())
