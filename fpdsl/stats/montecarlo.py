"""Monte Carlo over the same model: independent walkers advance in lockstep
(numpy), expanding the chain's states only when first visited, so profiles
whose chains are too large to solve can still be costed. The estimate per
KVM_RUN is a ratio (costs over KVM_RUN calls) with a delta-method
confidence interval across walkers: the walkers are independent chains, so
their per-walker totals are i.i.d., and the ratio estimate is
asymptotically normal with the variance of the residuals total_i - R runs_i
over (W (W - 1) mean(runs)^2). The half-width is z times that standard
error, z the two-sided normal quantile of `confidence` (2.576 for 99%)."""

from __future__ import annotations

import time
from statistics import NormalDist

import numpy as np

from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.stats.chain import _INDEX, COST_METRICS, Chain, CostResult
from fpdsl.stats.profile import Profile

_MAX_FANOUT = 4


class _Tables:
    """The chain's expanded part as padded arrays (cumulative probabilities,
    children, costs), grown as walkers reach new states."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.capacity = 0
        self.cum = np.zeros((0, _MAX_FANOUT))
        self.child = np.zeros((0, _MAX_FANOUT), dtype=np.int64)
        self.cost = np.zeros((0, _MAX_FANOUT, len(COST_METRICS)))
        self.ready = np.zeros(0, dtype=bool)

    def _grow(self, n: int) -> None:
        if n <= self.capacity:
            return
        new = max(n, 2 * self.capacity, 256)
        self.cum = np.vstack([self.cum, np.ones((new - self.capacity, _MAX_FANOUT))])
        self.child = np.vstack([self.child, np.zeros((new - self.capacity, _MAX_FANOUT), dtype=np.int64)])
        self.cost = np.concatenate([self.cost, np.zeros((new - self.capacity, _MAX_FANOUT, len(COST_METRICS)))])
        self.ready = np.concatenate([self.ready, np.zeros(new - self.capacity, dtype=bool)])
        self.capacity = new

    def ensure(self, states: np.ndarray) -> None:
        todo = np.unique(states[~self.ready[states]]) if len(self.ready) > states.max() else np.unique(states)
        for s in todo.tolist():
            edges = self.chain.expand(s)
            if len(edges) > _MAX_FANOUT:
                raise RuntimeError("workload macro-step fan-out exceeds the table width")
            self._grow(len(self.chain.worlds))
            acc = 0.0
            for k, (prob, child, costs) in enumerate(edges):
                acc += prob
                self.cum[s, k] = acc
                self.child[s, k] = child
                self.cost[s, k] = costs
            self.cum[s, len(edges) - 1 :] = 1.0
            for k in range(len(edges), _MAX_FANOUT):
                self.child[s, k] = self.child[s, len(edges) - 1]
                self.cost[s, k] = 0.0
            self.ready[s] = True
        self._grow(len(self.chain.worlds))


def sampled_costs(
    policy: ResolvedPolicy,
    profile: Profile,
    samples: int = 1_000_000,
    walkers: int = 200,
    seed: int = 1,
    burn_in_steps: int = 2_000,
    confidence: float = 0.99,
    *,
    exits: int | None = None,
) -> CostResult:
    """Estimate costs per KVM_RUN from about `samples` sampled guest exits
    (all walkers together; `exits` is the old name), with half-widths of a
    two-sided `confidence` interval."""
    if exits is not None:
        samples = exits
    z = z_value(confidence)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    tables = _Tables(Chain(policy, profile))
    where = np.zeros(walkers, dtype=np.int64)
    totals = np.zeros((walkers, len(COST_METRICS)))
    exit_col = _INDEX["exits"]
    steps = 0
    while True:
        tables.ensure(where)
        u = rng.random(walkers)
        k = (u[:, None] > tables.cum[where]).sum(axis=1)
        k = np.minimum(k, _MAX_FANOUT - 1)
        if steps >= burn_in_steps:
            totals += tables.cost[where, k]
        where = tables.child[where, k]
        steps += 1
        if steps > burn_in_steps and totals[:, exit_col].sum() >= samples:
            break
    runs = totals[:, _INDEX["kvm_runs"]]
    mean_runs = runs.mean()
    per_run, half = {}, {}
    for i, m in enumerate(COST_METRICS):
        est = totals[:, i].sum() / runs.sum()
        resid = totals[:, i] - est * runs
        se = np.sqrt((resid**2).sum() / (walkers * (walkers - 1))) / mean_runs
        per_run[m], half[m] = float(est), float(z * se)
    return CostResult(
        policy.name,
        profile.name,
        "monte-carlo",
        per_run,
        half,
        len(tables.chain.worlds),
        time.perf_counter() - started,
        confidence=confidence,
        samples=int(totals[:, exit_col].sum()),
        walkers=walkers,
    )


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile: 2.576 for 0.99."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)
