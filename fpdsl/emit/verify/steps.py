"""A verify-patch run as a list of steps: the Step and VerifyReport
records, and running a command (git, make, perl) in the scratch copy as
one step whose output reads the same from run to run."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fpdsl.emit.verify.build_output import _first_error, tidy_build_output

TIMEOUT = 3600  # seconds for any one step
# What the report says instead of the scratch folder's path, which is random.
MARKER = "<scratch>"


@dataclass
class Step:
    """One thing verify-patch did: ok or not, the tool's output and a one-line summary."""

    name: str
    ok: bool
    output: str = ""
    seconds: float = 0.0
    summary: str = ""
    warned: bool = False  # ok, with something to show (new compiler warnings)


@dataclass
class VerifyReport:
    """What a verify-patch run did to one tree, step by step; ok when every step is."""

    tree: Path
    touched: list[str]
    objects: list[str]
    steps: list[Step] = field(default_factory=list)
    scratch: Path | None = None  # kept on request, else removed
    notes: list[str] = field(default_factory=list)  # workarounds applied, mails skipped
    patches: list[str] = field(default_factory=list)  # the mails' names, for a series

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def render(self, *, timings: bool = False, verbose: bool = False) -> str:
        """One line per step; the tool's own output under every failed or
        warning step (under every step with `verbose`)."""
        out = [f"tree: {self.tree}"]
        if len(self.patches) > 1:
            out.append(f"patches: {', '.join(self.patches)}")
        out.append(f"touched: {', '.join(self.touched)}")
        out.extend(f"note: {note}" for note in self.notes)
        for s in self.steps:
            line = f"[{'FAIL' if not s.ok else 'warn' if s.warned else 'ok'}] {s.name}"
            if s.summary:
                line += f": {s.summary}"
            if timings:
                line += f" ({s.seconds:.1f}s)"
            out.append(line)
            if (verbose or not s.ok or s.warned) and s.output.strip():
                out.extend(f"    {text}" for text in s.output.rstrip("\n").split("\n"))
        out.append(f"verify-patch: {'ok' if self.ok else 'FAILED'}")
        return "\n".join(out) + "\n"


def _environment(scratch: Path) -> dict[str, str]:
    # The kernel's Makefile unexports LC_ALL: set the others too, for gcc's plain quotes.
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(scratch.parent)}
    env.update(dict.fromkeys(("LC_ALL", "LANG", "LC_CTYPE", "LC_MESSAGES"), "C"))
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=TIMEOUT, errors="replace",
    )  # fmt: skip


def _run_step(report: VerifyReport, name: str, action: Callable[[], tuple[bool, str, str]]) -> bool:
    """Run `action` (ok, output, summary) as the step `name`, timed; a tool that
    cannot be started or times out fails the step instead of the run."""
    start = time.monotonic()
    try:
        ok, output, summary = action()
    except (OSError, subprocess.SubprocessError) as exc:
        ok, output, summary = False, str(exc), "error"
    report.steps.append(Step(name, ok, output, time.monotonic() - start, summary))
    return ok


def _command(
    report: VerifyReport,
    name: str,
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    stdin: str | None = None,
    built: str | None = None,
) -> bool:
    """`cmd` as the step `name`; `built` (a make target) puts a build's output in a stable order."""

    def action() -> tuple[bool, str, str]:
        done = _run(cmd, cwd, env, stdin)
        output = _clean(done.stdout, cwd)
        if built is not None:
            output = tidy_build_output(output, built)
        summary = "" if done.returncode == 0 else _first_error(output) or f"exit status {done.returncode}"
        return done.returncode == 0, output, summary

    return _run_step(report, name, action)


def _clean(output: str, scratch: Path) -> str:
    """The tool's output with the scratch folder's name (random) replaced."""
    return output.replace(str(scratch) + "/", "").replace(str(scratch), MARKER)
