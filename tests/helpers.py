"""Shared helpers for the tests: shipped policies and the CLI."""

from __future__ import annotations

import subprocess
import sys
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
