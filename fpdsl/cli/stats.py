"""The stats and compare commands."""

from __future__ import annotations

import json

import click

from fpdsl.cli.common import DEFAULT_BOUND, _load_checked, _policy_files
from fpdsl.diagnostics import Diagnostic, FpdslError, UsageError
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.stats.chain import CostResult, exact_costs
from fpdsl.stats.montecarlo import sampled_costs
from fpdsl.stats.profile import PARAMS, Profile, load_profile
from fpdsl.stats.sweep import SPACINGS
from fpdsl.stats.vocabulary import METRIC_IDS, resolve_metric

CONFIDENCE = 0.99
WORKLOAD_HELP = "a built-in profile (seed_2018, io_storm) or a profile file (TOML; see the README)"


def _costs(policy: ResolvedPolicy, profile: Profile, method: str, samples: int, seed: int) -> CostResult:
    if method == "exact":
        return exact_costs(policy, profile)
    return sampled_costs(policy, profile, samples=samples, seed=seed, confidence=CONFIDENCE)


def _result_json(r: CostResult, profile: Profile | None = None) -> dict:
    out = {"policy": r.policy, "profile": r.profile, "method": r.method, "states": r.states}
    if profile is not None:
        out["workload"] = profile.parameters()
    out["per_kvm_run"] = r.per_run
    if r.half_width is not None:
        out["ci99_half_width"] = r.half_width
        out["samples"] = r.samples
    return out


def _verdict(policy: ResolvedPolicy, profile: Profile) -> str:
    """The verdict at the default bound, for the guest the profile has."""
    from fpdsl.cli.simulate import explore_verdict
    from fpdsl.stats.workload import profile_fits

    problem = profile_fits(profile, policy.kernel)
    if problem:
        raise FpdslError(Diagnostic(f"{policy.name}: {problem}"))
    bound = dict(DEFAULT_BOUND, guest_sve=True) if profile.guest_sve else DEFAULT_BOUND
    return explore_verdict(policy, bound)


def _warn_unclean(name: str, verdict: str) -> None:
    if verdict != "CLEAN":
        b = DEFAULT_BOUND
        bound = f"{b['cpus']} CPU, {b['tasks']} competing task, {b['runs']} KVM_RUN, {b['exits']} guest exits"
        click.echo(
            f"warning: {name} is {verdict} at the default bound ({bound}): "
            "these are the costs of a policy that breaks a property (`fpdsl simulate` shows how)",
            err=True,
        )


