"""Exploration figures per shipped policy and bound: states, transitions,
seconds, states/second and peak memory (each run in its own process, so
the resident-set peak is the run's own).

    python bench/bench_explore.py                 # default bound
    python bench/bench_explore.py --deep          # 2 CPUs, 1 task, 2 KVM_RUN calls, dead values forgotten
    python bench/bench_explore.py --deep --exact  # the same bound, every state kept
    python bench/bench_explore.py --cpus 2 --runs 2 --exits 1 eager
    python bench/bench_explore.py --deep --guest-sve kvm_v6_12   # an SVE guest (6.x policies)
    python bench/bench_explore.py --forget-dead --jobs 2  # also: all of them in a pool of 2, as `simulate --all -j 2`
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one(policy: str, bound: dict, guest_sve: bool = False) -> dict:
    from fpdsl.lang.checker import check_or_raise
    from fpdsl.lang.loader import load_policy
    from fpdsl.model.machine import ModelConfig
    from fpdsl.sim.explorer import explore
    from fpdsl.sim.interpreter import PolicyHooks

    resolved = check_or_raise(load_policy(ROOT / "policies" / f"{policy}.fp"))
    started = time.perf_counter()
    config = ModelConfig(kernel=resolved.kernel, guest_sve=guest_sve, **bound)
    ex = explore(PolicyHooks(resolved), config, resolved.initial_flags())
    seconds = time.perf_counter() - started
    return {
        "policy": policy,
        "states": ex.states,
        "transitions": ex.transitions,
        "seconds": round(seconds, 2),
        "states_per_second": round(ex.states / seconds),
        "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "truncated": ex.truncated,
        "clean": ex.clean,
        "shortest": min((len(ce.path) for ce in ex.counterexamples.values()), default=0),
    }


def _kernel(policy: str) -> str:
    from fpdsl.lang.loader import load_policy

    return load_policy(ROOT / "policies" / f"{policy}.fp").kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policies", nargs="*")
    parser.add_argument("--deep", action="store_true")
    for name, default in (("cpus", 1), ("tasks", 1), ("runs", 1), ("exits", 2)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--forget-dead", action="store_true", help="merge states differing only in dead contents")
    parser.add_argument("--exact", action="store_true", help="with --deep: keep dead contents")
    parser.add_argument("--guest-sve", action="store_true", help="an SVE guest (6.x policies only; 2018 ones skipped)")
    parser.add_argument(
        "--jobs", type=int, default=0, help="also time all the policies explored in a pool of this many processes"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bound: dict = {"cpus": args.cpus, "tasks": args.tasks, "runs": args.runs, "exits": args.exits}
    if args.deep:
        bound = {"cpus": 2, "tasks": 1, "runs": 2, "exits": 1}
    # The deep bound is out of reach in a minute without the dead-value rules.
    bound["dead_values"] = args.forget_dead or (args.deep and not args.exact)
    if args.child:
        print(json.dumps(one(args.child, bound, args.guest_sve)))
        return
    policies = args.policies or sorted(p.stem for p in (ROOT / "policies").glob("*.fp"))
    if args.guest_sve:
        policies = [p for p in policies if _kernel(p).startswith("v6")]
    print(f"bound: {bound}" + (", an SVE guest" if args.guest_sve else ""))
    print(f"{'policy':<24} {'states':>9} {'transitions':>12} {'seconds':>8} {'states/s':>9} {'peak MiB':>9}  verdict")
    total = 0.0
    for policy in policies:
        cmd = [sys.executable, __file__, "--child", policy] + [
            f"--{k}={bound[k]}" for k in ("cpus", "tasks", "runs", "exits")
        ]
        if bound["dead_values"]:
            cmd.append("--forget-dead")
        if args.guest_sve:
            cmd.append("--guest-sve")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        r = json.loads(out.stdout)
        total += r["seconds"]
        verdict = "clean" if r["clean"] else f"violated ({r['shortest']} steps)"
        if r["truncated"]:
            verdict += " (truncated)"
        print(
            f"{policy:<24} {r['states']:>9} {r['transitions']:>12} {r['seconds']:>8.2f} "
            f"{r['states_per_second']:>9} {r['peak_mib']:>9}  {verdict}"
        )
    print(f"total seconds: {total:.2f}")
    if args.jobs:
        pooled, command = _pooled(policies, bound, args.guest_sve, args.jobs)
        print(f"the same policies in a pool of {args.jobs} (fpdsl.sim.pool), wall seconds, median of 3: {pooled:.2f}")
        print(f"`{command}` end to end (start-up, checking, table), median of 3: {_end_to_end(command):.2f}")


def _pooled(policies: list[str], bound: dict, guest_sve: bool, jobs: int) -> tuple[float, str]:
    """Wall seconds of explore_in_pool over every policy (loaded beforehand),
    median of 3, and the CLI command that does the same."""
    from fpdsl.lang.checker import check_or_raise
    from fpdsl.lang.loader import load_policy
    from fpdsl.model.records import PROPERTIES
    from fpdsl.sim.pool import explore_in_pool

    resolved = [check_or_raise(load_policy(ROOT / "policies" / f"{p}.fp")) for p in policies]
    config = {**bound, "guest_sve": True} if guest_sve else bound
    times = []
    for _ in range(3):
        started = time.perf_counter()
        explore_in_pool(resolved, config, PROPERTIES, 2_000_000, jobs)
        times.append(time.perf_counter() - started)
    files = " ".join(f"policies/{p}.fp" for p in policies) if len(policies) < 14 else "policies/"
    options = [f"--{k} {bound[k]}" for k in ("cpus", "tasks", "runs", "exits")]
    options += [] if bound["dead_values"] else ["--exact"]
    options += ["--guest-sve"] if guest_sve else []
    return sorted(times)[1], f"fpdsl simulate --all {files} -q -j {jobs} {' '.join(options)}"


def _end_to_end(command: str) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        argv = [sys.executable, "-m", "fpdsl.cli", *command.split()[1:]]
        subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
        times.append(time.perf_counter() - started)
    return sorted(times)[1]


if __name__ == "__main__":
    main()
