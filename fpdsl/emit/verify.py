"""Verify a patch against a real, prepared arm64 kernel tree: apply it to a
disposable copy of the tree, run the tree's own checkpatch.pl, and compile
the objects the patch can affect with the arm64 cross compiler.

The tree itself is never written. The scratch copy is an overlay mount
with the tree as its read-only lower layer when we may mount (root), else a
hard-link farm (`cp -al`) in which every file the patch touches and every
file the build may rewrite in place (kbuild outputs: generated headers, the
config, objects and their `.cmd` files) is first replaced by a real copy of
its own, so that no write reaches the tree through a link. Both are cheap
to make and to remove (a deep copy is not: its deletion alone takes long on
a file system mounted with `discard`).

The report is the same text for the same inputs; only the timings vary and
they are not part of `render()` unless asked for.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fpdsl.diagnostics import UsageError

TIMEOUT = 3600  # seconds for any one step
JOBS = "-j2"
# kbuild's progress lines ("  CC      arch/arm64/kvm/arm.o"): under -j2 their
# order varies from run to run, so the report keeps only what the tools said
# and the line that shows the object itself was built.
KBUILD_PROGRESS = re.compile(r"^  [A-Z][A-Z0-9_-]*\s+(\S+)\n", re.MULTILINE)
# Always compiled when they exist (6.x layout): the FPSIMD hand-over on both sides.
CORE_OBJECTS = ("arch/arm64/kvm/arm.o", "arch/arm64/kvm/fpsimd.o", "arch/arm64/kernel/fpsimd.o")
HYP_SWITCH_HEADER = "arch/arm64/kvm/hyp/include/hyp/switch.h"
HYP_SWITCH_OBJECTS = ("arch/arm64/kvm/hyp/vhe/switch.o", "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o")
NVHE_DIR = "arch/arm64/kvm/hyp/nvhe/"
# Where kbuild writes, and what it writes, besides objects with a .cmd file.
GENERATED_DIRS = ("include/generated/", "include/config/", "arch/arm64/include/generated/")
GENERATED_SUFFIXES = (".o", ".a", ".s", ".so", ".lds", ".cmd", ".dbg", ".order", ".symvers")
TOTAL = re.compile(r"^total: (\d+) errors?, (\d+) warnings?", re.MULTILINE)
MARKER = "<scratch>"


@dataclass
class Step:
    name: str
    ok: bool
    output: str = ""
    seconds: float = 0.0
    summary: str = ""


@dataclass
class VerifyReport:
    tree: Path
    touched: list[str]
    objects: list[str]
    steps: list[Step] = field(default_factory=list)
    scratch: Path | None = None  # kept on request, else removed

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def render(self, *, timings: bool = False, verbose: bool = False) -> str:
        """One line per step; the tool's own output under every failed step
        (under every step with `verbose`)."""
        out = [f"tree: {self.tree}", f"touched: {', '.join(self.touched)}"]
        for s in self.steps:
            line = f"[{'ok' if s.ok else 'FAIL'}] {s.name}"
            if s.summary:
                line += f": {s.summary}"
            if timings:
                line += f" ({s.seconds:.1f}s)"
            out.append(line)
            if (verbose or not s.ok) and s.output.strip():
                out.extend(f"    {text}" for text in s.output.rstrip("\n").split("\n"))
        out.append(f"verify-patch: {'ok' if self.ok else 'FAILED'}")
        return "\n".join(out) + "\n"


def touched_files(patch_text: str) -> list[str]:
    """The tree paths a patch changes (git's -p1), in the patch's order."""
    paths: list[str] = []
    for line in patch_text.split("\n"):
        names: list[str] = []
        if line.startswith("diff --git "):
            m = re.match(r"diff --git a/(\S+) b/(\S+)$", line)
            names = list(m.groups()) if m else []
        elif line.startswith(("--- ", "+++ ")):
            name = line[4:].split("\t")[0].strip()
            if name != "/dev/null" and "/" in name:
                names = [name.split("/", 1)[1]]
        for name in names:
            if name not in paths:
                paths.append(name)
    return paths


def default_objects(tree: Path, touched: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """The objects to compile: the core FPSIMD objects that exist, one per
    touched C or assembler file, the hyp switch objects when the shared
    switch header is touched, and `extra` (for other headers)."""
    objects: list[str] = [o for o in CORE_OBJECTS if (tree / o).with_suffix(".c").is_file()]
    for path in touched:
        if path.endswith((".c", ".S")):
            stem = path[: -len(".c")] if path.endswith(".c") else path[: -len(".S")]
            objects.append(stem + (".nvhe.o" if path.startswith(NVHE_DIR) else ".o"))
        elif path == HYP_SWITCH_HEADER:
            objects.extend(HYP_SWITCH_OBJECTS)
    objects.extend(extra)
    return list(dict.fromkeys(objects))


def check_tree(tree: Path) -> None:
    """Raise UsageError unless `tree` is a kernel tree prepared for arm64."""
    if not tree.is_dir():
        raise UsageError(f"--tree {tree}: no such directory")
    missing = [p for p in ("Makefile", "scripts/checkpatch.pl", "arch/arm64/Makefile") if not (tree / p).is_file()]
    if missing:
        raise UsageError(f"--tree {tree}: not a kernel tree with arm64 (no {', '.join(missing)})")
    config = tree / ".config"
    prepared = ("include/generated/autoconf.h", "include/config/auto.conf", "include/generated/asm-offsets.h")
    if not config.is_file() or "CONFIG_ARM64=y" not in config.read_text(errors="replace"):
        raise UsageError(f"--tree {tree}: not configured for arm64; run: make ARCH=arm64 defconfig prepare")
    if not all((tree / p).is_file() for p in prepared):
        raise UsageError(f"--tree {tree}: not prepared; run: make ARCH=arm64 CROSS_COMPILE=... defconfig prepare")


def verify_patch(
    patch_text: str,
    tree: Path,
    *,
    objects: list[str] | None = None,
    cross_compile: str = "aarch64-linux-gnu-",
    keep: bool = False,
    method: str = "auto",
) -> VerifyReport:
    """Apply `patch_text` to a scratch copy of the prepared kernel `tree`,
    run checkpatch on it and compile the affected objects there. `method`:
    "auto" (an overlay mount if possible, else hard links), "overlay" or
    "hardlink"; `keep` leaves a hard-link farm behind (`report.scratch`)."""
    if method not in ("auto", "overlay", "hardlink"):
        raise ValueError(f"method: {method!r}")
    tree = Path(tree).resolve()
    check_tree(tree)
    touched = touched_files(patch_text)
    if not touched:
        raise UsageError("the patch changes no file (no 'diff --git' or '---'/'+++' lines)")
    for tool in ("git", "perl", "make", f"{cross_compile}gcc"):
        if shutil.which(tool) is None:
            raise UsageError(f"{tool} not found on PATH")
    report = VerifyReport(tree, touched, default_objects(tree, touched, objects or ()))
    copy = Scratch(tree, touched, keep=keep, method=method)
    try:
        if not _run_step(report, "scratch copy", copy.create) or copy.root is None:
            return report
        scratch = copy.root
        # The kernel's Makefile unexports LC_ALL: set the others too, for gcc's plain quotes.
        env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(scratch.parent)}
        env.update(dict.fromkeys(("LC_ALL", "LANG", "LC_CTYPE", "LC_MESSAGES"), "C"))
        apply = ["git", "apply", "--verbose"]
        if not _command(report, "git apply --check", [*apply, "--check", "-"], scratch, env, patch_text):
            return report
        if not _command(report, "git apply", [*apply, "-"], scratch, env, patch_text):
            return report
        _checkpatch(report, scratch, env, patch_text)
        make = ["make", "ARCH=arm64", f"CROSS_COMPILE={cross_compile}", JOBS]
        for obj in report.objects:
            _command(report, f"compile {obj}", [*make, obj], scratch, env, built=obj)
    finally:
        if keep:
            report.scratch = copy.root
        else:
            copy.remove()
    return report


class Scratch:
    """A disposable copy of a tree to apply and build in. An overlay mount
    (the tree is its read-only lower layer) when root may mount one, else a
    hard-link farm beside the tree with real copies of every file that may
    be written. `keep` always makes a hard-link farm: it outlives the run."""

    def __init__(self, tree: Path, touched: list[str], *, keep: bool = False, method: str = "auto") -> None:
        self.tree, self.touched, self.keep = tree, touched, keep
        self.method = "hardlink" if keep or method == "hardlink" else method
        self.base: Path | None = None
        self.root: Path | None = None  # where the patched tree is
        self.mounted = False
        self.kind = "kept" if keep else "verify"  # how a left-over folder is named

    def create(self) -> tuple[bool, str, str]:
        if self.method in ("auto", "overlay"):
            ok, output = self._overlay()
            if ok or self.method == "overlay":
                return ok, output, "overlay mount" if ok else "cannot mount an overlay"
        return self._hardlinks()

    def _overlay(self) -> tuple[bool, str]:
        lower = str(self.tree)
        if os.geteuid() != 0 or shutil.which("mount") is None or any(c in lower for c in ",:\\"):
            return False, "overlay needs root, mount(8) and a tree path without ',', ':' or '\\'"
        self.base = Path(tempfile.mkdtemp(prefix="fpdsl-verify-"))
        upper, work, root = (self.base / n for n in ("upper", "work", "tree"))
        for d in (upper, work, root):
            d.mkdir()
        options = f"lowerdir={lower},upperdir={upper},workdir={work}"
        done = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(root)], capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            self.remove()
            return False, done.stderr
        self.root, self.mounted = root, True
        return True, ""

    def _hardlinks(self) -> tuple[bool, str, str]:
        # Beside the tree: hard links need the same file system.
        try:
            self.base = Path(tempfile.mkdtemp(prefix=f".{self.tree.name}.{self.kind}-", dir=self.tree.parent))
        except OSError:
            self.base = Path(tempfile.mkdtemp(prefix=f"fpdsl-{self.kind}-"))
        self.root = self.base / "tree"
        cp = ["cp", "-al", str(self.tree), str(self.root)]
        if subprocess.run(cp, capture_output=True, text=True, timeout=TIMEOUT).returncode != 0:
            _remove(self.root)
            cp[1] = "-a"
            done = subprocess.run(cp, capture_output=True, text=True, timeout=TIMEOUT)
            return done.returncode == 0, done.stderr, "full copy (hard links failed)"
        copied = sum(_unshare(self.root / p) for p in sorted(set(self.touched) | set(_build_outputs(self.root))))
        return True, "", f"hard-link farm, {copied} files copied"

    def remove(self) -> None:
        if self.mounted and self.root is not None:
            umount = ["umount", str(self.root)]
            if subprocess.run(umount, capture_output=True, timeout=300).returncode != 0:
                subprocess.run(["umount", "-l", str(self.root)], capture_output=True, timeout=300)
            self.mounted = False
        if self.base is not None:
            _remove(self.base)


def _build_outputs(root: Path) -> Iterable[str]:
    """Files kbuild may rewrite in place: everything under the generated
    folders, files with a kbuild suffix, `.config*` and every target with a
    `.<name>.cmd` beside it."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else rel + "/"
        names = set(files)
        generated_dir = any(prefix.startswith(g) for g in GENERATED_DIRS)
        for name in files:
            if (
                generated_dir
                or name.endswith(GENERATED_SUFFIXES)
                or name.startswith(".config")
                or f".{name}.cmd" in names
            ):
                yield prefix + name


def _unshare(path: Path) -> int:
    """Replace a hard link by a copy of its own (same mtime). 1 if copied."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return 0
    if not path.is_file() or path.is_symlink() or st.st_nlink < 2:
        return 0
    tmp = path.with_name(f".{path.name}.fpdsl-copy")
    shutil.copy2(path, tmp)
    os.replace(tmp, path)
    return 1


def _remove(path: Path) -> None:
    if path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False, timeout=TIMEOUT)


def _run_step(report: VerifyReport, name: str, action) -> bool:
    start = time.monotonic()
    try:
        ok, output, summary = action()
    except (OSError, subprocess.SubprocessError) as exc:
        ok, output, summary = False, str(exc), "error"
    report.steps.append(Step(name, ok, output, time.monotonic() - start, summary))
    return ok


def _command(
    report: VerifyReport,
    name: str,
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    stdin: str | None = None,
    built: str | None = None,
) -> bool:
    def action() -> tuple[bool, str, str]:
        done = subprocess.run(
            cmd, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=TIMEOUT, errors="replace",
        )  # fmt: skip
        output = _clean(done.stdout, cwd)
        if built is not None:
            output = KBUILD_PROGRESS.sub(lambda m: m.group(0) if m.group(1) == built else "", output)
        summary = "" if done.returncode == 0 else _first_error(output) or f"exit status {done.returncode}"
        return done.returncode == 0, output, summary

    return _run_step(report, name, action)


def _checkpatch(report: VerifyReport, scratch: Path, env: dict[str, str], patch_text: str) -> bool:
    def action() -> tuple[bool, str, str]:
        done = subprocess.run(
            ["perl", "scripts/checkpatch.pl", "--no-tree", "-"], cwd=scratch, env=env, input=patch_text,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT, errors="replace",
        )  # fmt: skip
        output = _clean(done.stdout, scratch)
        m = TOTAL.search(output)
        if m is None:
            return False, output, f"no 'total:' line (exit status {done.returncode})"
        errors, warnings = int(m.group(1)), int(m.group(2))
        return errors == 0 and warnings == 0, output, f"{errors} errors, {warnings} warnings"

    return _run_step(report, "checkpatch", action)


def _clean(output: str, scratch: Path) -> str:
    """The tool's output with the scratch folder's name (random) replaced."""
    return output.replace(str(scratch) + "/", "").replace(str(scratch), MARKER)


def _first_error(output: str) -> str:
    for pattern in (r"^\S+:\d+:\d+: error: .*$", r"^error: .*$", r"^.*\*\*\* .*$"):
        m = re.search(pattern, output, re.MULTILINE)
        if m:
            return m.group(0).strip()
    return ""
