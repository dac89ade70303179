"""The simulate command: replay a scenario, explore one policy, explore many."""

from __future__ import annotations

import json
import sys

import click

from fpdsl.cli.common import _load_checked, _policy_files, bound_options
from fpdsl.fsutil import atomic_write
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.model.machine import ModelConfig
from fpdsl.model.records import PROPERTIES
from fpdsl.sim.explorer import Exploration, explore
from fpdsl.sim.interpreter import PolicyHooks
from fpdsl.sim.render import render_run, run_json, summary_lines
from fpdsl.sim.report import dot_graph, exploration_json, render_exploration, verdict_word
from fpdsl.sim.run import replay_scenario
from fpdsl.sim.scenario import load_scenario


def replay(policy: ResolvedPolicy, scenario_name: str, as_json: bool) -> None:
    scenario = load_scenario(scenario_name)
    run = replay_scenario(policy, scenario)
    if as_json:
        data = run_json(run)
        data["scenario"] = scenario.name
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"scenario {scenario.name}: {scenario.description}")
    click.echo(f"policy {policy.name} ({policy.path}), kernel model {policy.kernel}")
    click.echo(render_run(run))
    click.echo("")
    for line in summary_lines(run):
        click.echo(line)


def _explore(policy: ResolvedPolicy, bound: dict, properties, max_states: int, quiet: bool) -> Exploration:
    config = ModelConfig(kernel=policy.kernel, **bound)
    hooks = PolicyHooks(policy)
    if quiet or not sys.stderr.isatty():
        return explore(hooks, config, policy.initial_flags(), properties, max_states=max_states)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True, console=None
    ) as progress:
        task = progress.add_task(f"{policy.name}: exploring", total=None)

        def tick(states: int, depth: int) -> None:
            progress.update(task, description=f"{policy.name}: {states} states, depth {depth}")

        return explore(hooks, config, policy.initial_flags(), properties, max_states=max_states, progress=tick)


def explore_one(policy, bound, properties, max_states, as_json, dot_file, quiet) -> int:
    ex = _explore(policy, bound, properties, max_states, quiet)
    if as_json:
        click.echo(json.dumps(exploration_json(policy, ex, properties), indent=2))
    else:
        click.echo(render_exploration(policy, ex, properties))
    if dot_file:
        first = next((ce for p in properties for ce in ex.for_property(p)), None)
        if first is None:
            click.echo("no counterexample: nothing written to --dot", err=True)
        else:
            atomic_write(dot_file, dot_graph(policy, ex, first))
    return 0 if verdict_word(ex, properties) == "CLEAN" else 1


def explore_many(policies: list[ResolvedPolicy], bound, properties, max_states, as_json, quiet) -> int:
    from rich.console import Console
    from rich.table import Table

    results = [(p, _explore(p, bound, properties, max_states, quiet)) for p in policies]
    if as_json:
        click.echo(json.dumps([exploration_json(p, ex, properties) for p, ex in results], indent=2))
    else:
        table = Table(title=f"verdicts at bound {bound}")
        table.add_column("policy")
        for prop in properties:
            table.add_column(prop)
        table.add_column("states", justify="right")
        table.add_column("seconds", justify="right")
        table.add_column("verdict")
        for p, ex in results:
            cells = ["ok" if ex.holds(prop) else "VIOLATED" for prop in properties]
            table.add_row(p.name, *cells, str(ex.states), f"{ex.seconds:.2f}", verdict_word(ex, properties))
        Console(width=160).print(table)
    return 0 if all(verdict_word(ex, properties) == "CLEAN" for _, ex in results) else 1


def explore_verdict(policy: ResolvedPolicy, bound: dict) -> str:
    """CLEAN, VIOLATED (with the broken properties) or INCOMPLETE."""
    from fpdsl.model.records import PROPERTIES

    ex = _explore(policy, bound, PROPERTIES, 2_000_000, True)
    word = verdict_word(ex, PROPERTIES)
    broken = [p for p in PROPERTIES if not ex.holds(p)]
    return f"{word} ({', '.join(broken)})" if broken else word


@click.command("simulate")
@click.argument("policies", nargs=-1, required=True)
@click.option("--scenario", help="replay a built-in scenario (e.g. seed_ab) or a scenario file")
@click.option("--all", "all_", is_flag=True, help="explore every policy given (files or folders); one verdict table")
@bound_options
@click.option("--property", "props", multiple=True, type=click.Choice(PROPERTIES), help="check only these")
@click.option("--skip", "skips", multiple=True, type=click.Choice(PROPERTIES), help="do not check these")
@click.option(
    "--forget-dead",
    is_flag=True,
    help="merge states differing only in contents no step can read (same verdicts and shortest counterexamples)",
)
@click.option("--max-states", default=2_000_000, show_default=True, help="stop (INCOMPLETE) beyond this many states")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--dot", "dot_file", type=click.Path(dir_okay=False), help="write the first counterexample as Graphviz")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def simulate_cmd(
    policies, scenario, all_, cpus, tasks, runs, exits, props, skips, forget_dead, max_states, as_json, dot_file, quiet
):
    """Explore every interleaving up to a bound (exit 1 on a violation), or
    replay a --scenario step by step."""
    properties = tuple(p for p in (props or PROPERTIES) if p not in skips)
    bound = {"cpus": cpus, "tasks": tasks, "runs": runs, "exits": exits}
    if forget_dead:
        bound["dead_values"] = True
    files = _policy_files(policies)
    if scenario:
        for path in files:
            replay(_load_checked(path), scenario, as_json)
        return
    if all_ or len(files) > 1:
        sys.exit(explore_many([_load_checked(p) for p in files], bound, properties, max_states, as_json, quiet))
    sys.exit(explore_one(_load_checked(files[0]), bound, properties, max_states, as_json, dot_file, quiet))
