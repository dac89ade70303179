"""Helpers the command modules share."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import click

from fpdsl.diagnostics import UsageError
from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import ResolvedPolicy, load_policy

DEFAULT_BOUND = {"cpus": 1, "tasks": 1, "runs": 1, "exits": 2}


def _load_checked(path: str) -> ResolvedPolicy:
    return check_or_raise(load_policy(path))


def _policy_files(paths: tuple[str, ...]) -> list[str]:
    files: list[str] = []
    for p in paths:
        try:
            is_dir = Path(p).is_dir()
        except OSError as exc:
            raise UsageError(f"{p[:80]}...: {exc.strerror or exc}") from None
        if is_dir:
            found = sorted(str(f) for f in Path(p).glob("*.fp"))
            if not found:
                raise UsageError(f"{p}: no .fp policy files in this directory")
            files.extend(found)
        else:
            files.append(p)
    return files


def bound_options(f):
    # A bound with no CPU, no KVM_RUN call or no guest exit explores nothing
    # of KVM and would report a vacuous CLEAN.
    from fpdsl.sim.scenario import BOUND_LIMITS

    for name, text in (
        ("exits", "guest exits per KVM_RUN"),
        ("runs", "KVM_RUN calls"),
        ("tasks", "competing tasks"),
        ("cpus", "CPUs"),
    ):
        kind = click.IntRange(*BOUND_LIMITS[name])
        f = click.option(f"--{name}", type=kind, default=DEFAULT_BOUND[name], show_default=True, help=text)(f)
    return f


@contextlib.contextmanager
def finish_on_termination() -> Iterator[None]:
    """SIGTERM and SIGHUP end the command as an exception does, so that its
    `finally` clauses run (verify-patch unmounts its scratch copy instead of
    leaving it mounted). Later signals are ignored while it cleans up."""
    caught = (signal.SIGTERM, signal.SIGHUP)

    def stop(signum: int, frame: object) -> None:
        for s in caught:
            signal.signal(s, signal.SIG_IGN)
        click.echo(f"fpdsl: stopped by {signal.Signals(signum).name}, cleaning up", err=True)
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, stop) for s in caught}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
