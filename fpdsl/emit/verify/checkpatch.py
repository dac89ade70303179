"""The tree's own scripts/checkpatch.pl on one mail, as a step: clean
only with no error and no warning."""

from __future__ import annotations

import re
from pathlib import Path

from fpdsl.emit.verify.steps import VerifyReport, _clean, _run, _run_step

TOTAL = re.compile(r"^total: (\d+) errors?, (\d+) warnings?", re.MULTILINE)


def _checkpatch(report: VerifyReport, scratch: Path, env: dict[str, str], patch_text: str, name: str) -> bool:
    """checkpatch.pl --no-tree on `patch_text` as the step `name`, summarised by its `total:` line."""

    def action() -> tuple[bool, str, str]:
        done = _run(["perl", "scripts/checkpatch.pl", "--no-tree", "-"], scratch, env, patch_text)
        output = _clean(done.stdout, scratch)
        m = TOTAL.search(output)
        if m is None:
            return False, output, f"no 'total:' line (exit status {done.returncode})"
        errors, warnings = int(m.group(1)), int(m.group(2))
        return errors == 0 and warnings == 0, output, f"{errors} errors, {warnings} warnings"

    return _run_step(report, name, action)
