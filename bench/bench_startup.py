"""Whole-process time of short commands: what a developer waits for on each
`fpdsl check` from an editor or a make rule. Prints medians over --runs
processes (and the spread), for the installed `fpdsl` script when it is on
PATH and for `python -m fpdsl.cli`.

    python bench/bench_startup.py [--runs 31]

Target (issue 11): `fpdsl check` of one policy, median under 0.15 s. Run it
on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "check one policy": ["check", str(ROOT / "policies" / "host_machinery.fp")],
    "--help": ["--help"],
    "primitives": ["primitives"],
}


def timed(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=31)
    args = ap.parse_args()
    launchers = {"python -m fpdsl.cli": [sys.executable, "-m", "fpdsl.cli"]}
    script = shutil.which("fpdsl")
    if script:
        launchers = {"fpdsl": [script], **launchers}
    baseline = statistics.median(timed([sys.executable, "-c", "pass"], args.runs))
    print(f"python -c pass: median {baseline:.3f} s (the interpreter alone)")
    for launcher, prefix in launchers.items():
        for what, rest in COMMANDS.items():
            times = timed(prefix + rest, args.runs)
            q = statistics.quantiles(times, n=10)
            print(
                f"{launcher} {what}: median {statistics.median(times):.3f} s "
                f"(10%-90% {q[0]:.3f}-{q[-1]:.3f} s, {args.runs} runs)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
