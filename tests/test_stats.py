"""Costs per KVM_RUN: exact Markov-chain values, Monte Carlo agreement,
profiles, and the compare/sweep commands."""

from __future__ import annotations

import json

import pytest
from helpers import SHIPPED, policy, run_cli

from fpdsl.diagnostics import FpdslError, Source
from fpdsl.stats.chain import COST_METRICS, exact_costs
from fpdsl.stats.montecarlo import sampled_costs
from fpdsl.stats.profile import guest_fp_from_interval, load_profile, parse_profile

SEED = load_profile("seed_2018")
STORM = load_profile("io_storm")


def test_seed_profile_gives_the_measured_exit_and_preemption_rates() -> None:
    costs = exact_costs(policy("lazy_until_put"), SEED).per_run
    assert costs["preemptions"] == pytest.approx(2.72 / 0.57, rel=1e-9)  # 4.77
    assert costs["exits"] == pytest.approx(1 / 0.0057, rel=1e-9)
    assert costs["exits_to_user"] == pytest.approx(1.0, rel=1e-9)


def test_lazy_host_context_saves_per_run() -> None:
    # KVM saves the host context once per load..put interval in which the
    # guest touched FPSIMD: (preemptions + the final interval) x 0.29.
    costs = exact_costs(policy("lazy_until_put"), SEED).per_run
    assert costs["kvm_host_saves"] == pytest.approx((1 + 2.72 / 0.57) * 0.29, rel=5e-3)


def test_guest_fp_calibration_matches_the_interval_fraction() -> None:
    g = SEED.guest_fp
    assert g == pytest.approx(0.01326, abs=1e-5)
    q = SEED.exit_to_user + SEED.preempt
    # P(at least one guest FP use in an interval of Geometric(q) guest runs)
    p_touch = 1 - q * (1 - g) / (1 - (1 - g) * (1 - q))
    assert p_touch == pytest.approx(0.29, rel=1e-12)
    assert guest_fp_from_interval(0.0, SEED) == 0.0


@pytest.mark.parametrize("profile", [SEED, STORM], ids=lambda p: p.name)
@pytest.mark.parametrize("name", SHIPPED)
def test_monte_carlo_agrees_with_exact_within_its_interval(name: str, profile) -> None:
    exact = exact_costs(policy(name), profile)
    sampled = sampled_costs(policy(name), profile, samples=300_000, seed=7, confidence=0.999)
    for metric in COST_METRICS:
        assert abs(exact.per_run[metric] - sampled.per_run[metric]) <= sampled.half_width[metric] + 1e-12, metric


def test_policy_specific_costs_under_the_seed_profile() -> None:
    merged = exact_costs(policy("host_machinery"), SEED).per_run
    lazy = exact_costs(policy("lazy_until_put"), SEED).per_run
    busy = exact_costs(policy("neon_busy"), SEED).per_run
    assert merged["kvm_host_saves"] < lazy["kvm_host_saves"] / 3
    assert merged["redundant_restores"] < lazy["redundant_restores"] / 2
    assert merged["redundant_saves"] < lazy["redundant_saves"]
    assert merged["host_restores"] < lazy["host_restores"]
    assert busy["softirq_neon_uses"] == 0 and busy["softirq_fallbacks"] > 0.3
    assert lazy["softirq_fallbacks"] == 0


def test_profile_errors() -> None:
    with pytest.raises(FpdslError, match="did you mean 'exit.to_user'"):
        parse_profile(Source("p.toml", "[exit]\nto_usr = 0.1\npreempt = 0.1\n"))
    with pytest.raises(FpdslError, match="must be a probability"):
        parse_profile(Source("p.toml", "[exit]\nto_user = 1.5\npreempt = 0.1\n"))
    with pytest.raises(FpdslError, match="not a valid profile"):
        parse_profile(Source("p.toml", "[exit\n"))
    with pytest.raises(FpdslError, match="every KVM_RUN must end"):
        parse_profile(Source("p.toml", "[exit]\nto_user = 0\npreempt = 0.1\n"))


def test_stats_and_compare_commands(tmp_path) -> None:
    out = run_cli("stats", "policies/lazy_until_put.fp", "--workload", "seed_2018", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["per_kvm_run"]["preemptions"] == pytest.approx(4.7719, abs=1e-3)
    out = run_cli("compare", "policies/", "--workload", "io_storm", "--markdown")
    assert out.returncode == 0, out.stderr
    assert "| verdict |  | VIOLATED (lost-state, leaked-state) | CLEAN |" in out.stdout
    assert "**" in out.stdout  # best clean value highlighted
    png = tmp_path / "sweep.png"
    out = run_cli(
        "compare", "policies/eager.fp", "policies/lazy_until_put.fp", "--workload", "seed_2018",
        "--sweep", "exit.to_user=0.005:0.3:4", "--metric", "host_saves", "--plot", str(png),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("compare", "policies/eager.fp", "--workload", "seed_2018", "--sweep", "nope=1:2:3", "--plot", "x.png")
    assert bad.returncode == 2 and "--sweep: unknown parameter 'nope'; valid: exit.to_user, exit.preempt" in bad.stderr
