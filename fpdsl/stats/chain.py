"""The policy under a workload as a Markov chain over model states (the
explorer's state, plus the redundancy tracker), built lazily; and its exact
long-run costs per KVM_RUN from the stationary distribution."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.model.records import METRICS, count_ops
from fpdsl.model.runloop import initial_world, step, successors
from fpdsl.sim.interpreter import PolicyHooks
from fpdsl.stats import tracker as trk
from fpdsl.stats.profile import Profile
from fpdsl.stats.workload import macro_steps, profile_fits, workload_config

# The metrics per KVM_RUN, by their ids (fpdsl.stats.vocabulary), in the
# order of the cost vectors: the model's counters, then redundancy.
COST_METRICS = METRICS + ("redundant_saves", "redundant_restores")
_INDEX = {m: i for i, m in enumerate(COST_METRICS)}


@dataclass
class Chain:
    """States are numbered as found; each expanded state has its outgoing
    transitions (probability, child, cost vector)."""

    policy: ResolvedPolicy
    profile: Profile
    worlds: list = field(default_factory=list)
    trackers: list = field(default_factory=list)
    index: dict = field(default_factory=dict)
    edges: dict[int, list[tuple[float, int, np.ndarray]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = profile_fits(self.profile, self.policy.kernel)
        if problem:
            raise FpdslError(Diagnostic(f"{self.policy.name}: {problem}"))
        self.config = workload_config(self.policy.kernel, guest_sve=bool(self.profile.guest_sve))
        self.hooks = PolicyHooks(self.policy)
        self._add(initial_world(self.config, self.policy.initial_flags()), trk.EMPTY)

    def _add(self, world, tracker) -> int:
        key = (world.key(False), tracker)
        found = self.index.get(key)
        if found is None:
            found = len(self.worlds)
            self.index[key] = found
            self.worlds.append(world)
            self.trackers.append(tracker)
        return found

    def expand(self, state: int) -> list[tuple[float, int, np.ndarray]]:
        got = self.edges.get(state)
        if got is not None:
            return got
        world, tracker = self.worlds[state], self.trackers[state]
        out = []
        for macro, prob in macro_steps(world, successors(world, self.config), self.profile):
            w, ops = world, []
            for event in macro:
                if event not in successors(w, self.config):
                    break
                res = step(w, event, self.config, self.hooks)
                w, ops = res.world, ops + res.ops
            new_tracker, red_saves, red_restores = trk.feed(tracker, ops)
            counts = count_ops(ops)
            costs = np.array([counts.get(m, 0) for m in METRICS] + [red_saves, red_restores], dtype=float)
            out.append((prob, self._add(w, new_tracker), costs))
        self.edges[state] = out
        return out

    def build(self, max_states: int = 500_000) -> None:
        frontier = [0]
        while frontier:
            nxt = []
            for state in frontier:
                for _p, child, _c in self.expand(state):
                    if child not in self.edges and child not in nxt:
                        nxt.append(child)
            frontier = [s for s in dict.fromkeys(nxt) if s not in self.edges]
            if len(self.worlds) > max_states:
                raise RuntimeError(f"chain larger than {max_states} states: use Monte Carlo")


@dataclass
class CostResult:
    policy: str
    profile: str
    method: str
    per_run: dict[str, float]
    half_width: dict[str, float] | None = None  # confidence half-widths (Monte Carlo)
    states: int = 0
    seconds: float = 0.0
    confidence: float | None = None  # the half-widths' confidence level (Monte Carlo)
    samples: int = 0  # guest exits sampled (Monte Carlo)
    walkers: int = 0


def exact_costs(policy: ResolvedPolicy, profile: Profile) -> CostResult:
    """Expected costs per KVM_RUN: long-run cost rate over the rate of KVM_RUN
    calls, from the chain's stationary distribution."""
    started = time.perf_counter()
    chain = Chain(policy, profile)
    chain.build()
    n = len(chain.worlds)
    rows, cols, vals = [], [], []
    expected_step = np.zeros((n, len(COST_METRICS)))
    for s in range(n):
        for prob, child, costs in chain.edges[s]:
            rows.append(s)
            cols.append(child)
            vals.append(prob)
            expected_step[s] += prob * costs
    transition = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    # pi (P - I) = 0 with sum(pi) = 1: replace one equation by the normalisation.
    system = (transition.T - sp.identity(n, format="csr")).tolil()
    system[0, :] = np.ones(n)
    rhs = np.zeros(n)
    rhs[0] = 1.0
    pi = spla.spsolve(system.tocsc(), rhs)
    rates = pi @ expected_step
    runs = rates[_INDEX["kvm_runs"]]
    per_run = {m: float(rates[i] / runs) for i, m in enumerate(COST_METRICS)}
    return CostResult(policy.name, profile.name, "exact", per_run, None, n, time.perf_counter() - started)
