"""A cost against a swept profile parameter: parsing `--sweep`, the points
and their spacing, the results as CSV and JSON, and the plot."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fpdsl.diagnostics import UsageError
from fpdsl.stats.chain import COST_METRICS, CostResult
from fpdsl.stats.profile import Profile, profile_problem
from fpdsl.stats.vocabulary import METRIC, Parameter, resolve_parameter

MAX_SWEEP_POINTS = 200
SPACINGS = ("auto", "linear", "log")
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
ZERO = 1e-9  # values below this are zero on the plot's axis (the exact solver's noise)


@dataclass(frozen=True)
class SweepSpec:
    param: Parameter
    given: str  # the name as the user spelled it
    start: float
    stop: float
    count: int
    spacing: str  # "linear" or "log"
    reason: str  # why that spacing
    values: tuple[float, ...]

    def describe(self) -> str:
        return (
            f"sweep: {self.param.id} ({self.param.unit}) from {self.start:g} to {self.stop:g}, "
            f"{self.count} {self.spacing}-spaced points ({self.reason})"
        )


def parse_sweep(text: str, spacing: str = "auto") -> tuple[SweepSpec, str | None]:
    """`PARAM=START:STOP:COUNT` and the spacing asked for; with a note to
    print when PARAM is an old spelling."""
    try:
        name, rng = text.split("=", 1)
        a, b, n = rng.split(":")
        lo, hi, count = float(a), float(b), int(n)
        if not (math.isfinite(lo) and math.isfinite(hi)) or not 1 <= count <= MAX_SWEEP_POINTS:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"--sweep {text!r}: expected PARAM=START:STOP:COUNT with finite START and STOP and "
            f"1 <= COUNT <= {MAX_SWEEP_POINTS}, e.g. exit.to_user=0.001:0.3:12"
        ) from None
    param, note = resolve_parameter(name)
    if spacing not in SPACINGS:
        raise UsageError(f"--spacing: expected one of {', '.join(SPACINGS)}, got {spacing!r}")
    positive = lo > 0 and hi > 0
    if spacing == "log":
        if not positive:
            raise UsageError(f"--sweep {text!r}: --spacing log needs START and STOP above 0")
        chosen, reason = "log", "--spacing log"
    elif spacing == "linear":
        chosen, reason = "linear", "--spacing linear"
    elif positive and max(lo, hi) / min(lo, hi) > 10:
        chosen, reason = "log", "auto: STOP/START exceeds 10; --spacing linear for even steps"
    else:
        why = "START or STOP is 0 or less" if not positive else "the range spans less than a decade"
        chosen, reason = "linear", f"auto: {why}; --spacing log for even ratios"
    values = np.geomspace(lo, hi, count) if chosen == "log" else np.linspace(lo, hi, count)
    return SweepSpec(param, name, lo, hi, count, chosen, reason, tuple(float(v) for v in values)), note


def sweep_points(profile: Profile, spec: SweepSpec) -> list[Profile]:
    """The profile at every point of the sweep; a UsageError at the first
    point that is not a valid workload."""
    points = []
    for v in spec.values:
        point = profile.with_param(spec.param.id, v)
        problem = profile_problem(point)
        if problem:
            raise UsageError(f"--sweep: at {spec.given}={v:g} the profile {profile.name} is invalid: {problem}")
        points.append(point)
    return points


@dataclass
class Sweep:
    spec: SweepSpec
    profile: Profile
    metric: str
    method: str
    verdicts: dict[str, str]
    results: dict[str, list[CostResult]] = field(default_factory=dict)  # policy -> one per point


def run_sweep(
    names: list[str],
    profile: Profile,
    spec: SweepSpec,
    metric: str,
    method: str,
    verdicts: dict[str, str],
    costs: Callable[[int, Profile], CostResult],
) -> Sweep:
    """Every policy (by index into `names`) at every point."""
    points = sweep_points(profile, spec)
    sweep = Sweep(spec, profile, metric, method, verdicts)
    for i, name in enumerate(names):
        sweep.results[name] = [costs(i, point) for point in points]
    return sweep


def sweep_csv(sweep: Sweep) -> str:
    """One row per policy and point: policy, verdict, the parameter, every
    metric per KVM_RUN (and its 99% half-width for Monte Carlo), to 12
    significant digits."""
    sampled = any(r.half_width is not None for rs in sweep.results.values() for r in rs)
    head = ["policy", "verdict", sweep.spec.param.id, *COST_METRICS]
    if sampled:
        head += [f"ci99_half_width.{m}" for m in COST_METRICS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for name, results in sweep.results.items():
        for x, r in zip(sweep.spec.values, results, strict=True):
            row = [name, sweep.verdicts.get(name, ""), _num(x), *(_num(r.per_run[m]) for m in COST_METRICS)]
            if sampled:
                row += [_num(r.half_width[m]) if r.half_width else "" for m in COST_METRICS]
            writer.writerow(row)
    return out.getvalue()


def _num(value: float) -> str:
    return format(value, ".12g")  # 12 significant digits: no solver noise in the file


def sweep_json(sweep: Sweep) -> dict:
    spec = sweep.spec
    policies = []
    for name, results in sweep.results.items():
        points = []
        for x, r in zip(spec.values, results, strict=True):
            point = {spec.param.id: x, "per_kvm_run": r.per_run}
            if r.half_width is not None:
                point["ci99_half_width"] = r.half_width
            points.append(point)
        policies.append({"policy": name, "verdict": sweep.verdicts.get(name), "points": points})
    return {
        "sweep": {
            "parameter": spec.param.id,
            "unit": spec.param.unit,
            "start": spec.start,
            "stop": spec.stop,
            "count": spec.count,
            "spacing": spec.spacing,
            "spacing_reason": spec.reason,
            "values": list(spec.values),
        },
        "profile": sweep.profile.name,
        "workload": sweep.profile.parameters(),
        "method": sweep.method,
        "metric": sweep.metric,
        "policies": policies,
    }


def y_scale(values: list[float]) -> tuple[str, dict]:
    """linear, or log when the positive values span a decade or more
    (symlog, linear near 0, if some values are 0)."""
    positive = [v for v in values if v >= ZERO]
    if not positive or max(positive) / min(positive) < 10:
        return "linear", {}
    if len(positive) < len(values):
        return "symlog", {"linthresh": 10 ** math.floor(math.log10(min(positive)))}
    return "log", {}


def legend_label(name: str, verdict: str | None) -> str:
    return name if verdict in (None, "CLEAN") else f"{name}: {verdict}"


def sweep_figure(sweep: Sweep):
    """The plot as a matplotlib Figure (no pyplot state): one line per
    policy with its own marker and dash pattern, violated policies named so
    in the legend, error bars for Monte Carlo."""
    from matplotlib.figure import Figure

    spec, label = sweep.spec, METRIC[sweep.metric].label
    fig = Figure(figsize=(7.5, 4.6), dpi=110)
    ax = fig.subplots()
    ys_all: list[float] = []
    for i, (name, results) in enumerate(sweep.results.items()):
        ys = [r.per_run[sweep.metric] for r in results]
        ys_all += ys
        style = {
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "markersize": 4,
            "linewidth": 1.3,
            "label": legend_label(name, sweep.verdicts.get(name)),
        }
        if any(r.half_width is not None for r in results):
            yerr = [r.half_width[sweep.metric] if r.half_width else 0.0 for r in results]
            ax.errorbar(spec.values, ys, yerr=yerr, capsize=2, **style)
        else:
            ax.plot(spec.values, ys, **style)
    if spec.spacing == "log":
        ax.set_xscale("log")
    scale, kwargs = y_scale(ys_all)
    ax.set_yscale(scale, **kwargs)
    ax.set_xlabel(
        f"{spec.param.id}: {spec.param.unit}\n"
        f"({spec.count} {spec.spacing}-spaced points from {spec.start:g} to {spec.stop:g})"
    )
    scale_words = {"log": ", log scale", "symlog": f", log scale above {kwargs.get('linthresh', 0):g}"}
    ax.set_ylabel(f"{label} per KVM_RUN ({sweep.metric}){scale_words.get(scale, '')}")
    ax.set_title(f"{label} per KVM_RUN against {spec.param.id} ({sweep.profile.name}, {sweep.method})", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, framealpha=0.85)
    fig.tight_layout()
    return fig


def write_plot(sweep: Sweep, path: str) -> None:
    from fpdsl.fsutil import atomic_write

    buf = io.BytesIO()
    sweep_figure(sweep).savefig(buf, format="png", metadata={"Software": None})
    atomic_write(path, buf.getvalue(), what="--plot")
