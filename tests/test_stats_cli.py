"""stats and compare as a user meets them: a warning for violated policies,
the Monte Carlo interval labelled (and really 99%), --samples, and the
old --exits refused with the reason."""

from __future__ import annotations

import json

import pytest
from helpers import POLICIES, policy, run_cli

from fpdsl.stats.chain import exact_costs
from fpdsl.stats.montecarlo import sampled_costs, z_value
from fpdsl.stats.profile import load_profile
from fpdsl.stats.report import markdown_table

EAGER, LAZY = str(POLICIES / "eager.fp"), str(POLICIES / "lazy_until_put.fp")
WARNING = (
    "warning: lazy_until_put is VIOLATED (lost-state, leaked-state) at the default bound (1 CPU, 1 competing "
    "task, 1 KVM_RUN, 2 guest exits): these are the costs of a policy that breaks a property "
    "(`fpdsl simulate` shows how)\n"
)


def test_stats_warns_on_a_violated_policy() -> None:
    r = run_cli("stats", LAZY, "--workload", "seed_2018", "--json")
    assert r.returncode == 0
    assert r.stderr == WARNING
    data = json.loads(r.stdout)
    assert data["verdict"] == "VIOLATED (lost-state, leaked-state)"
    assert data["per_kvm_run"]["kvm_host_saves"] == pytest.approx(1.674, abs=1e-3)
    clean = run_cli("stats", EAGER, "--workload", "seed_2018")
    assert clean.returncode == 0 and clean.stderr == ""
    assert "│ verdict " in clean.stdout and "CLEAN" in clean.stdout


def test_monte_carlo_interval_is_labelled() -> None:
    r = run_cli("stats", EAGER, "--workload", "io_storm", "--method", "monte-carlo", "--samples", "20000", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["method"] == "monte-carlo" and 20000 <= data["samples"] < 20200
    assert set(data["ci99_half_width"]) == set(data["per_kvm_run"])
    table = run_cli("stats", EAGER, "--workload", "io_storm", "--method", "monte-carlo", "--samples", "20000").stdout
    assert "per KVM_RUN (mean ± 99% CI)" in table
    assert "± is the half-width of a 99% CI (two-sided, delta method over 200" in " ".join(table.split())
    md = markdown_table([sampled_costs(policy("eager"), load_profile("io_storm"), samples=20_000)])
    assert md.startswith("| per KVM_RUN (mean ± 99% CI) | metric | eager |\n")
    assert md.endswith(" guest exits sampled per policy)\n") and "\n± is the half-width of a 99% CI" in md
    assert "| host saves | `host_saves` | 0." in md and " ± 0.0" in md


def test_the_interval_is_a_99_percent_interval() -> None:
    # 100 independent runs x 5 metrics: a 99% interval misses the exact value
    # about 5 times, a 90% one (same runs, z scaled) about 50 times.
    assert z_value(0.99) == pytest.approx(2.5758293, abs=1e-7)
    pol, storm = policy("host_machinery"), load_profile("io_storm")
    exact = exact_costs(pol, storm).per_run
    metrics = ["host_saves", "guest_saves", "preemptions", "host_restores", "binding_invalidations"]
    miss99 = miss90 = 0
    for seed in range(100):
        r = sampled_costs(pol, storm, samples=20_000, seed=seed, burn_in_steps=200)
        assert r.confidence == 0.99 and r.walkers == 200
        for m in metrics:
            off = abs(r.per_run[m] - exact[m])
            miss99 += off > r.half_width[m]
            miss90 += off > r.half_width[m] * z_value(0.90) / z_value(0.99)
    assert miss99 <= 12  # 500 intervals, 5 expected
    assert 30 <= miss90 <= 75  # 50 expected


def test_samples_option_and_the_old_exits() -> None:
    help_text = run_cli("stats", "--help").stdout
    assert "--samples INTEGER RANGE" in help_text and "--exits" not in help_text
    for command in (["stats", EAGER], ["compare", EAGER]):
        r = run_cli(*command, "--workload", "seed_2018", "--method", "monte-carlo", "--exits", "1000")
        assert r.returncode == 2
        assert (
            "Error: Invalid value for '--exits': in stats and compare the Monte Carlo sample size is --samples N "
            "(in simulate, --exits is the bound on guest exits per KVM_RUN)"
        ) in r.stderr
    bad = run_cli("stats", EAGER, "--workload", "seed_2018", "--samples", "0")
    assert bad.returncode == 2 and "Invalid value for '--samples'" in bad.stderr


def test_samples_sets_the_sample_size() -> None:
    small = run_cli("stats", EAGER, "--workload", "io_storm", "--method", "monte-carlo", "--samples", "5000", "--json")
    big = run_cli("stats", EAGER, "--workload", "io_storm", "--method", "monte-carlo", "--samples", "40000", "--json")
    s, b = json.loads(small.stdout), json.loads(big.stdout)
    assert 5000 <= s["samples"] < 5200 and 40000 <= b["samples"] < 40200
    assert b["ci99_half_width"]["host_saves"] < s["ci99_half_width"]["host_saves"]


def test_an_sve_profile_runs_on_the_6x_models_only() -> None:
    """sve_2025 has an SVE guest: a 2018 policy is refused before anything
    runs; a 6.x policy's warning comes from exploring with an SVE guest."""
    old = run_cli("stats", str(POLICIES / "eager.fp"), "--workload", "sve_2025")
    assert old.returncode == 1 and "Traceback" not in old.stderr
    assert "eager: guest.sve = 1: the v4.16 model has no SVE guests" in old.stderr
    new = run_cli("stats", str(POLICIES / "kvm_v6_12_0.fp"), "--workload", "sve_2025", "--json")
    assert new.returncode == 0, new.stderr
    data = json.loads(new.stdout)
    assert data["verdict"] == "VIOLATED (lost-state)" and data["workload"]["guest.sve"] == 1.0
