"""One level of the explorer's breadth-first search, expanded in this
process or split between it and a forked helper (2 cores: the deep bound in
about half the time).

The split keeps the sequential order exactly: the level's states are cut
into two runs, each expanded in order; the helper's findings are merged
after this process's own, so every state gets the parent, and every
counterexample the path, that one process going through the level in order
gives. The helper filters its children against the states known when the
level began and sends back only the transitions that matter (new states,
first violations) with their keys, not its worlds: this process re-runs the
few steps whose children it keeps."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable
from dataclasses import dataclass

from fpdsl.model.canon import Forget
from fpdsl.model.machine import Hooks, ModelConfig
from fpdsl.model.records import Violation, count_ops
from fpdsl.model.runloop import Event, step, successors
from fpdsl.model.state import World

CORRUPTING = frozenset({"lost-state", "leaked-state"})

# A level smaller than this is not worth a fork.
SPLIT_AT = 4096
# This process's share of a split level.
MINE_PERCENT = 45
# Transitions between two progress reports inside one level (a deep bound's
# level can take minutes).
PROGRESS_EVERY = 1 << 14


@dataclass
class Found:
    """A transition worth reporting: to a state not seen before, or with a
    violation of a (property, victim) not yet recorded."""

    index: int  # of the parent in the level
    event: Event
    child: tuple
    violations: list[Violation]
    new: bool
    world: World | None  # the child, when expanded in this process


@dataclass
class Level:
    found: list[Found]
    transitions: int
    edges: dict | None  # key -> [(event, child key, op counts, violated)], when the graph is kept


def expand(
    frontier: list[tuple[tuple, World]],
    start: int,
    stop: int,
    config: ModelConfig,
    hooks: Hooks,
    forget: Forget | None,
    seen: dict | set,
    known: set,
    wanted: set,
    keep_graph: bool = False,
    tick: Callable[[int, int], None] | None = None,
) -> Level:
    """Expand frontier[start:stop] in order. `seen`: states known before;
    `known`: the (property, victim) pairs already with a counterexample."""
    found: list[Found] = []
    fresh: set = set()
    noted: set = set()
    transitions = 0
    edges: dict | None = {} if keep_graph else None
    for index in range(start, stop):
        key, world = frontier[index]
        out = [] if edges is not None else None
        for event in successors(world, config):
            res = step(world, event, config, hooks, record=keep_graph)
            transitions += 1
            child = res.world.key(config.symmetry, forget)
            violated = corrupt = False
            first: list[Violation] = []
            for v in res.violations:
                if v.prop in wanted:
                    violated = True
                    corrupt = corrupt or v.prop in CORRUPTING
                    pair = (v.prop, v.subject)
                    if pair not in known and pair not in noted:
                        noted.add(pair)
                        first.append(v)
            if out is not None:
                out.append((event, child, count_ops(res.ops), violated))
            # A state whose values are already lost or leaked is an error
            # state: not explored further (other rules do not corrupt values).
            new = not corrupt and child not in seen and child not in fresh
            if new:
                fresh.add(child)
            if new or first:
                found.append(Found(index, event, child, first, new, res.world))
            if tick is not None and transitions % PROGRESS_EVERY == 0:
                tick(transitions, stop - index)
        if edges is not None:
            edges[key] = out
    return Level(found, transitions, edges)


def expand_split(
    frontier: list[tuple[tuple, World]],
    config: ModelConfig,
    hooks: Hooks,
    forget: Forget | None,
    seen: dict,
    known: set,
    wanted: set,
    tick: Callable[[int, int], None] | None = None,
) -> tuple[Level, Level]:
    """The first part here, the rest in a forked helper: (first, second);
    the second's worlds are None. This process also merges the level and
    re-runs the steps to the helper's new states, so it takes less."""
    half = len(frontier) * MINE_PERCENT // 100
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    helper = context.Process(
        target=_helper, args=(writer, frontier, half, config, hooks, forget, seen, known, wanted), daemon=True
    )
    helper.start()
    writer.close()
    try:
        mine = expand(frontier, 0, half, config, hooks, forget, seen, known, wanted, tick=tick)
        theirs = pickle.loads(reader.recv_bytes())
    finally:
        reader.close()
        if helper.is_alive():
            helper.terminate()
        helper.join()
    return mine, theirs


def _helper(writer, frontier, start, config, hooks, forget, seen, known, wanted) -> None:
    # Ctrl-C is the parent's to handle: it stops this helper.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    level = expand(frontier, start, len(frontier), config, hooks, forget, seen, known, wanted)
    for f in level.found:
        f.world = None
    writer.send_bytes(pickle.dumps(level, protocol=pickle.HIGHEST_PROTOCOL))
    writer.close()
    os._exit(0)  # no atexit handlers or buffered output of the parent's


def can_split() -> bool:
    """Two cores and fork() (POSIX)."""
    return (os.cpu_count() or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods()
