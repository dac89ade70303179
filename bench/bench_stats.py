"""Cost-analysis figures: exact Markov-chain solution time per shipped policy
and profile (median of 5), and Monte Carlo time for 10^6 guest exits."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import load_policy
from fpdsl.stats.chain import exact_costs
from fpdsl.stats.montecarlo import sampled_costs
from fpdsl.stats.profile import load_profile

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    policies = sorted((ROOT / "policies").glob("*.fp"))
    print(f"{'policy':<24} {'profile':<10} {'states':>7} {'exact s (median)':>17} {'MC 1e6 exits s':>15}")
    worst_exact = worst_mc = 0.0
    for path in policies:
        resolved = check_or_raise(load_policy(path))
        for name in ("seed_2018", "io_storm"):
            profile = load_profile(name)
            exact = exact_costs(resolved, profile)
            t_exact = median_seconds(lambda r=resolved, p=profile: exact_costs(r, p), 5)
            t_mc = median_seconds(lambda r=resolved, p=profile: sampled_costs(r, p, exits=1_000_000), 1)
            worst_exact, worst_mc = max(worst_exact, t_exact), max(worst_mc, t_mc)
            print(f"{resolved.name:<24} {name:<10} {exact.states:>7} {t_exact:>17.3f} {t_mc:>15.2f}")
    print(f"slowest exact analysis: {worst_exact:.3f} s; slowest Monte Carlo of 1e6 exits: {worst_mc:.2f} s")


if __name__ == "__main__":
    main()