def _no_exits(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None:
        raise click.BadParameter(
            "in stats and compare the Monte Carlo sample size is --samples N "
            "(in simulate, --exits is the bound on guest exits per KVM_RUN)",
            ctx=ctx,
            param=param,
        )


def _metric(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        metric, note = resolve_metric(value)
    except UsageError as exc:
        raise click.BadParameter(exc.diagnostics[0].message.removeprefix("--metric: "), ctx=ctx, param=param) from None
    if note:
        click.echo(f"note: {note}", err=True)
    return metric


def mc_options(f):
    f = click.option(
        "--seed", default=1, show_default=True, type=click.IntRange(0, 2**32 - 1), help="Monte Carlo: random seed"
    )(f)
    f = click.option("--exits", "old_exits", hidden=True, expose_value=False, callback=_no_exits, type=int)(f)
    f = click.option(
        "--samples",
        default=1_000_000,
        show_default=True,
        type=click.IntRange(1, 10**9),
        help="Monte Carlo: guest exits to sample, all walkers together",
    )(f)
    return click.option(
        "--method",
        type=click.Choice(["exact", "monte-carlo"]),
        default="exact",
        show_default=True,
        help="solve the Markov chain, or sample it (with a 99% confidence interval)",
    )(f)


@click.command("stats")
@click.argument("policy")
@click.option("--workload", required=True, help=WORKLOAD_HELP)
@mc_options
@click.option("--json", "as_json", is_flag=True, help="print the costs as JSON")
def stats_cmd(policy: str, workload: str, method: str, samples: int, seed: int, as_json: bool) -> None:
    """Expected costs per KVM_RUN of POLICY under a workload profile.

    Warns on stderr when the explorer finds POLICY VIOLATED at the default
    bound. Monte Carlo values are printed as mean ± the half-width of a
    99% confidence interval. Exit status 0; 1 on a policy that does not
    check or a bad profile; 2 on bad options or unreadable input.

    \b
    Examples:
      fpdsl stats policies/host_machinery.fp --workload seed_2018
      fpdsl stats my.fp --workload my_profile.toml --method monte-carlo --samples 200000 --json
    """
    from rich.console import Console

    from fpdsl.stats.report import cost_table, table_width

    resolved = _load_checked(policy)
    profile = load_profile(workload)
    verdict = _verdict(resolved, profile)
    _warn_unclean(resolved.name, verdict)
    result = _costs(resolved, profile, method, samples, seed)
    if as_json:
        click.echo(json.dumps(dict(_result_json(result, profile), verdict=verdict), indent=2))
        return
    title = f"{resolved.name} under {profile.name} ({result.method}, {result.states} states, {result.seconds:.2f}s)"
    table = cost_table([result], {resolved.name: verdict}, title=title, profile=profile)
    Console(width=table_width(table)).print(table)


@click.command("compare")
@click.argument("policies", nargs=-1, required=True)
@click.option("--workload", required=True, help=WORKLOAD_HELP)
@mc_options
@click.option("--json", "as_json", is_flag=True, help="print the table (or the sweep) as JSON")
@click.option("--markdown", is_flag=True, help="print the table as Markdown")
@click.option(
    "--sweep",
    help="PARAM=START:STOP:COUNT: sweep a profile parameter ("
    + ", ".join(PARAMS)
    + "), e.g. exit.to_user=0.002:0.5:25",
)
@click.option(
    "--spacing",
    type=click.Choice(SPACINGS),
    default="auto",
    show_default=True,
    help="the sweep's points: auto is log when STOP/START > 10",
)
@click.option(
    "--metric",
    default="host_saves",
    show_default=True,
    callback=_metric,
    help="the metric to plot: " + ", ".join(METRIC_IDS),
)
@click.option("--plot", type=click.Path(dir_okay=False), help="write the sweep as a PNG")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="write the sweep as CSV")
def compare_cmd(
    policies: tuple[str, ...],
    workload: str,
    method: str,
    samples: int,
    seed: int,
    as_json: bool,
    markdown: bool,
    sweep: str | None,
    spacing: str,
    metric: str,
    plot: str | None,
    csv_path: str | None,
) -> None:
    """One table: each policy's verdict (explorer, default bound) and costs.

    With --sweep, one metric against a profile parameter for every policy,
    written with --plot (PNG), --csv or --json. Exit status 0; 1 on a
    policy that does not check or a bad profile; 2 on bad options, a bad
    sweep or unreadable input.

    \b
    Examples:
      fpdsl compare policies/ --workload seed_2018 --markdown
      fpdsl compare policies/eager.fp policies/host_machinery.fp --workload io_storm \\
          --sweep exit.to_user=0.002:0.5:25 --plot sweep.png --csv sweep.csv
    """
    from rich.console import Console

    from fpdsl.stats.report import cost_table, markdown_table, table_width

    if not sweep and (plot or csv_path or spacing != "auto"):
        raise UsageError("--plot, --csv and --spacing are for a sweep: give --sweep PARAM=START:STOP:COUNT")
    if sweep:
        _compare_sweep(
            policies, workload, method, samples, seed, as_json, markdown, sweep, spacing, metric, plot, csv_path
        )
        return
    resolved = [_load_checked(p) for p in _policy_files(policies)]
    profile = load_profile(workload)
    verdicts = {pol.name: _verdict(pol, profile) for pol in resolved}
    results = [_costs(pol, profile, method, samples, seed) for pol in resolved]
    if as_json:
        click.echo(json.dumps([dict(_result_json(r, profile), verdict=verdicts[r.policy]) for r in results], indent=2))
    elif markdown:
        click.echo(markdown_table(results, verdicts), nl=False)
    else:
        table = cost_table(results, verdicts, title=f"costs per KVM_RUN under {profile.name}", profile=profile)
        Console(width=table_width(table)).print(table)


def _compare_sweep(
    policies: tuple[str, ...],
    workload: str,
    method: str,
    samples: int,
    seed: int,
    as_json: bool,
    markdown: bool,
    text: str,
    spacing: str,
    metric: str,
    plot: str | None,
    csv_path: str | None,
) -> None:
    from fpdsl.fsutil import output_path, write_all
    from fpdsl.stats.sweep import parse_sweep, run_sweep, sweep_csv, sweep_json, sweep_points, write_plot

    if markdown:
        raise UsageError("--markdown prints the comparison table; a sweep is written with --plot, --csv or --json")
    if not (plot or csv_path or as_json):
        raise UsageError("--sweep needs somewhere to go: --plot FILE, --csv FILE or --json")
    spec, note = parse_sweep(text, spacing)
    if note:
        click.echo(f"note: {note}", err=True)
    for path, what in ((plot, "--plot"), (csv_path, "--csv")):
        if path:
            output_path(path, what)
    resolved = [_load_checked(p) for p in _policy_files(policies)]
    profile = load_profile(workload)
    sweep_points(profile, spec)  # every point valid before any work
    verdicts = {pol.name: _verdict(pol, profile) for pol in resolved}
    result = run_sweep(
        [p.name for p in resolved],
        profile,
        spec,
        metric,
        method,
        verdicts,
        lambda i, point: _costs(resolved[i], point, method, samples, seed),
    )
    if plot:
        write_plot(result, plot)
    if csv_path:
        write_all({csv_path: sweep_csv(result)}, what="--csv")
    if as_json:
        click.echo(json.dumps(sweep_json(result), indent=2))
        return
    click.echo(spec.describe())
    for path in (plot, csv_path):
        if path:
            click.echo(f"wrote {path}")
