"""The gcc warnings a patch adds. The patched build's warnings on C files
are compared, without line numbers, with the same objects' build in a
second scratch copy of the unpatched tree; that build runs only for the
objects whose patched build warned, so a clean build costs nothing. New
warnings mark the step `warn` (the patch still compiles); with `werror`
they fail it, as CONFIG_WERROR would."""

from __future__ import annotations

from pathlib import Path

from fpdsl.emit.verify.build_output import CError, c_warnings, new_c_errors, tidy_build_output
from fpdsl.emit.verify.kbuild import _target_flags
from fpdsl.emit.verify.scratch import Scratch
from fpdsl.emit.verify.steps import VerifyReport, _clean, _environment, _run, _run_step

STEP = "compiler warnings"


def _warnings_check(report: VerifyReport, make: list[str], tree: Path, method: str, *, werror: bool = False) -> None:
    """The step that says which warnings of the patched build are new."""
    warned = {obj: c_warnings(step.output) for obj in report.objects if (step := report.step(f"compile {obj}"))}
    warned = {obj: found for obj, found in warned.items() if found}
    after = [w for found in warned.values() for w in found]

    def action() -> tuple[bool, str, str]:
        if not after:
            return True, "", "none"
        before = _unpatched_warnings(list(warned), make, tree, report.touched, method)
        if before is None:
            return False, "", "cannot make a scratch copy of the unpatched tree to compare with"
        new = new_c_errors(before, after)
        if not new:
            return True, "", f"none new ({len(after)} also in the unpatched build)"
        output = "\n".join(w.text for w in new) + "\n"
        first = new[0].text.split("\n")[0]
        summary = f"{len(new)} new: {first}" + ("" if werror else " (not fatal; --werror makes it so)")
        return not werror, output, summary

    _run_step(report, STEP, action)
    step = report.step(STEP)
    if step is not None and step.ok and step.output:
        step.warned = True


def _unpatched_warnings(
    objects: list[str], make: list[str], tree: Path, touched: list[str], method: str
) -> list[CError] | None:
    copy = Scratch(tree, touched, method=method)
    try:
        ok, _output, _summary = copy.create()
        if not ok or copy.root is None:
            return None
        env = _environment(copy.root)
        found: list[CError] = []
        for obj in objects:
            done = _run([*make, *_target_flags(obj), obj], copy.root, env)
            found += c_warnings(tidy_build_output(_clean(done.stdout, copy.root), obj))
        return found
    finally:
        copy.remove()
