"""Shared fixtures. The real kernel trees (`kernel` tests) are set up once per
machine by tests/kernels.py; the terminal summary says what that cost.

The tests run in parallel (pytest-xdist, `-n auto --dist loadgroup` in
pyproject.toml); every test on a real kernel tree is in one group, run one
after the other by one worker: they set the trees up, and they check that
no scratch copy of a tree is left behind, which another test's scratch copy
in flight would look like."""

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


KERNEL_FIXTURES = {"kernel_6_1", "kernel_6_12"}


@pytest.hookimpl(tryfirst=True)  # before xdist's loadgroup reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("kernel") or KERNEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("kernel-trees"))


def pytest_terminal_summary(terminalreporter) -> None:
    for series, tree in sorted(TREES.items()):
        steps = TIMINGS.get(series, {})
        done = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in steps.items()) or "already set up"
        terminalreporter.write_line(f"kernel {series} ({tree}): {done}")
