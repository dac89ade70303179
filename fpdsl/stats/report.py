"""Cost tables (rich) and the sweep plot (matplotlib)."""

from __future__ import annotations

from fpdsl.stats.chain import COST_METRICS, CostResult

METRIC_WORDS = {
    "kvm_runs": "KVM_RUN calls",
    "exits": "guest exits",
    "exits_to_user": "exits to user space",
    "preemptions": "preemptions",
    "host_saves": "host saves",
    "kvm_host_saves": "  of which by KVM",
    "host_restores": "host restores",
    "guest_saves": "guest saves",
    "guest_restores": "guest restores",
    "fp_traps": "FP traps",
    "softirq_neon": "softirq kernel-NEON uses",
    "softirq_fallbacks": "softirq fallbacks",
    "invalidations": "binding invalidations",
    "redundant_saves": "redundant saves",
    "redundant_restores": "redundant restores",
}

SHOWN = [m for m in COST_METRICS if m != "kvm_runs"]
# Rows where smaller is better; the others describe the workload.
COSTS = set(SHOWN) - {"exits", "exits_to_user", "preemptions", "softirq_neon"}


def cell(result: CostResult, metric: str) -> str:
    value = result.per_run[metric]
    if result.half_width is not None:
        return f"{value:.3f} ± {result.half_width[metric]:.3f}"
    return f"{value:.3f}"


def _rows(results: list[CostResult], verdicts: dict[str, str] | None, highlight):
    """(label, cells) per table row; the best value among clean policies is
    passed through `highlight`."""
    if verdicts:
        yield "verdict", [verdicts.get(r.policy, "?") for r in results]
    clean = [r for r in results if not verdicts or verdicts.get(r.policy) == "CLEAN"]
    for metric in SHOWN:
        best = min(r.per_run[metric] for r in clean) if metric in COSTS and len(results) > 1 and clean else None
        cells = []
        for r in results:
            text = cell(r, metric)
            if best is not None and r in clean and abs(r.per_run[metric] - best) < 1e-9:
                text = highlight(text)
            cells.append(text)
        yield METRIC_WORDS[metric], cells


def cost_table(results: list[CostResult], verdicts: dict[str, str] | None = None, title: str = ""):
    from rich.table import Table

    table = Table(title=title)
    table.add_column("per KVM_RUN")
    for r in results:
        table.add_column(r.policy, justify="right")
    for label, cells in _rows(results, verdicts, lambda t: f"[bold green]{t}[/]"):
        table.add_row(label, *cells)
    return table


def markdown_table(results: list[CostResult], verdicts: dict[str, str] | None = None) -> str:
    """The same table as Markdown (for the README and mails); best clean value in bold."""
    lines = ["| per KVM_RUN | " + " | ".join(r.policy for r in results) + " |", "|---|" + "---:|" * len(results)]
    for label, cells in _rows(results, verdicts, lambda t: f"**{t}**"):
        lines.append(f"| {label.strip()} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sweep_plot(series: dict[str, list[tuple[float, float]]], param: str, metric: str, title: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, points in series.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", markersize=3, label=name)
    lo, hi = (
        min(min(x for x, _ in pts) for pts in series.values()),
        max(max(x for x, _ in pts) for pts in series.values()),
    )
    if lo > 0 and hi / lo >= 20:
        ax.set_xscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel(f"{METRIC_WORDS[metric].strip()} per KVM_RUN")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    from fpdsl.fsutil import atomic_write

    atomic_write(path, buf.getvalue())
