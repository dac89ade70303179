"""Long fuzz run (not in CI): hostile and mutated policies through check,
emission against the stand-in trees, and the patch mail through git's own
mail parser. Prints the counts the README quotes.

    python bench/fuzz.py [--inputs 100000] [--seed 1] [--with-6x]

`--with-6x` adds the real Debian 6.1 and 6.12 trees (tests/kernels.py sets
them up under ~/.cache/fpdsl on first use). Each input gets at most 10 s
of wall time (SIGALRM; run it on an otherwise idle machine); properties:
- check exits 0, 1 or 2 and never with an internal error;
- a policy that emits has exactly the C tokens of its neutral twin (its
  `##` comments replaced by "x"), and adds no comment words it did not write;
- `check --target` says exactly what emission refuses (tree-only
  refusals aside);
- the mail `git mailinfo` reads back has the subject and message fpdsl wrote
  (sampled: every 20th emitting input);
- `review` accepts the patch (the same sample).
"""

from __future__ import annotations

import argparse
import email.header
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_emit import emission_problems  # noqa: E402
from fuzz_policies import decorated, mutated, policy_text  # noqa: E402
from helpers import run  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from standin import write_tree  # noqa: E402

SEEDS = {
    "v4.16": ["lazy_until_put", "bh_disable_variant", "neon_busy", "no_softirq_no_preempt", "neon_begin_in_load"],
    "v4.17": ["lazy_until_put", "neon_busy"],
    "v4.18": [f"../tests/policies/{p.stem}" for p in sorted((ROOT / "tests" / "policies").glob("hm_*.fp"))],
}
FIXED = ["--date", "2018-02-14T11:15:54+00:00", "--signoff", "Fp Dsl <fpdsl@example.org>", "--no-verify"]


class Hang(BaseException):
    """Not an Exception: the CLI's last line of defence must not turn it
    into an "internal error" exit that would be counted as something else."""


def _alarm(_signum, _frame):
    raise Hang


