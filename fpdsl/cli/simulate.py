"""The simulate command: replay a scenario, explore one policy, explore many."""

from __future__ import annotations

import json
import os
import sys

import click

from fpdsl.cli.common import _load_checked, _policy_files, bound_options
from fpdsl.diagnostics import FpdslError, UsageError
from fpdsl.fsutil import atomic_write
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.model.machine import ModelConfig
from fpdsl.model.records import PROPERTIES
from fpdsl.sim.chart import sequence_charts
from fpdsl.sim.explorer import Exploration, Progress, explore
from fpdsl.sim.interpreter import PolicyHooks
from fpdsl.sim.render import render_run, run_json, summary_lines
from fpdsl.sim.report import (
    bound_text,
    counterexample_scenario,
    exploration_json,
    property_status,
    render_exploration,
    verdict_word,
)
from fpdsl.sim.run import replay_scenario
from fpdsl.sim.scenario import builtin_scenarios, load_scenario

# Exit statuses of an exploration (usage errors are 2, as everywhere).
EXIT_CLEAN, EXIT_VIOLATED, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 3, 130


def replay(policy: ResolvedPolicy, scenario_name: str, as_json: bool, full_state: bool) -> int:
    """Replay a scenario; 1 if a step breaks a property, like an exploration."""
    scenario = load_scenario(scenario_name)
    run = replay_scenario(policy, scenario)
    broken = sorted({v.prop for s in run.steps for v in s.violations})
    if as_json:
        data = run_json(run)
        data["scenario"] = scenario.name
        data["verdict"] = "VIOLATED" if broken else "CLEAN"
        data["violated"] = broken
        click.echo(json.dumps(data, indent=2))
        return EXIT_VIOLATED if broken else EXIT_CLEAN
    click.echo(f"scenario {scenario.name}: {scenario.description}")
    click.echo(f"policy {policy.name} ({policy.path}), kernel model {policy.kernel}")
    click.echo(render_run(run, full_state=full_state))
    click.echo("")
    for line in summary_lines(run):
        click.echo(line)
    if broken:
        click.echo(f"verdict: VIOLATED ({', '.join(broken)}) on this scenario")
        return EXIT_VIOLATED
    click.echo("verdict: no property broken on this scenario (one path only: explore for a verdict)")
    return EXIT_CLEAN


def _rss_mib() -> float:
    # Peak resident set size: kilobytes on Linux.
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def progress_text(name: str, p: Progress, max_states: int, forgetting: bool) -> str:
    """One progress line: how much, how fast, how close to --max-states."""
    rate = p.states / p.seconds if p.seconds > 0 else 0.0
    text = (
        f"{name}: {p.states:,} states ({100 * p.states / max_states:.1f}% of --max-states), "
        f"{rate:,.0f} states/s, depth {p.depth}, frontier {p.frontier:,}, {_rss_mib():,.0f} MiB"
    )
    if not forgetting and p.seconds > 5:
        text += "; --forget-dead would merge states and finish sooner"
    return text


