"""The stats and compare commands."""

from __future__ import annotations

import json
import math

import click
import numpy as np

from fpdsl.cli.common import DEFAULT_BOUND, _load_checked, _policy_files
from fpdsl.diagnostics import UsageError
from fpdsl.stats.chain import COST_METRICS, CostResult, exact_costs
from fpdsl.stats.montecarlo import sampled_costs
from fpdsl.stats.profile import PARAMS, load_profile, profile_problem


def _costs(policy, profile, method: str, exits: int, seed: int) -> CostResult:
    if method == "exact":
        return exact_costs(policy, profile)
    return sampled_costs(policy, profile, exits=exits, seed=seed)


def _result_json(r: CostResult) -> dict:
    out = {"policy": r.policy, "profile": r.profile, "method": r.method, "states": r.states, "per_kvm_run": r.per_run}
    if r.half_width is not None:
        out["ci99_half_width"] = r.half_width
    return out


method_option = click.option(
    "--method",
    type=click.Choice(["exact", "monte-carlo"]),
    default="exact",
    show_default=True,
    help="solve the Markov chain, or sample it",
)
exits_option = click.option(
    "--exits", "mc_exits", default=1_000_000, show_default=True, help="Monte Carlo: guest exits"
)
seed_option = click.option(
    "--seed", default=1, show_default=True, type=click.IntRange(0, 2**32 - 1), help="Monte Carlo: random seed"
)
MAX_SWEEP_POINTS = 200


@click.command("stats")
@click.argument("policy")
@click.option("--workload", required=True, help="a built-in profile (seed_2018, io_storm) or a profile file")
@method_option
@exits_option
@seed_option
@click.option("--json", "as_json", is_flag=True)
def stats_cmd(policy, workload, method, mc_exits, seed, as_json):
    """Expected costs per KVM_RUN of POLICY under a workload profile."""
    from rich.console import Console

    from fpdsl.stats.report import cost_table

    resolved = _load_checked(policy)
    profile = load_profile(workload)
    result = _costs(resolved, profile, method, mc_exits, seed)
    if as_json:
        click.echo(json.dumps(_result_json(result), indent=2))
        return
    title = f"{resolved.name} under {profile.name} ({result.method}, {result.states} states, {result.seconds:.2f}s)"
    Console(width=120).print(cost_table([result], title=title))


def _parse_sweep(text: str) -> tuple[str, np.ndarray]:
    try:
        name, rng = text.split("=", 1)
        a, b, n = rng.split(":")
        lo, hi, count = float(a), float(b), int(n)
        if not (math.isfinite(lo) and math.isfinite(hi)) or not 1 <= count <= MAX_SWEEP_POINTS:
            raise ValueError
        # geometric spacing when the range spans more than a decade
        values = np.geomspace(lo, hi, count) if 0 < lo and hi / lo > 10 else np.linspace(lo, hi, count)
    except ValueError:
        raise UsageError(
            f"--sweep {text!r}: expected PARAM=START:STOP:COUNT with finite START and STOP and "
            f"1 <= COUNT <= {MAX_SWEEP_POINTS}, e.g. exit_to_user=0.001:0.3:12"
        ) from None
    if name not in PARAMS:
        raise UsageError(f"--sweep: unknown parameter '{name}'; known: {', '.join(PARAMS)}")
    return name, values


@click.command("compare")
@click.argument("policies", nargs=-1, required=True)
@click.option("--workload", required=True, help="a built-in profile (seed_2018, io_storm) or a profile file")
@method_option
@exits_option
@seed_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--markdown", is_flag=True, help="print the table as Markdown")
@click.option("--sweep", help="PARAM=START:STOP:COUNT: sweep a profile parameter (with --plot)")
@click.option("--metric", default="host_saves", type=click.Choice(COST_METRICS), show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False), help="write the sweep as a PNG")
def compare_cmd(policies, workload, method, mc_exits, seed, as_json, markdown, sweep, metric, plot):
    """One table: each policy's verdict (explorer, default bound) and costs."""
    from rich.console import Console

    from fpdsl.cli.simulate import explore_verdict
    from fpdsl.stats.report import cost_table, markdown_table, sweep_plot

    resolved = [_load_checked(p) for p in _policy_files(policies)]
    profile = load_profile(workload)
    if sweep:
        if not plot:
            raise UsageError("--sweep needs --plot FILE")
        param, values = _parse_sweep(sweep)
        points = [profile.with_param(param, float(v)) for v in values]
        for v, point in zip(values, points, strict=True):
            problem = profile_problem(point)
            if problem:
                raise UsageError(f"--sweep: at {param}={float(v):g} the profile {profile.name} is invalid: {problem}")
        series = {}
        for pol in resolved:
            series[pol.name] = [
                (float(v), _costs(pol, point, method, mc_exits, seed).per_run[metric])
                for v, point in zip(values, points, strict=True)
            ]
        sweep_plot(series, param, metric, f"{metric} per KVM_RUN vs {param} ({profile.name})", plot)
        if as_json:
            click.echo(json.dumps(series, indent=2))
        else:
            click.echo(f"wrote {plot}")
        return
    verdicts = {pol.name: explore_verdict(pol, DEFAULT_BOUND) for pol in resolved}
    results = [_costs(pol, profile, method, mc_exits, seed) for pol in resolved]
    if as_json:
        click.echo(json.dumps([dict(_result_json(r), verdict=verdicts[r.policy]) for r in results], indent=2))
    elif markdown:
        click.echo(markdown_table(results, verdicts), nl=False)
    else:
        Console(width=200).print(cost_table(results, verdicts, title=f"costs per KVM_RUN under {profile.name}"))
