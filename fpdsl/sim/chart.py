"""Counterexamples as Graphviz message sequence charts, as SPIN draws them:
one lane per CPU, one row per step, each step in the lane of the CPU it
happens on, with the hook and policy lines that ran, the kernel's
operations, the state the step changed, and the violation in red. Every
distinct counterexample is its own cluster of one graph."""

from __future__ import annotations

from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.lang.vocabulary import HOOKS
from fpdsl.sim.explorer import Counterexample, Exploration
from fpdsl.sim.render import op_text, origin_text, state_fields
from fpdsl.sim.run import Run, RunStep, run_events


def _quote(text: str) -> str:
    """A Graphviz string body: policy text is untrusted, so a quote or a
    backslash cannot end the label, and control characters are dropped."""
    clean = "".join(c if c.isprintable() else " " for c in text)
    return clean.replace("\\", "\\\\").replace('"', '\\"')


def _lane(step: RunStep, before) -> int:
    """The CPU a step happens on: its operations' CPU, else the CPU its
    actor runs on (before the step, or after it for a task switched in)."""
    for op in step.ops:
        if op.cpu is not None:
            return op.cpu
    kind, actor, _ = step.event
    if kind in ("irq", "switch"):
        return int(actor)
    for world in (before, step.world):
        task = world.tasks.get(actor)
        if task is not None and task.cpu is not None:
            return task.cpu
    return 0


def _step_label(run: Run, step: RunStep, before: dict[str, str]) -> list[str]:
    lines = [f"{step.number}. {step.label}: {step.description}"]
    hook = None
    for op in step.ops:
        if op.kind == "line":
            if op.origin.hook != hook:
                hook = op.origin.hook
                lines.append(f"[{hook} hook] {HOOKS[hook].when}")
            lines.append(f"  {origin_text(op.origin)}: {op.origin.text}")
        elif op.kind in ("save", "restore", "bind", "invalidate", "trap", "read", "write", "clobber"):
            lines.append(f"  -> {op_text(op)}")
    after = state_fields(step.world, [f.name for f in run.policy.flags])
    changed = [f"{k}: {before[k]} -> {v}" for k, v in after.items() if before.get(k) != v]
    if changed:
        lines.append("changed: " + ", ".join(changed))
    lines += [f"!! {v.prop}: {v.message}" for v in step.violations]
    return lines


def _cluster(policy: ResolvedPolicy, ex: Exploration, ce: Counterexample, n: int) -> list[str]:
    run = run_events(policy, ex.config, ce.path)
    flags = [f.name for f in policy.flags]
    cpus = ex.config.cpus
    out = [
        f"  subgraph cluster_{n} {{",
        f'    label="{_quote(f"counterexample {n}: {ce.prop} ({len(ce.path)} steps): {ce.violation.message}")}";',
        "    fontname=monospace; fontsize=11;",
    ]
    # Lane heads, then a row per step: the step's box in its CPU's lane, a
    # point on every other lifeline, all on one rank.
    initial = state_fields(run.initial, flags)
    head = ", ".join(f"{k} {v}" for k, v in initial.items())
    out.append(f'    c{n}_init [shape=note, label="{_quote("initial state: " + head)}"];')
    for cpu in range(cpus):
        out.append(f'    c{n}_cpu{cpu}_0 [shape=box, style=bold, label="cpu{cpu}"];')
        out.append(f"    c{n}_init -> c{n}_cpu{cpu}_0 [style=invis];")
    before_fields, before_world = initial, run.initial
    for step in run.steps:
        lane = _lane(step, before_world)
        row = []
        for cpu in range(cpus):
            node = f"c{n}_cpu{cpu}_{step.number}"
            row.append(node)
            if cpu == lane:
                text = "\\l".join(_quote(line) for line in _step_label(run, step, before_fields)) + "\\l"
                color = ", color=red, fontcolor=red, penwidth=2" if step.violations else ""
                out.append(f'    {node} [shape=box, label="{text}"{color}];')
            else:
                out.append(f'    {node} [shape=point, width=0.05, label=""];')
            out.append(f"    c{n}_cpu{cpu}_{step.number - 1} -> {node} [arrowhead=none, style=dashed];")
        out.append(f"    {{ rank=same; {'; '.join(row)}; }}")
        before_fields, before_world = state_fields(step.world, flags), step.world
    out.append("  }")
    return out


def sequence_charts(policy: ResolvedPolicy, ex: Exploration, properties: tuple[str, ...]) -> str | None:
    """Every distinct shortest counterexample as one graph; None if there is none."""
    seen: set[tuple] = set()
    clusters: list[str] = []
    for prop in properties:
        for ce in ex.for_property(prop):
            key = tuple(ce.path)
            if key in seen:
                continue
            seen.add(key)
            clusters += _cluster(policy, ex, ce, len(seen))
    if not clusters:
        return None
    head = [
        "digraph counterexamples {",
        f'  label="{_quote(f"{policy.name}: counterexamples at {ex.config.cpus} CPU(s)")}"; labelloc=t;',
        "  node [fontname=monospace, fontsize=10]; newrank=true;",
    ]
    return "\n".join(head + clusters + ["}"]) + "\n"
