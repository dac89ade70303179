"""verify-patch against real Debian kernel trees (6.1 and 6.12, set up by
tests/kernels.py). The patches are made here, at test time, from the tree's
own files with difflib: no kernel code is stored in the repository."""

from __future__ import annotations

import difflib
import hashlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fpdsl.emit.verify import HYP_SWITCH_HEADER, default_objects, touched_files, verify_patch
from fpdsl.emit.verify.scratch import Scratch

FPSIMD_C = "arch/arm64/kvm/fpsimd.c"
LOAD_FP = "void kvm_arch_vcpu_load_fp(struct kvm_vcpu *vcpu)"
CORE = ["arch/arm64/kvm/arm.o", "arch/arm64/kvm/fpsimd.o", "arch/arm64/kernel/fpsimd.o"]
kernel = pytest.mark.kernel


def mail(tree: Path, edits: dict[str, Callable[[list[str]], list[str]]], subject: str) -> str:
    """A format-patch style mail: each file of `tree` in `edits` changed by its function."""
    diffs = []
    for rel, edit in edits.items():
        old = (tree / rel).read_text().splitlines(keepends=True)
        body = "".join(difflib.unified_diff(old, edit(list(old)), f"a/{rel}", f"b/{rel}"))
        diffs.append(f"diff --git a/{rel} b/{rel}\n{body}")
    return (
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        "From: Fp Dsl <fpdsl@example.org>\n"
        "Date: Wed, 14 Feb 2018 11:15:54 +0000\n"
        f"Subject: [PATCH] KVM: arm64: {subject}\n\n"
        "A change made by the fpdsl tests to exercise verify-patch.\n\n"
        "Signed-off-by: Fp Dsl <fpdsl@example.org>\n---\n" + "".join(diffs)
    )


def before(anchor: str, new: list[str]) -> Callable[[list[str]], list[str]]:
    """Insert `new` lines before the first line starting with `anchor`."""

    def edit(lines: list[str]) -> list[str]:
        at = next(i for i, line in enumerate(lines) if line.startswith(anchor))
        return lines[:at] + new + lines[at:]

    return edit


def in_body(anchor: str, new: list[str]) -> Callable[[list[str]], list[str]]:
    """Insert `new` lines right after the `{` that opens the function `anchor`."""

    def edit(lines: list[str]) -> list[str]:
        at = next(i for i, line in enumerate(lines) if line.startswith(anchor))
        assert lines[at + 1] == "{\n"
        return lines[: at + 2] + new + lines[at + 2 :]

    return edit


CLEAN = {FPSIMD_C: before(LOAD_FP, ["/* fpdsl: the guest's FPSIMD state is loaded lazily. */\n"])}
UNDECLARED = {FPSIMD_C: in_body(LOAD_FP, ["\tfpdsl_undeclared_hook(vcpu);\n"])}
LONG_LINE = {FPSIMD_C: before(LOAD_FP, ["/* fpdsl: " + "a comment much longer than checkpatch allows " * 3 + "*/\n"])}


