"""Render recorded runs as numbered, step-by-step text or as JSON."""

from __future__ import annotations

from typing import Any

from fpdsl.lang.vocabulary import HOOKS
from fpdsl.model.records import PROPERTY_WORDS
from fpdsl.model.state import World
from fpdsl.model.values import owner_name, show
from fpdsl.sim.interpreter import PolicyLine
from fpdsl.sim.run import Run, RunStep

_SHOWN = {
    "save",
    "restore",
    "bind",
    "invalidate",
    "trap",
    "read",
    "write",
    "clobber",
    "irq",
    "flag",
    "arm",
    "disarm",
    "el0_sve",
}
_COUNTERS = (("saves", ("host_saves", "guest_saves")), ("restores", ("host_restores", "guest_restores")))


def origin_text(origin: Any) -> str:
    if isinstance(origin, PolicyLine):
        return f"{origin.path}:{origin.line}"
    return str(origin)


def op_text(op) -> str:
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
    if k == "el0_sve":
        return f"{op.target} on cpu{op.cpu}"
    return f"{op.target}"


def state_fields(world: World, flag_names: list[str]) -> dict[str, str]:
    """Every field a trace shows, in a fixed order: per CPU, per task (the
    vcpu thread A and the competing tasks), then the vcpu and its flags."""
    fields: dict[str, str] = {}
    for i, c in enumerate(world.cpus):
        fields[f"cpu{i}.regs"] = show(c.v)
        fields[f"cpu{i}.sve"] = show(c.z)
        fields[f"cpu{i}.bound"] = c.bound or "none"
        fields[f"cpu{i}.running"] = c.curr or "idle"
        fields[f"cpu{i}.host_copy"] = show(c.host)
        fields[f"cpu{i}.kernel_neon_busy"] = str(int(c.neon_busy))
        if world.sve_types:
            fields[f"cpu{i}.EL0_SVE"] = "enabled" if c.zen else "trapped"
            fields[f"cpu{i}.to_save"] = c.to_save
    for name, t in world.tasks.items():
        fields[f"{name}.saved"] = show(t.saved_v)
        fields[f"{name}.TIF_FOREIGN_FPSTATE"] = str(int(t.foreign))
        fields[f"{name}.TIF_SVE"] = str(int(t.sve))
        if world.sve_types:
            fields[f"{name}.saved_sve"] = f"{show(t.saved_sv)}/{show(t.saved_z)}"
            fields[f"{name}.fp_type"] = t.fp_type
            fields[f"{name}.sve_live"] = str(int(t.sve_live))
        if world.task_neon:
            fields[f"{name}.TIF_KERNEL_FPSTATE"] = str(int(t.kfp))
            fields[f"{name}.kernel_state"] = show(t.saved_k)
    fields["vcpu.saved"] = show(world.vcpu.saved_v)
    if world.sve_types:
        fields["vcpu.saved_sve"] = show(world.vcpu.saved_z)
    fields["vcpu.trap"] = "armed" if world.vcpu.trap_armed else "off"
    for name, value in zip(flag_names, world.vcpu.flags, strict=False):
        fields[f"vcpu.{name}"] = str(value).lower()
    return fields


def owners(step: RunStep, flag_names: list[str] | None = None) -> str:
    """The state after a step, on one line (JSON and --full-state)."""
    return ", ".join(f"{k} {v}" for k, v in state_fields(step.world, flag_names or []).items())


def _changes(before: dict[str, str], after: dict[str, str]) -> str:
    return ", ".join(f"{k} {before[k]} -> {v}" for k, v in after.items() if before.get(k) != v)


def render_run(run: Run, title: str | None = None, full_state: bool = False) -> str:
    """A numbered trace. Each step names the hook whose lines run and lists
    only the state fields it changed (`full_state`: the whole state, with
    `*` on what changed); counters appear when they change."""
    lines: list[str] = []
    if title:
        lines.append(title)
    flag_names = [f.name for f in run.policy.flags]
    previous = state_fields(run.initial, flag_names)
    lines.append("initial state: " + ", ".join(f"{k} {v}" for k, v in previous.items()))
    running = {"saves": 0, "restores": 0, "traps": 0, "redundant": 0}
    shown_counters = dict(running)
    for s in run.steps:
        mark = f"   [{s.mark}]" if s.mark else ""
        lines.append(f"{s.number:3}. {s.label:<18} {s.description}{mark}")
        hook = None
        for i, op in enumerate(s.ops):
            if op.kind == "line":
                if op.origin.hook != hook:
                    hook = op.origin.hook
                    lines.append(f"       {hook} hook: {HOOKS[hook].when}")
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
            lines.append(f"         -> {op_text(op)}{where}{note}")
        for v in s.violations:
            lines.append(f"       !! {v.prop}: {v.message} [{origin_text(v.origin)}]")
        after = state_fields(s.world, flag_names)
        if full_state:
            marked = ", ".join(f"{'*' if previous.get(k) != v else ''}{k} {v}" for k, v in after.items())
            lines.append(f"       state: {marked}")
        elif after != previous:
            lines.append(f"       changed: {_changes(previous, after)}")
        previous = after
        if full_state or running != shown_counters:
            lines.append(
                f"       counters: saves {running['saves']}, restores {running['restores']}, "
                f"traps {running['traps']}, redundant {running['redundant']}"
            )
            shown_counters = dict(running)
    return "\n".join(lines)


def summary_lines(run: Run) -> list[str]:
    t = run.totals()
    out = [
        f"saves: {t['host_saves']} host, {t['guest_saves']} guest; restores: {t['host_restores']} host, "
        f"{t['guest_restores']} guest; FP traps: {t['fp_traps']}; binding invalidations: {t['binding_invalidations']}",
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
                "state": state_fields(s.world, [f.name for f in run.policy.flags]),
            }
        )
    return {"policy": run.policy.name, "steps": steps, "totals": run.totals()}


def property_words(prop: str) -> str:
    return PROPERTY_WORDS[prop]