def _explore(policy: ResolvedPolicy, bound: dict, properties, max_states: int, quiet: bool) -> Exploration:
    config = ModelConfig(kernel=policy.kernel, **bound)
    hooks = PolicyHooks(policy)
    if quiet or not sys.stderr.isatty():
        return explore(hooks, config, policy.initial_flags(), properties, max_states=max_states, interruptible=True)
    from rich.progress import Progress as Bar
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    with Bar(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(f"{policy.name}: exploring", total=None)

        def tick(p: Progress) -> None:
            bar.update(task, description=progress_text(policy.name, p, max_states, config.dead_values))

        return explore(
            hooks, config, policy.initial_flags(), properties, max_states=max_states, progress=tick, interruptible=True
        )


def exit_status(ex: Exploration, properties) -> int:
    word = verdict_word(ex, properties)
    if ex.interrupted:
        return EXIT_INTERRUPTED
    return {"CLEAN": EXIT_CLEAN, "VIOLATED": EXIT_VIOLATED}.get(word, EXIT_INCOMPLETE)


def explore_one(policy, bound, properties, max_states, as_json, dot_file, quiet, full_state, save_scenario) -> int:
    ex = _explore(policy, bound, properties, max_states, quiet)
    if as_json:
        click.echo(json.dumps(exploration_json(policy, ex, properties), indent=2))
    else:
        click.echo(render_exploration(policy, ex, properties, full_state))
    first = next((ce for p in properties for ce in ex.for_property(p)), None)
    for option, path, write in (
        ("--dot", dot_file, lambda _ce: sequence_charts(policy, ex, properties)),
        ("--save-scenario", save_scenario, lambda ce: counterexample_scenario(policy, ex, ce)),
    ):
        if path and first is None:
            click.echo(f"no counterexample: nothing written to {option}", err=True)
        elif path:
            atomic_write(path, write(first))
    return exit_status(ex, properties)


def explore_many(files: list[str], bound, properties, max_states, as_json, quiet, jobs: int = 1) -> int:
    """One verdict table; a policy that does not check is an error row (its
    diagnostics on stderr), not the end of the table. `jobs` > 1: that many
    explorations at once, each in a process of its own (fpdsl.sim.pool); the
    table is the same."""
    from rich.console import Console
    from rich.table import Table

    results: list[tuple[str, ResolvedPolicy | None, Exploration | str]] = []
    for path in files:
        try:
            p = _load_checked(path)
        except UsageError:
            raise
        except FpdslError as exc:
            for d in exc.diagnostics:
                click.echo(d.render(), err=True)
            first = exc.diagnostics[0].message if exc.diagnostics else "does not check"
            results.append((path, None, first))
            continue
        results.append((p.name, p, "not explored"))
    interrupted = False
    if jobs > 1:
        from fpdsl.sim.pool import explore_in_pool

        todo = [i for i, (_, p, _) in enumerate(results) if p is not None]
        found, interrupted = explore_in_pool([results[i][1] for i in todo], bound, properties, max_states, jobs)
        for i, ex in zip(todo, found, strict=True):
            results[i] = (results[i][0], results[i][1], ex if ex is not None else "never started")
        unexplored = [name for name, p, ex in results if p is not None and isinstance(ex, str)]
        results = [r for r in results if r[1] is None or not isinstance(r[2], str)]
        if unexplored:
            click.echo(f"interrupted by Ctrl-C before exploring: {', '.join(unexplored)}", err=True)
    else:
        for i, (name, p, _) in enumerate(results):
            if p is not None:
                results[i] = (name, p, _explore(p, bound, properties, max_states, quiet))
                if results[i][2].interrupted:
                    interrupted = True
                    unexplored = [n for n, q, _ in results[i + 1 :] if q is not None]
                    if unexplored:
                        click.echo(f"interrupted by Ctrl-C before exploring: {', '.join(unexplored)}", err=True)
                    del results[i + 1 :]
                    break
    if as_json:
        rows = [
            exploration_json(p, ex, properties) if p is not None else {"file": name, "verdict": "ERROR", "error": ex}
            for name, p, ex in results
        ]
        click.echo(json.dumps(rows, indent=2))
    else:
        bounds = ModelConfig(kernel="v4.16", **bound)
        table = Table(title=f"verdicts at bound: {bound_text(bounds)}")
        table.add_column("policy")
        for prop in properties:
            table.add_column(prop)
        table.add_column("states", justify="right")
        table.add_column("seconds", justify="right")
        table.add_column("verdict")
        for name, p, ex in results:
            if p is None:
                table.add_row(name, *["-" for _ in properties], "-", "-", f"ERROR: {ex}")
                continue
            cells = ["ok" if property_status(ex, prop) == "holds" else property_status(ex, prop) for prop in properties]
            table.add_row(p.name, *cells, str(ex.states), f"{ex.seconds:.2f}", verdict_word(ex, properties))
        Console(width=160).print(table)
    if interrupted:
        return EXIT_INTERRUPTED
    statuses = [exit_status(ex, properties) if p is not None else EXIT_VIOLATED for _, p, ex in results]
    return max(statuses, key=[EXIT_CLEAN, EXIT_INCOMPLETE, EXIT_VIOLATED, EXIT_INTERRUPTED].index)


def explore_verdict(policy: ResolvedPolicy, bound: dict) -> str:
    """CLEAN, VIOLATED (with the broken properties) or INCOMPLETE."""
    ex = _explore(policy, bound, PROPERTIES, 2_000_000, True)
    word = verdict_word(ex, PROPERTIES)
    broken = [p for p in PROPERTIES if not ex.holds(p)]
    return f"{word} ({', '.join(broken)})" if broken else word


def _properties(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """`--property a,b` and `--property a --property b` alike."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    for n in names:
        if n not in PROPERTIES:
            raise click.BadParameter(f"'{n}' is not a property; properties: {', '.join(PROPERTIES)}")
    return tuple(names)


@click.command("simulate")
@click.argument("policies", nargs=-1, required=True)
@click.option(
    "--scenario",
    help="replay a scenario file or a built-in scenario (" + ", ".join(builtin_scenarios()) + ") step by step",
)
@click.option("--all", "all_", is_flag=True, help="explore every policy given (files or folders); one verdict table")
@bound_options
@click.option("--property", "props", multiple=True, callback=_properties, help="check only these (P or P1,P2)")
@click.option("--skip", "skips", multiple=True, callback=_properties, help="do not check these (P or P1,P2)")
@click.option(
    "--forget-dead/--exact",
    default=True,
    show_default=True,
    help="merge states that differ only in contents no step can read (the same verdicts and shortest "
    "counterexamples, fewer states); --exact keeps every state",
)
@click.option("--max-states", default=2_000_000, show_default=True, help="stop (INCOMPLETE, exit 3) beyond this many")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option(
    "--full",
    "--full-state",
    "full_state",
    is_flag=True,
    help="print the whole state after every step, * on what changed",
)
@click.option(
    "--dot",
    "dot_file",
    type=click.Path(dir_okay=False),
    help="write every counterexample as a Graphviz sequence chart (a lane per CPU)",
)
@click.option(
    "--save-scenario",
    type=click.Path(dir_okay=False),
    help="write the first counterexample as a scenario file, to replay with --scenario",
)
@click.option("--quiet", "-q", is_flag=True, help="no progress line")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(0, 64),
    default=1,
    show_default=True,
    help="with several policies: explore this many at once, each in a process of its own (0: one per CPU); "
    "the same table",
)
@click.option("--guest-sve", is_flag=True, help="the guest has SVE (vcpu_has_sve()); 6.x kernel models only")
@click.pass_context
def simulate_cmd(
    ctx,
    policies,
    scenario,
    all_,
    cpus,
    tasks,
    runs,
    exits,
    props,
    skips,
    forget_dead,
    max_states,
    as_json,
    full_state,
    dot_file,
    save_scenario,
    quiet,
    jobs,
    guest_sve,
):
    """Explore every interleaving up to a bound, or replay a --scenario step by step.

    Exit status: 0 clean, 1 a property is violated, 2 bad input, 3 incomplete
    (--max-states reached), 130 interrupted (what was explored is printed).

    \b
    Examples:
      fpdsl simulate policies/lazy_until_put.fp
      fpdsl simulate --all policies/ --cpus 2 --runs 2 --exits 1
      fpdsl simulate --all policies/ -j 2
      fpdsl simulate policies/eager.fp --scenario seed_ab
      fpdsl simulate my.fp --save-scenario bug.scn && fpdsl simulate my.fp --scenario bug.scn
    """
    properties = tuple(p for p in (props or PROPERTIES) if p not in skips)
    if not properties:
        raise UsageError("--skip leaves no property to check")
    bound = {"cpus": cpus, "tasks": tasks, "runs": runs, "exits": exits, "dead_values": forget_dead}
    files = _policy_files(policies)
    if guest_sve:
        bound["guest_sve"] = True
        if scenario:
            raise UsageError("--guest-sve cannot be used with --scenario")
        for path in files:
            kernel = _load_checked(path).kernel
            if not kernel.startswith("v6"):
                raise UsageError(f"--guest-sve: {path} runs on the {kernel} model, which has no SVE guests")
    if scenario:
        given = [f"--{n}" for n in ("cpus", "tasks", "runs", "exits") if _given(ctx, n)]
        given += [o for o, v in (("--all", all_), ("--dot", dot_file), ("--save-scenario", save_scenario)) if v]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be used with --scenario: a scenario file sets its own bound")
        sys.exit(max(replay(_load_checked(path), scenario, as_json, full_state) for path in files))
    if all_ or len(files) > 1:
        if dot_file or save_scenario:
            raise UsageError("--dot and --save-scenario take one policy")
        sys.exit(explore_many(files, bound, properties, max_states, as_json, quiet, jobs or os.cpu_count() or 1))
    policy = _load_checked(files[0])
    sys.exit(explore_one(policy, bound, properties, max_states, as_json, dot_file, quiet, full_state, save_scenario))


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
