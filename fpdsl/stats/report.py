"""Cost tables (rich and Markdown): one row per metric, its label and its
id (the --metric name and JSON key) side by side."""

from __future__ import annotations

from fpdsl.stats.chain import COST_METRICS, CostResult
from fpdsl.stats.profile import Profile
from fpdsl.stats.vocabulary import METRIC

METRIC_WORDS = {m: METRIC[m].label for m in COST_METRICS}
SHOWN = [m for m in COST_METRICS if m != "kvm_runs"]
# Rows where smaller is better; the others describe the workload.
COSTS = {m for m in SHOWN if METRIC[m].cost}
_INDENTED = {"kvm_host_saves"}  # a part of the row above


def cell(result: CostResult, metric: str) -> str:
    value = result.per_run[metric]
    if result.half_width is not None:
        return f"{value:.3f} ± {result.half_width[metric]:.3f}"
    return f"{value:.3f}"


def interval_words(results: list[CostResult]) -> str | None:
    """What ± means in these results ('99% CI'), or None if exact."""
    levels = sorted({r.confidence for r in results if r.half_width is not None and r.confidence is not None})
    if not levels:
        return None
    return "/".join(f"{100 * c:g}%" for c in levels) + " CI"


def header(results: list[CostResult]) -> str:
    ci = interval_words(results)
    return f"per KVM_RUN (mean ± {ci})" if ci else "per KVM_RUN"


def interval_note(results: list[CostResult]) -> str | None:
    """A sentence saying what the ± is, for Monte Carlo results."""
    sampled = [r for r in results if r.half_width is not None]
    if not sampled:
        return None
    r = sampled[0]
    return (
        f"± is the half-width of a {interval_words(sampled)} (two-sided, delta method over "
        f"{r.walkers} independent walkers, {r.samples} guest exits sampled per policy)"
    )


_SVE_ONLY = ("guest.sve", "vmm.sve")


def workload_line(profile: Profile) -> str:
    """The profile's parameters by id, as one line."""
    values = profile.parameters()
    parts = []
    for ident, value in values.items():
        if ident == "guest.fp_per_interval" or (ident in _SVE_ONLY and not value):
            continue  # the SVE parameters are shown when a profile uses them
        text = f"{ident} = {value:.6g}"
        if ident == "guest.fp" and "guest.fp_per_interval" in values:
            text += f" (from guest.fp_per_interval = {values['guest.fp_per_interval']:.6g})"
        parts.append(text)
    return f"workload {profile.name}: " + ", ".join(parts)


def _rows(results: list[CostResult], verdicts: dict[str, str] | None, highlight):
    """(label, metric id, cells) per table row; the best value among clean
    policies is passed through `highlight`."""
    if verdicts:
        yield "verdict", "", [verdicts.get(r.policy, "?") for r in results]
    clean = [r for r in results if not verdicts or verdicts.get(r.policy) == "CLEAN"]
    for metric in SHOWN:
        best = min(r.per_run[metric] for r in clean) if metric in COSTS and len(results) > 1 and clean else None
        cells = []
        for r in results:
            text = cell(r, metric)
            if best is not None and r in clean and abs(r.per_run[metric] - best) < 1e-9:
                text = highlight(text)
            cells.append(text)
        yield METRIC_WORDS[metric], metric, cells


def cost_table(
    results: list[CostResult],
    verdicts: dict[str, str] | None = None,
    title: str = "",
    profile: Profile | None = None,
):
    """A rich table; its caption gives the workload's parameters and what
    the ± of Monte Carlo results is."""
    from rich.table import Table

    notes = [n for n in (workload_line(profile) if profile else None, interval_note(results)) if n]
    table = Table(title=title, caption="\n".join(notes) or None, caption_justify="left")
    table.add_column(header(results), no_wrap=True)
    table.add_column("metric", no_wrap=True)
    for r in results:
        table.add_column(r.policy, justify="right", no_wrap=True)
    for label, metric, cells in _rows(results, verdicts, lambda t: f"[bold green]{t}[/]"):
        if label == "verdict":  # one broken property a line
            cells = [c.replace(" (", "\n(").replace(", ", ",\n") for c in cells]
        table.add_row(("  " if metric in _INDENTED else "") + label, metric, *cells)
    return table


def table_width(table) -> int:
    """The console width a rich table needs with every cell whole (at
    least 120)."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(width=10_000)
    return max(120, Measurement.get(console, console.options, table).maximum)


def markdown_table(results: list[CostResult], verdicts: dict[str, str] | None = None) -> str:
    """The same table as Markdown (for the README and mails); best clean value in bold."""
    lines = [
        f"| {header(results)} | metric | " + " | ".join(r.policy for r in results) + " |",
        "|---|---|" + "---:|" * len(results),
    ]
    for label, metric, cells in _rows(results, verdicts, lambda t: f"**{t}**"):
        ident = f"`{metric}`" if metric else ""
        lines.append(f"| {label} | {ident} | " + " | ".join(cells) + " |")
    note = interval_note(results)
    return "\n".join(lines) + "\n" + (f"\n{note}\n" if note else "")