def snapshot(tree: Path, touched: list[str]) -> dict[str, tuple[int, int, str]]:
    """mtime, size and hash of the touched files and of the folders the build writes to."""
    files = [tree / rel for rel in touched]
    for folder in ("include/generated", "arch/arm64/kernel/vdso", "arch/arm64/kvm", "arch/arm64/kernel"):
        files += [p for p in (tree / folder).iterdir() if p.is_file()]
    # and the hidden files at the top, which kbuild rewrites in place (.config, .cache.mk, .missing-syscalls.d)
    files += [p for p in tree.glob(".*") if p.is_file()]
    return {
        str(p.relative_to(tree)): (p.stat().st_mtime_ns, p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(files)
    }


def scratch_mounts(tree: Path) -> set[str]:
    """The verify scratch overlays of `tree` mounted now (only this tree's:
    other runs, on other trees, may be under way)."""
    mounts = MOUNTS.read_text() if MOUNTS.exists() else ""
    ours = f"lowerdir={tree.resolve()},"
    return {line for line in mounts.split("\n") if "fpdsl-verify-" in line and ours in line}


# A mount of a run killed before these tests (by another job on this machine) is not theirs.
MOUNTS = Path("/proc/self/mounts")
MOUNTED_BEFORE = set(MOUNTS.read_text().split("\n")) if MOUNTS.exists() else set()


def leftovers(tree: Path) -> list[str]:
    beside = [p.name for p in tree.parent.glob(f".{tree.name}.verify-*")]
    return beside + sorted(scratch_mounts(tree) - MOUNTED_BEFORE)


@pytest.fixture(scope="module")
def clean_6_1(kernel_6_1: Path):
    return verify_patch(mail(kernel_6_1, CLEAN, "a comment"), kernel_6_1)


@pytest.fixture(scope="module")
def undeclared_6_1(kernel_6_1: Path):
    return verify_patch(mail(kernel_6_1, UNDECLARED, "call a hook"), kernel_6_1)


@kernel
def test_clean_patch_passes_every_step_6_1(clean_6_1, kernel_6_1: Path) -> None:
    report = clean_6_1
    assert report.ok, report.render(verbose=True)
    assert report.touched == [FPSIMD_C]
    assert [s.name for s in report.steps] == [
        "scratch copy",
        "git apply --check",
        "git apply",
        "checkpatch",
        *(f"compile {o}" for o in CORE),
        "compiler warnings",
    ]
    assert report.step("checkpatch").summary == "0 errors, 0 warnings"
    assert report.step("compiler warnings").summary == "none"
    assert "CC      arch/arm64/kvm/fpsimd.o" in report.step("compile arch/arm64/kvm/fpsimd.o").output
    assert not leftovers(kernel_6_1)


@kernel
def test_undeclared_call_fails_to_compile_6_1(undeclared_6_1) -> None:
    report = undeclared_6_1
    assert not report.ok
    assert report.step("git apply").ok and report.step("checkpatch").ok
    failed = [s.name for s in report.steps if not s.ok]
    assert failed == ["compile arch/arm64/kvm/fpsimd.o"]
    step = report.step("compile arch/arm64/kvm/fpsimd.o")
    assert "implicit declaration of function 'fpdsl_undeclared_hook'" in step.output
    assert step.summary.startswith("arch/arm64/kvm/fpsimd.c:")  # gcc's own file:line:col: error:
    assert "fpdsl_undeclared_hook" in report.render()


@kernel
def test_checkpatch_warning_fails_through_the_cli_6_1(kernel_6_1: Path, tmp_path: Path) -> None:
    patch = tmp_path / "long.patch"
    patch.write_text(mail(kernel_6_1, LONG_LINE, "a long comment"))
    cmd = [sys.executable, "-m", "fpdsl.cli", "verify-patch", str(patch), "--tree", str(kernel_6_1)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[FAIL] checkpatch: 0 errors, 1 warnings" in done.stdout
    assert "WARNING: line length of" in done.stdout and "exceeds 100 columns" in done.stdout
    assert "[ok] compile arch/arm64/kvm/fpsimd.o" in done.stdout  # the compile still ran
    assert "Traceback" not in done.stderr


def start_verify_until_mounted(tree: Path, patch: Path) -> tuple[subprocess.Popen, set[str]]:
    """verify-patch in a process of its own, once its scratch overlay is mounted."""
    before = scratch_mounts(tree)
    cmd = [sys.executable, "-m", "fpdsl.cli", "verify-patch", str(patch), "--tree", str(tree)]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(1200):
        mounted = scratch_mounts(tree) - before
        if mounted or run.poll() is not None:
            break
        time.sleep(0.1)
    assert mounted, "verify-patch mounted no scratch overlay"
    return run, mounted


@kernel
def test_a_stopped_or_killed_run_leaves_no_mount_6_1(kernel_6_1: Path, tmp_path: Path) -> None:
    """SIGTERM: the run unmounts its copy and exits 143. SIGKILL leaves the
    mount; the next run removes it, as its report says."""
    patch = tmp_path / "clean.patch"
    patch.write_text(mail(kernel_6_1, CLEAN, "a comment"))
    run, mounted = start_verify_until_mounted(kernel_6_1, patch)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=600)
    assert run.returncode == 128 + signal.SIGTERM, out + err
    assert "fpdsl: stopped by SIGTERM, cleaning up" in err and "Traceback" not in err
    assert not (mounted & scratch_mounts(kernel_6_1))

    run, mounted = start_verify_until_mounted(kernel_6_1, patch)
    run.kill()
    run.communicate(timeout=600)
    assert mounted <= scratch_mounts(kernel_6_1)  # the mount outlives a killed run
    copy = Scratch(kernel_6_1, [FPSIMD_C], method="overlay")
    try:
        ok, _, summary = copy.create()
        assert ok and summary == "overlay mount (removed 1 stale scratch mount(s) of killed runs)"
        assert not (mounted & scratch_mounts(kernel_6_1))
    finally:
        copy.remove()
    assert not leftovers(kernel_6_1)


@kernel
def test_tree_unchanged_and_report_deterministic_6_1(undeclared_6_1, kernel_6_1: Path) -> None:
    """The hard-link farm (the fallback when no overlay can be mounted) leaves
    the cached tree as it was, here with a patch that does not compile (the
    build still writes generated files); and the report reads the same
    whichever scratch copy was used. The overlay runs left no trace either."""
    first = snapshot(kernel_6_1, [FPSIMD_C])
    linked = verify_patch(mail(kernel_6_1, UNDECLARED, "call a hook"), kernel_6_1, method="hardlink")
    assert linked.step("scratch copy").summary.startswith("hard-link farm, ")
    assert snapshot(kernel_6_1, [FPSIMD_C]) == first
    assert not leftovers(kernel_6_1)

    def without_copy(report) -> list[str]:
        return [line for line in report.render(verbose=True).split("\n") if "scratch copy" not in line]

    assert without_copy(linked) == without_copy(undeclared_6_1)


@kernel
def test_clean_patch_with_hyp_header_passes_6_12(kernel_6_12: Path) -> None:
    edits = {**CLEAN, HYP_SWITCH_HEADER: before("static inline bool __populate_fault_info", ["/* fpdsl */\n"])}
    report = verify_patch(mail(kernel_6_12, edits, "comments"), kernel_6_12)
    assert report.ok, report.render(verbose=True)
    compiled = [s.name.removeprefix("compile ") for s in report.steps if s.name.startswith("compile ")]
    assert compiled == [*CORE, "arch/arm64/kvm/hyp/vhe/switch.o", "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o"]
    assert "CC      arch/arm64/kvm/hyp/nvhe/switch.nvhe.o" in report.step(f"compile {compiled[-1]}").output
    assert not leftovers(kernel_6_12)


def test_touched_files_and_objects(tmp_path: Path) -> None:
    patch = "diff --git a/x/a.c b/x/a.c\n--- a/x/a.c\n+++ b/x/a.c\n--- a/arch/arm64/kvm/hyp/nvhe/y.S\n"
    assert touched_files(patch) == ["x/a.c", "arch/arm64/kvm/hyp/nvhe/y.S"]
    assert touched_files("--- /dev/null\n+++ b/new.h\n") == ["new.h"]
    (tmp_path / "arch/arm64/kvm").mkdir(parents=True)
    (tmp_path / "arch/arm64/kvm/fpsimd.c").write_text("")
    assert default_objects(tmp_path, ["x/a.c", HYP_SWITCH_HEADER, "arch/arm64/kvm/hyp/nvhe/y.S"], ["z.o"]) == [
        "arch/arm64/kvm/fpsimd.o",
        "x/a.o",
        "arch/arm64/kvm/hyp/vhe/switch.o",
        "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o",
        "arch/arm64/kvm/hyp/nvhe/y.nvhe.o",
        "z.o",
    ]


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda t: None, "not a kernel tree"),
        (lambda t: [_touch(t / p) for p in ("Makefile", "scripts/checkpatch.pl", "arch/arm64/Makefile")],
         "not configured for arm64"),
    ],
    ids=["empty", "unconfigured"],
)  # fmt: skip
def test_usage_errors_exit_2(tmp_path: Path, setup, message: str) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    setup(tree)
    patch = tmp_path / "p.patch"
    patch.write_text("--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n")
    cmd = [sys.executable, "-m", "fpdsl.cli", "verify-patch", str(patch), "--tree", str(tree)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    missing = subprocess.run([*cmd[:4], str(tmp_path / "none.patch"), *cmd[5:]], capture_output=True, text=True)
    assert missing.returncode == 2 and "no such file" in missing.stderr
