"""Exploration results for people and programs: verdict lines, numbered
counterexample traces (text, JSON, Graphviz)."""

from __future__ import annotations

from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.model.machine import ModelConfig
from fpdsl.model.records import PROPERTIES, PROPERTY_WORDS
from fpdsl.model.runloop import label
from fpdsl.model.values import owner_name
from fpdsl.sim.explorer import Counterexample, Exploration
from fpdsl.sim.render import origin_text, render_run, run_json
from fpdsl.sim.run import Run, run_events
from fpdsl.sim.scenario import scenario_text


def bound_text(c: ModelConfig) -> str:
    return (
        f"{c.cpus} CPU{'s' if c.cpus > 1 else ''}, {c.tasks} competing task{'s' if c.tasks != 1 else ''}, "
        f"{c.runs} KVM_RUN call{'s' if c.runs > 1 else ''}, {c.exits} exit{'s' if c.exits > 1 else ''} per call"
    )


def counterexample_run(policy: ResolvedPolicy, ex: Exploration, ce: Counterexample) -> Run:
    return run_events(policy, ex.config, ce.path)


def verdict_word(ex: Exploration, properties: tuple[str, ...]) -> str:
    broken = [p for p in properties if not ex.holds(p)]
    if ex.truncated and not broken:
        return "INCOMPLETE"
    return "VIOLATED" if broken else "CLEAN"


def property_status(ex: Exploration, prop: str) -> str:
    """holds, VIOLATED, or unknown: an incomplete search proves nothing."""
    if not ex.holds(prop):
        return "VIOLATED"
    return "unknown" if ex.truncated else "holds"


def stop_reason(ex: Exploration) -> str:
    if ex.interrupted:
        return " (INTERRUPTED by Ctrl-C: a partial search)"
    if ex.truncated:
        return " (TRUNCATED at --max-states: raise it, or keep --forget-dead on)"
    return ""


def render_exploration(
    policy: ResolvedPolicy, ex: Exploration, properties: tuple[str, ...], full_state: bool = False
) -> str:
    out = [
        f"policy {policy.name} ({policy.path}), kernel model {policy.kernel}",
        f"bound: {bound_text(ex.config)}",
        f"explored {ex.states} states, {ex.transitions} transitions, depth {ex.max_depth}, {ex.seconds:.2f}s"
        + (" (dead values forgotten)" if ex.config.dead_values else " (every state kept: --exact)")
        + stop_reason(ex),
    ]
    for prop in properties:
        status = property_status(ex, prop)
        out.append(f"  {prop:<15} {status:<8}  (violated when {PROPERTY_WORDS[prop]})")
    if ex.truncated and not any(not ex.holds(p) for p in properties):
        out.append("  (unknown: no violation in the states explored, but the bound was not explored to the end)")
    printed: dict[tuple, str] = {}
    number = 0
    for prop in properties:
        for ce in ex.for_property(prop):
            number += 1
            victim = f" [{owner_name(ce.violation.subject)}]" if ce.violation.subject else ""
            out.append("")
            out.append(f"counterexample {number}, {prop}{victim} ({len(ce.path)} steps): {ce.violation.message}")
            out.append(f"  at {origin_text(ce.violation.origin)}")
            key = tuple(label(e) for e in ce.path)
            if key in printed:
                out.append(f"  (the same steps as {printed[key]} above)")
                continue
            printed[key] = f"counterexample {number}"
            out.append(render_run(counterexample_run(policy, ex, ce), full_state=full_state))
    out.append("")
    out.append(f"verdict: {verdict_word(ex, properties)}")
    return "\n".join(out)


def exploration_json(policy: ResolvedPolicy, ex: Exploration, properties: tuple[str, ...]) -> dict:
    result = {
        "policy": policy.name,
        "file": policy.path,
        "kernel": policy.kernel,
        "bound": {"cpus": ex.config.cpus, "tasks": ex.config.tasks, "runs": ex.config.runs, "exits": ex.config.exits},
        "dead_values_forgotten": ex.config.dead_values,
        "states": ex.states,
        "transitions": ex.transitions,
        "depth": ex.max_depth,
        "truncated": ex.truncated,
        "interrupted": ex.interrupted,
        "verdict": verdict_word(ex, properties),
        "properties": {},
    }
    for prop in properties:
        entry: dict = {"holds": ex.holds(prop), "status": property_status(ex, prop), "counterexamples": []}
        for ce in ex.for_property(prop):
            entry["counterexamples"].append(
                {
                    "victim": ce.violation.subject,
                    "message": ce.violation.message,
                    "origin": origin_text(ce.violation.origin),
                    "trace": run_json(counterexample_run(policy, ex, ce))["steps"],
                }
            )
        result["properties"][prop] = entry
    return result


def counterexample_scenario(policy: ResolvedPolicy, ex: Exploration, ce: Counterexample) -> str:
    """The counterexample as a scenario file: `--scenario FILE` replays it."""
    c = ex.config
    bounds = {"cpus": c.cpus, "tasks": c.tasks, "runs": c.runs, "exits": c.exits, "guest_sve": c.guest_sve}
    steps: list[tuple[str, str | None]] = [(label(e), None) for e in ce.path]
    steps[-1] = (steps[-1][0], f"{ce.prop}")
    text = scenario_text(f"{policy.name}_{ce.prop.replace('-', '_')}", f"{policy.name}: {ce.prop}", bounds, steps)
    return f"# the shortest counterexample for {ce.prop} found by fpdsl simulate {policy.path}\n" + text


def path_labels(ce: Counterexample) -> list[str]:
    return [label(e) for e in ce.path]


ALL_PROPERTIES = PROPERTIES
