"""Render recorded runs as numbered, step-by-step text or as JSON."""

from __future__ import annotations

from typing import Any

from fpdsl.model.records import PROPERTY_WORDS
from fpdsl.model.values import owner_name, show
from fpdsl.sim.interpreter import PolicyLine
from fpdsl.sim.run import Run, RunStep

_SHOWN = {"save", "restore", "bind", "invalidate", "trap", "read", "write", "clobber", "irq", "flag", "arm", "disarm"}
_COUNTERS = (("saves", ("host_saves", "guest_saves")), ("restores", ("host_restores", "guest_restores")))


def origin_text(origin: Any) -> str:
    if isinstance(origin, PolicyLine):
        return f"{origin.path}:{origin.line}"
    return str(origin)


def _op_text(op) -> str:
    k = op.kind
    if k == "save":
        return f"save {show(op.value)} -> {op.target}"
    if k == "restore":
        return f"restore {show(op.value)} <- {op.target}"
    if k == "bind":
        return f"bind {op.target} to cpu{op.cpu}"
    if k == "invalidate":
        return f"invalidate cpu{op.cpu} binding"
    if k == "trap":
        return "guest FP/SIMD access traps to the host"
    if k == "read":
        return f"{owner_name(op.target)} reads {show(op.value)}"
    if k == "write":
        return f"{owner_name(op.target)} writes {show(op.value)}"
    if k == "clobber":
        return f"kernel-mode NEON writes {show(op.value)}"
    if k == "irq":
        return "interrupt taken"
    if k in ("arm", "disarm"):
        return f"{k} the guest FP trap"
    return f"{op.target}"


def owners(step: RunStep) -> str:
    out = []
    w = step.world
    for i, c in enumerate(w.cpus):
        bound = c.bound or "none"
        cur = c.curr or "idle"
        out.append(f"cpu{i}: regs {show(c.v)} (sve {show(c.z)}), bound {bound}, running {cur}")
    a = w.tasks["A"]
    trap = "armed" if w.vcpu.trap_armed else "off"
    out.append(f"A: TIF_FOREIGN_FPSTATE={int(a.foreign)} TIF_SVE={int(a.sve)}; vcpu: trap {trap}")
    return "; ".join(out)


def render_run(run: Run, title: str | None = None, highlight: set[int] | None = None) -> str:
    lines: list[str] = []
    if title:
        lines.append(title)
    running = {"saves": 0, "restores": 0, "traps": 0, "redundant": 0}
    for s in run.steps:
        mark = f"   [{s.mark}]" if s.mark else ""
        lines.append(f"{s.number:3}. {s.label:<18} {s.description}{mark}")
        for i, op in enumerate(s.ops):
            if op.kind == "line":
                lines.append(f"       {origin_text(op.origin):<34} {op.origin.text}")
                continue
            if op.kind not in _SHOWN:
                continue
            note = ""
            verdict = run.verdicts.get((s.number, i))
            if op.kind in ("save", "restore"):
                running["saves" if op.kind == "save" else "restores"] += 1
                if verdict is not None and verdict.redundant:
                    running["redundant"] += 1
                    note = f"   REDUNDANT: {verdict.reason}"
            if op.kind == "trap":
                running["traps"] += 1
            where = "" if isinstance(op.origin, PolicyLine) else f"  ({origin_text(op.origin)})"
            lines.append(f"         -> {_op_text(op)}{where}{note}")
        for v in s.violations:
            lines.append(f"       !! {v.prop}: {v.message} [{origin_text(v.origin)}]")
        lines.append(f"       state: {owners(s)}")
        lines.append(
            f"       counters: saves {running['saves']}, restores {running['restores']}, traps {running['traps']}, "
            f"redundant {running['redundant']}"
        )
    return "\n".join(lines)


def summary_lines(run: Run) -> list[str]:
    t = run.totals()
    out = [
        f"saves: {t['host_saves']} host, {t['guest_saves']} guest; restores: {t['host_restores']} host, "
        f"{t['guest_restores']} guest; FP traps: {t['fp_traps']}; invalidations: {t['invalidations']}",
        f"redundant saves: {t['redundant_saves']}; redundant restores: {t['redundant_restores']}",
    ]
    for v in sorted(run.verdicts.values(), key=lambda v: (v.step, v.op.kind)):
        if v.redundant:
            out.append(f"  step {v.step}: redundant {v.op.kind} of {show(v.op.value)} ({v.op.target}): {v.reason}")
    return out


def run_json(run: Run) -> dict:
    steps = []
    for s in run.steps:
        ops = []
        for i, op in enumerate(s.ops):
            entry = {"kind": op.kind, "cpu": op.cpu, "target": op.target, "origin": origin_text(op.origin)}
            if op.value is not None:
                entry["value"] = show(op.value)
            v = run.verdicts.get((s.number, i))
            if v is not None:
                entry["redundant"] = v.redundant
                entry["reason"] = v.reason
            ops.append(entry)
        steps.append(
            {
                "step": s.number,
                "event": s.label,
                "description": s.description,
                "mark": s.mark,
                "ops": ops,
                "violations": [
                    {"property": v.prop, "message": v.message, "origin": origin_text(v.origin)} for v in s.violations
                ],
                "state": owners(s),
            }
        )
    return {"policy": run.policy.name, "steps": steps, "totals": run.totals()}


def property_words(prop: str) -> str:
    return PROPERTY_WORDS[prop]
