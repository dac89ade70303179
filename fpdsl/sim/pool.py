"""Several policies explored at once, each in a worker process of its own,
with the results in the order given, as a sequential run gives them.

Ctrl-C reaches the whole process group, as from a terminal. A worker that
is exploring ends its search and returns what it explored (interrupted, as
a sequential run's exploration does); a worker that has not started one
starts none. The workers' explorations fork no level helpers of their own:
the pool already has the cores."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Sequence

from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.model.machine import ModelConfig
from fpdsl.sim.explorer import Exploration, explore
from fpdsl.sim.interpreter import PolicyHooks

_stopping = None  # the pool's Event: set once Ctrl-C is seen
_exploring = False


def _on_ctrl_c(signum: int, frame: object) -> None:
    if _exploring:
        raise KeyboardInterrupt


def _worker_init(stopping) -> None:
    global _stopping
    _stopping = stopping
    signal.signal(signal.SIGINT, _on_ctrl_c)


def _explore_one(policy: ResolvedPolicy, bound: dict, properties: tuple[str, ...], max_states: int):
    global _exploring
    if _stopping is not None and _stopping.is_set():
        return None
    config = ModelConfig(kernel=policy.kernel, **bound)
    _exploring = True
    try:
        return explore(
            PolicyHooks(policy),
            config,
            policy.initial_flags(),
            properties,
            max_states=max_states,
            interruptible=True,
            workers=1,
        )
    except KeyboardInterrupt:  # between the flag and explore()'s own handler
        return None
    finally:
        _exploring = False


def explore_in_pool(
    policies: Sequence[ResolvedPolicy], bound: dict, properties: tuple[str, ...], max_states: int, jobs: int
) -> tuple[list[Exploration | None], bool]:
    """Each policy's exploration (None: never run, Ctrl-C came first), and
    whether Ctrl-C stopped the pool."""
    context = multiprocessing.get_context("fork")
    stopping = context.Event()
    pool = context.Pool(max(1, min(jobs, len(policies))), _worker_init, (stopping,))
    jobs_of = [pool.apply_async(_explore_one, (p, bound, properties, max_states)) for p in policies]
    results: list[Exploration | None] = []
    interrupted = False
    try:
        for job in jobs_of:
            while True:
                try:
                    results.append(job.get())
                    break
                except KeyboardInterrupt:
                    # Once: the running searches end and report; the rest never start.
                    interrupted = True
                    stopping.set()
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return results, interrupted or any(r is None or r.interrupted for r in results)
