"""Shared fixtures. The real kernel trees (`kernel` tests) are set up once per
machine by tests/kernels.py; the terminal summary says what that cost."""

from __future__ import annotations

from pathlib import Path

import pytest
from kernels import TIMINGS, TREES, kernel_tree


@pytest.fixture(scope="session")
def kernel_6_1() -> Path:
    return kernel_tree("6.1")


@pytest.fixture(scope="session")
def kernel_6_12() -> Path:
    return kernel_tree("6.12")


def pytest_terminal_summary(terminalreporter) -> None:
    for series, tree in sorted(TREES.items()):
        steps = TIMINGS.get(series, {})
        done = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in steps.items()) or "already set up"
        terminalreporter.write_line(f"kernel {series} ({tree}): {done}")
