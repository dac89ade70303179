"""Breadth-first exploration of every interleaving of the environment's
events up to a bound. States are stored canonically (stale versions
collapsed, CPUs and competing tasks reduced by symmetry); the first time a
property fails, BFS order makes that path a shortest counterexample."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

from fpdsl.model.canon import Forget
from fpdsl.model.machine import Hooks, ModelConfig
from fpdsl.model.records import PROPERTIES, Violation
from fpdsl.model.runloop import Event, initial_world, step
from fpdsl.model.state import World
from fpdsl.sim.levels import SPLIT_AT, can_split, expand, expand_split


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
    workers: int = 2,
) -> Exploration:
    """Explore up to the bound. `interruptible`: Ctrl-C ends the search and
    the partial result is returned (marked interrupted) instead of raising.
    `workers` 2: large levels are split with a forked helper
    (fpdsl.sim.levels), with the same result as 1."""
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
    split = workers > 1 and graph is None and not measure_memory and can_split()
    # The search makes millions of acyclic objects (worlds, keys) that live
    # until it ends: the cyclic collector would walk them again and again
    # for nothing (a seventh of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        while frontier:
            if max_depth is not None and depth >= max_depth:
                result.truncated = True
                break
            done = result.transitions
            states = len(parent)

            def tick(transitions: int, left: int, done: int = done, states: int = states, depth: int = depth) -> None:
                if progress:
                    elapsed = time.perf_counter() - started
                    progress(Progress(states, done + transitions, depth, left, elapsed))

            known = set(result.counterexamples)
            if split and len(frontier) >= SPLIT_AT:
                levels = expand_split(frontier, config, hooks, forget, parent, known, wanted, tick)
            else:
                keep = graph is not None
                one = expand(frontier, 0, len(frontier), config, hooks, forget, parent, known, wanted, keep, tick)
                levels = (one,)
                if graph is not None:
                    graph.update(one.edges)
            nxt: list[tuple[tuple, World]] = []
            for level in levels:
                result.transitions += level.transitions
                for f in level.found:
                    key, world = frontier[f.index]
                    for v in f.violations:
                        if (v.prop, v.subject) not in result.counterexamples:
                            path = _path(parent, key) + [f.event]
                            result.counterexamples[(v.prop, v.subject)] = Counterexample(v.prop, v, path)
                    if f.new and f.child not in parent:
                        parent[f.child] = (key, f.event)
                        child = f.world if f.world is not None else step(world, f.event, config, hooks, False).world
                        nxt.append((f.child, child))
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
    finally:
        if collecting:
            gc.enable()
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
    only the policy-independent rules, and so do the 6.x models: their SVE
    state is live without TIF_SVE (EL0 SVE enabled by ZEN), so the SVE rules'
    arguments do not hold there."""
    called = getattr(hooks, "primitives", None)
    unloaded = {
        "unloaded_flags": getattr(hooks, "written_first_by_load", ()),
        "unloaded_trap": getattr(hooks, "trap_set_before_guest", False),
    }
    if kernel in ("v6.12", "v6.12.0"):
        prepares = called is None or ("fpsimd_kvm_prepare", None) in called
        return Forget(
            last_cpu=True,
            to_save=True,
            fpsimd_typed_sve_state=True,
            vcpu_thread_sve_v=not prepares,
            prepare_needs_tif_sve=called is not None and ("set_thread_flag", "TIF_SVE") not in called,
            sve_typed_fpsimd_state=called is not None and ("fpsimd_load_state", "task") not in called,
            task_kernel_state=True,
            **unloaded,
        )
    if kernel not in ("v4.16", "v4.18"):
        return Forget(last_cpu=True, to_save=True, **unloaded)
    if called is None:
        return Forget(last_cpu=True, **unloaded)
    sets_sve = ("set_thread_flag", "TIF_SVE") in called
    makes_live = bool({("clear_thread_flag", "TIF_FOREIGN_FPSTATE"), ("fpsimd_bind_state_to_cpu", "task")} & called)
    return Forget(
        task_sve_bits=not sets_sve,
        cpu_sve_bits=not sets_sve and not makes_live,
        bound_sve=not any(name == "sve_flush_cpu_state" for name, _arg in called),
        last_cpu=True,
        **unloaded,
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
