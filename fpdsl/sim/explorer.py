"""Breadth-first exploration of every interleaving of the environment's
events up to a bound. States are stored canonically (stale versions
collapsed, CPUs and competing tasks reduced by symmetry); the first time a
property fails, BFS order makes that path a shortest counterexample."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

from fpdsl.model.canon import Forget
from fpdsl.model.machine import Hooks, ModelConfig
from fpdsl.model.records import PROPERTIES, Violation, count_ops
from fpdsl.model.runloop import Event, initial_world, step, successors
from fpdsl.model.state import World

CORRUPTING = frozenset({"lost-state", "leaked-state"})


@dataclass
class Counterexample:
    prop: str
    violation: Violation
    path: list[Event]  # events from the initial state; the last one violates


@dataclass(frozen=True)
class Progress:
    """How far an exploration has got, for a progress line."""

    states: int
    transitions: int
    depth: int
    frontier: int  # states of the current level still to expand, plus those found for the next
    seconds: float


# Transitions between two progress reports inside one BFS level (a deep
# bound's level can take minutes).
PROGRESS_EVERY = 1 << 14


@dataclass
class Exploration:
    config: ModelConfig
    states: int = 0
    transitions: int = 0
    max_depth: int = 0
    seconds: float = 0.0
    peak_bytes: int = 0
    truncated: bool = False  # stopped before the bound was explored (max states, max depth, Ctrl-C)
    interrupted: bool = False  # stopped by Ctrl-C: what was explored so far is reported
    # shortest counterexample per (property, victim context)
    counterexamples: dict[tuple[str, str], Counterexample] = field(default_factory=dict)
    # state graph, for the cost analysis: key -> list of (event, child key, counts)
    graph: dict | None = None
    initial_key: tuple | None = None

    def holds(self, prop: str) -> bool:
        return not any(k[0] == prop for k in self.counterexamples)

    def for_property(self, prop: str) -> list[Counterexample]:
        """Shortest counterexamples for `prop`, one per victim, shortest first."""
        found = [ce for k, ce in self.counterexamples.items() if k[0] == prop]
        return sorted(found, key=lambda ce: (len(ce.path), ce.violation.subject))

    @property
    def clean(self) -> bool:
        return not self.counterexamples


def explore(
    hooks: Hooks,
    config: ModelConfig,
    flags: tuple[bool, ...],
    properties: tuple[str, ...] = PROPERTIES,
    max_states: int = 2_000_000,
    max_depth: int | None = None,
    keep_graph: bool = False,
    progress: Callable[[Progress], None] | None = None,
    measure_memory: bool = False,
    interruptible: bool = False,
) -> Exploration:
    """Explore up to the bound. `interruptible`: Ctrl-C ends the search and
    the partial result is returned (marked interrupted) instead of raising."""
    started = time.perf_counter()
    if measure_memory:
        tracemalloc.start()
    result = Exploration(config)
    init = initial_world(config, flags)
    forget = dead_value_rules(hooks, config.kernel) if config.dead_values else None
    init_key = init.key(config.symmetry, forget)
    # parent[key] = (parent key, event) ; None for the initial state
    parent: dict[tuple, tuple | None] = {init_key: None}
    graph: dict | None = {} if keep_graph else None
    frontier: list[tuple[tuple, World]] = [(init_key, init)]
    depth = 0
    wanted = set(properties)
    try:
        while frontier:
            if max_depth is not None and depth >= max_depth:
                result.truncated = True
                break
            nxt: list[tuple[tuple, World]] = []
            for done, (key, world) in enumerate(frontier):
                edges = [] if graph is not None else None
                for event in successors(world, config):
                    res = step(world, event, config, hooks, record=keep_graph)
                    result.transitions += 1
                    child = res.world.key(config.symmetry, forget)
                    violated = corrupt = False
                    for v in res.violations:
                        if v.prop in wanted:
                            violated = True
                            corrupt = corrupt or v.prop in CORRUPTING
                            if (v.prop, v.subject) not in result.counterexamples:
                                path = _path(parent, key) + [event]
                                result.counterexamples[(v.prop, v.subject)] = Counterexample(v.prop, v, path)
                    if edges is not None:
                        edges.append((event, child, count_ops(res.ops), violated))
                    # A state whose values are already lost or leaked is an error
                    # state: not explored further (other rules do not corrupt values).
                    if not corrupt and child not in parent:
                        parent[child] = (key, event)
                        nxt.append((child, res.world))
                    if progress and result.transitions % PROGRESS_EVERY == 0:
                        left = len(frontier) - done + len(nxt)
                        progress(Progress(len(parent), result.transitions, depth, left, time.perf_counter() - started))
                if graph is not None:
                    graph[key] = edges
            depth += 1
            if nxt:
                result.max_depth = depth
            frontier = nxt
            if progress:
                progress(Progress(len(parent), result.transitions, depth, len(frontier), time.perf_counter() - started))
            if len(parent) > max_states:
                result.truncated = True
                break
    except KeyboardInterrupt:
        # Like TLC: Ctrl-C ends the search, and what it found is still reported.
        if not interruptible:
            raise
        result.truncated = result.interrupted = True
    result.states = len(parent)
    result.seconds = time.perf_counter() - started
    if measure_memory:
        result.peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    result.graph = graph
    result.initial_key = init_key
    return result


def dead_value_rules(hooks: Hooks, kernel: str = "v4.16") -> Forget:
    """The Forget rules that hold for these hooks: each rule names what the
    policy must not do. Hooks that do not list the primitives they call get
    only the policy-independent rule, and so do the 6.x models: their SVE
    state is live without TIF_SVE (EL0 SVE enabled by ZEN), so the SVE rules'
    arguments do not hold there."""
    called = getattr(hooks, "primitives", None)
    if kernel in ("v6.12", "v6.12.0"):
        prepares = called is None or ("fpsimd_kvm_prepare", None) in called
        return Forget(last_cpu=True, to_save=True, fpsimd_typed_sve_state=True, vcpu_thread_sve_v=not prepares)
    if kernel not in ("v4.16", "v4.18"):
        return Forget(last_cpu=True, to_save=True)
    if called is None:
        return Forget(last_cpu=True)
    sets_sve = ("set_thread_flag", "TIF_SVE") in called
    makes_live = bool({("clear_thread_flag", "TIF_FOREIGN_FPSTATE"), ("fpsimd_bind_state_to_cpu", "task")} & called)
    return Forget(
        task_sve_bits=not sets_sve,
        cpu_sve_bits=not sets_sve and not makes_live,
        bound_sve=not any(name == "sve_flush_cpu_state" for name, _arg in called),
        last_cpu=True,
    )


def _path(parent: dict, key: tuple) -> list[Event]:
    events: list[Event] = []
    while parent[key] is not None:
        key, event = parent[key]
        events.append(event)
    events.reverse()
    return events


def replay_path(
    hooks: Hooks, config: ModelConfig, flags: tuple[bool, ...], path: list[Event]
) -> list[tuple[Event, World, object]]:
    """Re-run a path concretely (real versions, full records)."""
    world = initial_world(config, flags)
    out = []
    for event in path:
        res = step(world, event, config, hooks)
        out.append((event, res.world, res))
        world = res.world
    return out
