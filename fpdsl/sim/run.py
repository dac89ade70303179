"""A recorded run: the concrete steps of a scenario replay or of a
counterexample path, with every operation, violation and the state after."""

from __future__ import annotations

from dataclasses import dataclass, field

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.model.machine import ModelConfig
from fpdsl.model.records import Op, Violation, count_ops
from fpdsl.model.runloop import Event, describe, initial_world, label, step, successors
from fpdsl.model.state import World
from fpdsl.sim.interpreter import PolicyHooks
from fpdsl.sim.redundancy import Verdict, analyse
from fpdsl.sim.scenario import Scenario, match_event


@dataclass
class RunStep:
    number: int
    event: Event
    ops: list[Op]
    violations: list[Violation]
    world: World
    mark: str | None = None

    @property
    def label(self) -> str:
        return label(self.event)

    @property
    def description(self) -> str:
        return describe(self.event)


@dataclass
class Run:
    policy: ResolvedPolicy
    config: ModelConfig
    initial: World
    steps: list[RunStep] = field(default_factory=list)
    verdicts: dict[tuple[int, int], Verdict] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        counts = count_ops([op for s in self.steps for op in s.ops])
        counts["redundant_saves"] = sum(1 for v in self.verdicts.values() if v.op.kind == "save" and v.redundant)
        counts["redundant_restores"] = sum(1 for v in self.verdicts.values() if v.op.kind == "restore" and v.redundant)
        return counts

    def redundant(self, kind: str) -> list[Verdict]:
        return [v for v in self.verdicts.values() if v.op.kind == kind and v.redundant]


def config_for(policy: ResolvedPolicy, **bounds: int) -> ModelConfig:
    if bounds.get("guest_sve") and not policy.kernel.startswith("v6"):
        raise FpdslError(
            Diagnostic(f"'guest sve': {policy.name} runs on the {policy.kernel} model, which has no SVE guests")
        )
    return ModelConfig(kernel=policy.kernel, **bounds)


def run_events(policy: ResolvedPolicy, config: ModelConfig, events: list[Event], marks=None) -> Run:
    hooks = PolicyHooks(policy)
    world = initial_world(config, policy.initial_flags())
    run = Run(policy, config, world)
    for number, event in enumerate(events, start=1):
        res = step(world, event, config, hooks)
        mark = marks[number - 1] if marks else None
        run.steps.append(RunStep(number, event, res.ops, res.violations, res.world, mark))
        world = res.world
    run.verdicts = analyse([s.ops for s in run.steps])
    return run


def replay_scenario(policy: ResolvedPolicy, scenario: Scenario) -> Run:
    """Replay a scenario's events; an event that is not possible is an error."""
    config = config_for(policy, **scenario.bounds)
    hooks = PolicyHooks(policy)
    world = initial_world(config, policy.initial_flags())
    events: list[Event] = []
    for s in scenario.steps:
        enabled = successors(world, config)
        event = match_event(s, enabled, scenario, _where(world))
        events.append(event)
        world = step(world, event, config, hooks).world
    return run_events(policy, config, events, [s.mark for s in scenario.steps])


def _where(world: World) -> str:
    parts = []
    for name, task in world.tasks.items():
        on = "not running" if task.cpu is None else f"on cpu{task.cpu}"
        parts.append(f"{name} is at {task.pc}, {on}")
    return "; ".join(parts)