def mail_problems(out: Path, policy: Path, tree: Path) -> list[str]:
    """git mailinfo reads back each mail's subject and message; review accepts it."""
    problems = []
    text = out.read_text()
    mails = [m for m in text.split("\nFrom 0000000000000000000000000000000000000000 ") if m]
    for mail in mails:
        mail = mail if mail.startswith("From ") else "From 0000000000000000000000000000000000000000 " + mail
        head, _, rest = mail.partition("\n\n")
        unfolded = head.replace("\n ", " ")  # RFC 2047 words of a long subject are folded
        raw = next(line[len("Subject: ") :] for line in unfolded.splitlines() if line.startswith("Subject: "))
        subject = str(email.header.make_header(email.header.decode_header(raw)))
        message = rest.split("\n---\n", 1)[0].strip("\n")
        with tempfile.TemporaryDirectory() as d:
            got = subprocess.run(
                ["git", "mailinfo", f"{d}/msg", f"{d}/patch"], input=mail, capture_output=True, text=True
            )
            info = dict(line.split(": ", 1) for line in got.stdout.splitlines() if ": " in line)
            msg = Path(f"{d}/msg").read_text().strip("\n")
        want_subject = subject.split("] ", 1)[1] if subject.startswith("[") else subject
        if info.get("Subject") != want_subject:
            problems.append(f"mail subject read back as {info.get('Subject')!r}, written {want_subject!r}")
        if msg != message:
            problems.append("git mailinfo reads a different message than fpdsl wrote")
    if run("review", str(out), str(policy), "--tree", str(tree)).exit_code != 0:
        problems.append("review rejects the patch")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--with-6x", action="store_true", help="also the real Debian 6.1 and 6.12 trees")
    args = ap.parse_args()
    seeds_text = [p.read_text() for p in sorted((ROOT / "policies").glob("*.fp"))]
    work = Path(tempfile.mkdtemp(prefix="fpdsl-fuzz-"))
    seeds = dict(SEEDS)
    trees = {layout: write_tree(work / layout, layout, git=True) for layout in SEEDS}
    if args.with_6x:
        from kernels import kernel_tree

        for series in ("6.1", "6.12"):
            seeds[f"v{series}"] = [f"kvm_v{series.replace('.', '_')}", f"softirq_giveback_v{series.replace('.', '_')}"]
            trees[f"v{series}"] = kernel_tree(series)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    signal.signal(signal.SIGALRM, _alarm)
    slowest = [0.0]
    start = time.monotonic()

    # Hypothesis draws the inputs; the body records failures instead of
    # raising, so one run counts them all.
    @settings(
        max_examples=args.inputs,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data) -> None:
        kind = data.draw(st.sampled_from(["mutated", "generated", "decorated", "decorated"]))
        layout = data.draw(st.sampled_from(sorted(seeds)))
        if kind == "mutated":
            raw = data.draw(mutated(seeds_text))
        elif kind == "generated":
            raw = data.draw(policy_text(kernel="v4.16" if layout in ("v4.16", "v4.17") else "v4.18")).encode()
        else:
            seed = (ROOT / "policies" / f"{data.draw(st.sampled_from(seeds[layout]))}.fp").read_text()
            raw = data.draw(decorated(seed)).encode()
        i = counts["inputs"]
        counts["inputs"] += 1
        before = len(failures)
        started = time.monotonic()
        check_one(raw, kind, trees[layout], work / f"case{i % 8}", counts, failures)
        slowest[0] = max(slowest[0], time.monotonic() - started)
        counts[f"inputs for {layout}"] += 1
        if len(failures) > before and len(failures) <= 50:
            # Keep the input that failed, for replay.
            keep = work / f"failure{len(failures):02d}.fp"
            keep.write_bytes(raw)
            print(f"FAIL ({layout}, {keep}): {failures[-1][:300]}", flush=True)
        if counts["inputs"] % 5000 == 0:
            print(f"{counts['inputs']} inputs, {len(failures)} failures, {time.monotonic() - start:.0f} s", flush=True)

    seed(args.seed)(one)()
    elapsed = time.monotonic() - start
    rate = counts["inputs"] / elapsed
    print(f"inputs: {counts['inputs']} in {elapsed:.0f} s ({rate:.0f}/s), slowest input {slowest[0]:.1f} s")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]}")
    print(f"failures: {len(failures)}")
    for f in failures[:20]:
        print("  " + f)
    return 1 if failures else 0


def check_one(raw: bytes, kind: str, tree: Path, case: Path, counts: Counter, failures: list[str]) -> None:
    case.mkdir(exist_ok=True)
    policy = case / "p.fp"
    policy.write_bytes(raw)
    signal.alarm(10)
    try:
        result = run("check", str(policy))
        counts[f"check exit {result.exit_code}"] += 1
        if result.exit_code not in (0, 1, 2) or "fpdsl: internal error:" in result.output:
            failures.append(f"check exit {result.exit_code}: {result.output[:200]}")
        if result.exit_code != 0 or kind == "mutated":
            return
        problems = emission_problems(raw.decode(), tree, case)
        counts["emissions checked"] += 1
        failures += [f"emission: {p}" for p in problems]
        if counts["emissions checked"] % 20:
            return
        out = case / "out.patch"
        out.unlink(missing_ok=True)
        r = run("emit-patch", str(policy), "--tree", str(tree), *FIXED, "-o", str(out))
        if r.exit_code == 0 and out.exists():
            counts["mails checked"] += 1
            failures += [f"mail: {p}" for p in mail_problems(out, policy, tree)]
        elif r.exit_code not in (0, 1, 2) or "fpdsl: internal error:" in r.output:
            failures.append(f"emit-patch exit {r.exit_code}: {r.output[:200]}")
    except Hang:
        counts["hangs over 10 s"] += 1
        failures.append(f"hang over 10 s: {raw[:120]!r}")
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
