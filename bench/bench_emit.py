"""Emission figures per shipped policy: seconds to emit the patch against a
2018-layout stand-in tree (median of several runs, in-process), with and
without the verification the commit message carries (explorer at the
default bound plus the exact cost analysis).

    python bench/bench_emit.py            # 5 runs per policy
    python bench/bench_emit.py --runs 9
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    from standin import write_tree

    from fpdsl.diagnostics import FpdslError
    from fpdsl.emit.message import commit_body, verify
    from fpdsl.emit.patch import Mail, format_patch
    from fpdsl.emit.plan import plan
    from fpdsl.emit.targets import detect_target
    from fpdsl.lang.checker import check_or_raise
    from fpdsl.lang.loader import load_policy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {t: write_tree(Path(tmp) / t, t) for t in ("v4.16", "v4.18")}
        print(f"{'policy':<24}{'target':>8}{'hunks':>7}{'emit s':>9}{'+verify s':>11}")
        # The shipped policies, then the v4.18 variants the tests ship.
        paths = sorted((ROOT / "policies").glob("*.fp")) + sorted((ROOT / "tests" / "policies").glob("hm_*.fp"))
        for path in paths:
            policy = check_or_raise(load_policy(path))
            tree = trees["v4.18" if policy.kernel == "v4.18" else "v4.16"]
            target = detect_target(tree)
            bare, full = [], []
            try:
                plan(policy, tree, target)
            except FpdslError as exc:  # e.g. the 6.x designs for v4.18: said, not timed
                print(f"{policy.name:<24}{target.name:>8}  refused: {str(exc).splitlines()[0][:70]}")
                continue
            for _ in range(args.runs):
                started = time.perf_counter()
                emission = plan(policy, tree, target)
                mail = Mail("B <b@example.org>", "Wed, 14 Feb 2018 11:15:54 +0000", "s", commit_body(emission, None))
                text = format_patch(mail, emission.changes, mail.author) if emission.changes else ""
                bare.append(time.perf_counter() - started)
                if emission.changes:
                    started = time.perf_counter()
                    commit_body(emission, verify(policy))
                    full.append(bare[-1] + time.perf_counter() - started)
            hunks = sum(len(c.hunks) for c in emission.changes)
            shown = f"{statistics.median(full):>11.3f}" if full else f"{'(baseline)':>11}"
            print(f"{policy.name:<24}{target.name:>8}{hunks:>7}{statistics.median(bare):>9.3f}{shown}")
            del text


if __name__ == "__main__":
    main()
