"""Redundant work in a recorded run, computed from its operations (never per
scenario):
- a restore is redundant when the value it loads into the registers is
  overwritten before anything reads it;
- a save is redundant when its copy is gone (overwritten by another save, or
  superseded because the owner wrote a newer value) without any useful
  restore having loaded it.
What the end of the run leaves open is undecided (None)."""

from __future__ import annotations

from dataclasses import dataclass

from fpdsl.model.records import Op
from fpdsl.model.values import show

Where = tuple[int, int]  # (1-based step, index of the op in that step)


@dataclass
class Verdict:
    step: int
    op: Op
    redundant: bool | None
    reason: str


class _Analysis:
    def __init__(self) -> None:
        self.verdicts: dict[Where, Verdict] = {}
        self.live: dict[int | None, Where] = {}  # cpu -> unread restore in its registers
        self.copy_of: dict[str, Where] = {}  # storage -> the save its copy came from
        self.restores: dict[Where, list[Where]] = {}  # save -> restores that loaded its copy
        self.gone: dict[Where, str] = {}  # save -> why its copy is gone

    def settle_save(self, save: Where) -> None:
        v = self.verdicts[save]
        if v.redundant is not None:
            return
        loaded = [self.verdicts[r] for r in self.restores[save]]
        useful = [r for r in loaded if r.redundant is False]
        if useful:
            v.redundant, v.reason = False, f"restored at step {useful[0].step} and read"
        elif save in self.gone and all(r.redundant for r in loaded):
            if loaded:
                steps = ", ".join(str(r.step) for r in loaded)
                why = f"its restore at step {steps} was itself redundant; {self.gone[save]}"
            else:
                why = f"never restored; {self.gone[save]}"
            v.redundant, v.reason = True, why

    def settle_restore(self, where: Where, useful: bool, reason: str) -> None:
        v = self.verdicts[where]
        v.redundant, v.reason = (not useful), reason
        for save, loaded in self.restores.items():
            if where in loaded:
                self.settle_save(save)

    def registers_overwritten(self, cpu, step: int, what: str) -> None:
        where = self.live.pop(cpu, None)
        if where is not None:
            self.settle_restore(where, False, f"overwritten at step {step} ({what}) before anything read it")

    def copy_gone(self, save: Where, why: str) -> None:
        if save not in self.gone:
            self.gone[save] = why
            self.settle_save(save)

    def feed(self, step: int, index: int, op: Op) -> None:
        where = (step, index)
        kind = op.kind
        if kind == "restore":
            self.registers_overwritten(op.cpu, step, f"restore of {show(op.value)} from {op.target}")
            self.verdicts[where] = Verdict(step, op, None, "still unread in the registers at the end of the run")
            self.live[op.cpu] = where
            save = self.copy_of.get(op.target)
            if save is not None:
                self.restores[save].append(where)
        elif kind == "read":
            where_live = self.live.pop(op.cpu, None)
            if where_live is not None:
                self.settle_restore(where_live, True, f"read by {op.target} at step {step}")
        elif kind in ("write", "clobber"):
            self.registers_overwritten(op.cpu, step, f"{op.kind} by {op.target}")
            if kind == "write":
                for save in list(self.copy_of.values()):
                    saved = self.verdicts[save].op.value
                    if saved is not None and saved[0] == op.value[0] and saved != op.value:
                        self.copy_gone(save, f"superseded at step {step} when {op.target} wrote {show(op.value)}")
        elif kind == "save":
            self.verdicts[where] = Verdict(step, op, None, "not usefully restored before the end of the run")
            self.restores[where] = []
            old = self.copy_of.get(op.target)
            self.copy_of[op.target] = where
            if old is not None:
                self.copy_gone(old, f"overwritten by the save at step {step}")


def analyse(steps: list[list[Op]]) -> dict[Where, Verdict]:
    """Verdicts for every save and restore of a run given as ops per step."""
    analysis = _Analysis()
    for step, ops in enumerate(steps, start=1):
        for index, op in enumerate(ops):
            analysis.feed(step, index, op)
    return analysis.verdicts
