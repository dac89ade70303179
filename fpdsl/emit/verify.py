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

2018 trees (v4.15-v4.20) differ from 6.x: KVM's arm.c is virt/kvm/arm/arm.c,
built from arch/arm64/kvm/Makefile, so the default objects are kbuild
directories (`arch/arm64/kvm/`); their host tool dtc needs
`HOSTCFLAGS=-fcommon` with gcc >= 10 (detected from the tree); and their KVM
is also built for 32-bit ARM, which `arm32=True` checks in a second scratch
copy configured for ARCH=arm, counting only C errors the patch adds (today's
binutils rejects the old arm32 KVM assembly, patched or not).

A patch series (several mails) is applied in order, each mail checked by
checkpatch, and built once.

The report is the same text for the same inputs; only the timings vary and
they are not part of `render()` unless asked for.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fpdsl.diagnostics import UsageError

TIMEOUT = 3600  # seconds for any one step
JOBS = "-j2"
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
# The 2018 layout (v4.15-v5.9): KVM's arm.c is shared with 32-bit ARM, and
# the arm64 objects of virt/kvm/ are built from arch/arm64/kvm/Makefile.
LAYOUT_2018_MARKER = "virt/kvm/arm/arm.c"
ARM64_KVM_DIR = "arch/arm64/kvm/"
FPSIMD_OBJECT = "arch/arm64/kernel/fpsimd.o"
KVM_SOURCE_DIRS = ("virt/kvm/", "arch/arm64/kvm/")
# dtc's lexer in trees before v5.7 (and their stable releases until early
# 2020) defines the global `yylloc` the bison parser defines too: with
# gcc >= 10 (-fno-common by default) the host tool dtc fails to link.
DTC_LEXERS = ("scripts/dtc/dtc-lexer.l", "scripts/dtc/dtc-lexer.lex.c_shipped")
YYLLOC_DEFINITION = re.compile(r"^YYLTYPE\s+yylloc\s*;", re.MULTILINE)
FCOMMON = "HOSTCFLAGS=-fcommon"
FCOMMON_NOTE = (
    f"{FCOMMON} on every make call: the tree's dtc lexer defines the global yylloc the parser also defines "
    "(gcc >= 10 defaults to -fno-common and cannot link dtc without it)"
)
# The 32-bit ARM check (2018 trees): a multi_v7 configuration with KVM.
ARM32_KVM_DIR = "arch/arm/kvm/"
ARM32_DEFCONFIG = "multi_v7_defconfig"
ARM32_OPTIONS = ("ARM_LPAE", "VIRTUALIZATION", "KVM")
ARM32_CROSS_COMPILE = "arm-linux-gnueabihf-"
ARM32_CACHE = Path(os.environ.get("FPDSL_CACHE", Path.home() / ".cache" / "fpdsl")) / "arm32"
ARM32_CACHE_VERSION = 1  # bump when what the cached layer holds changes
ARM32_SOURCES = ("virt", "arch/arm", "include", "scripts")
SOURCE_SUFFIXES = (".c", ".h", ".S", ".l", ".y", ".sh", ".pl", ".lds", "_shipped", ".tbl")
ARM32_WITNESS = "virt/kvm/arm/arm.o"  # the arm32 build must at least have compiled this
# gcc's C errors: `file.c:L:C: error: ...` (also `fatal error:`), in .c and .h files only.
C_ERROR = re.compile(r"^(?P<file>[^\s:]+\.[ch]):(?P<line>\d+):(?P<col>\d+): (?P<msg>(?:fatal )?error: .*)$")
ERROR_WORD = re.compile(r"\berror\b", re.IGNORECASE)
MAKE_LINE = re.compile(r"^make(\[\d+\])?: ")
# kbuild's progress lines ("  CC      arch/arm64/kvm/arm.o"): under -j2 their
# order varies from run to run, so the report sorts the output by them and
# keeps only the ones that show the target itself was built.
PROGRESS_LINE = re.compile(r"^  [A-Z][A-Z0-9_-]*\s+(\S+)$")
OBJECT_COMPONENT = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")
PATCH_NAME = re.compile(r"^\d{4}-.+\.patch$")
COVER_SUBJECT = re.compile(r"^Subject: \[[^]]*\b0+/\d+\]", re.MULTILINE)


@dataclass(frozen=True)
class PatchFile:
    """One mail of a series: its name (for step names) and its text."""

    name: str
    text: str

    @property
    def touched(self) -> list[str]:
        return touched_files(self.text)

    @property
    def is_cover_letter(self) -> bool:
        """A mail that changes no file and is a series' [PATCH 0/N] or 0000-*.patch."""
        return not self.touched and (bool(COVER_SUBJECT.search(self.text)) or self.name.startswith("0000-"))


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
    notes: list[str] = field(default_factory=list)  # workarounds applied, mails skipped
    patches: list[str] = field(default_factory=list)  # the mails' names, for a series

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def render(self, *, timings: bool = False, verbose: bool = False) -> str:
        """One line per step; the tool's own output under every failed step
        (under every step with `verbose`)."""
        out = [f"tree: {self.tree}"]
        if len(self.patches) > 1:
            out.append(f"patches: {', '.join(self.patches)}")
        out.append(f"touched: {', '.join(self.touched)}")
        out.extend(f"note: {note}" for note in self.notes)
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


def unsafe_path(path: str) -> str | None:
    """Why a path a patch names cannot be a file of the tree, or None."""
    if not path or path.startswith("/"):
        return "an absolute path"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "a path with an empty, '.' or '..' component"
    if any(ord(ch) < 0x20 or ch == "\\" for ch in path):
        return "a path with a control character or backslash"
    return None


def is_2018_layout(tree: Path) -> bool:
    """Whether KVM's arm.c is virt/kvm/arm/arm.c (v4.15-v5.9), built from arch/*/kvm/."""
    return (tree / LAYOUT_2018_MARKER).is_file()


def default_objects(tree: Path, touched: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """The objects to compile, then `extra` (for other headers).

    6.x layout: the core FPSIMD objects that exist, one per touched C or
    assembler file, the hyp switch objects when the shared switch header is
    touched. 2018 layout: the kbuild directory `arch/arm64/kvm/` for anything
    under virt/kvm/ or arch/arm64/kvm/ (its Makefile builds both), one object
    per other touched C or assembler file, and for a header both
    `arch/arm64/kvm/` and `arch/arm64/kernel/fpsimd.o`."""
    if is_2018_layout(tree):
        objects = objects_2018(touched)
    else:
        objects = [o for o in CORE_OBJECTS if (tree / o).with_suffix(".c").is_file()]
        for path in touched:
            if path.endswith((".c", ".S")):
                objects.append(_stem(path) + (".nvhe.o" if path.startswith(NVHE_DIR) else ".o"))
            elif path == HYP_SWITCH_HEADER:
                objects.extend(HYP_SWITCH_OBJECTS)
    objects.extend(extra)
    return list(dict.fromkeys(objects))


def objects_2018(touched: Iterable[str]) -> list[str]:
    """What to build in a 2018 tree for the touched paths (see default_objects)."""
    objects: list[str] = []
    for path in touched:
        if path.startswith(KVM_SOURCE_DIRS):
            objects.append(ARM64_KVM_DIR)
        elif path.endswith(".h"):
            objects.extend((ARM64_KVM_DIR, FPSIMD_OBJECT))
        elif path.endswith((".c", ".S")):
            objects.append(_stem(path) + ".o")
    return list(dict.fromkeys(objects))


def _stem(path: str) -> str:
    return path.rsplit(".", 1)[0]


def check_object(obj: str, tree: Path | None = None) -> str:
    """`obj` as a make target: a tree-relative object (`dir/name.o`) or kbuild
    directory (`dir/`, the slash added when `tree` has that directory). Raise
    UsageError for an absolute path, `.` or `..` components, characters make
    would read as something else, or (with `tree`) a directory without a
    Makefile or Kbuild."""
    what = "expected a tree-relative object (dir/name.o) or kbuild directory (dir/)"
    parts = obj.rstrip("/").split("/")
    if not obj or obj.startswith("/") or not all(OBJECT_COMPONENT.match(c) for c in parts):
        reason = "an absolute path" if obj.startswith("/") else "'..'" if ".." in parts else "not a plain path"
        raise UsageError(f"--object {obj!r}: {what}; {reason}")
    if obj.endswith(".o") and not obj.endswith("/"):
        return obj
    folder = "/".join(parts)
    if tree is not None:
        if not (tree / folder).is_dir():
            raise UsageError(f"--object {obj}: {what}; {folder}/ is not a directory of {tree}")
        if not any((tree / folder / name).is_file() for name in ("Makefile", "Kbuild")):
            raise UsageError(f"--object {obj}: {folder}/ has no Makefile or Kbuild, it is not a kbuild directory")
    elif not obj.endswith("/"):
        raise UsageError(f"--object {obj}: {what}")
    return folder + "/"


def needs_fcommon(tree: Path) -> bool:
    """Whether the tree's dtc needs HOSTCFLAGS=-fcommon to link with gcc >= 10:
    its lexer (or the shipped lexer that older trees compile) defines `yylloc`."""
    for rel in DTC_LEXERS:
        try:
            text = (tree / rel).read_text(errors="replace")
        except OSError:
            continue
        if YYLLOC_DEFINITION.search(text):
            return True
    return False


def make_command(arch: str, cross_compile: str, *, fcommon: bool) -> list[str]:
    """make with the architecture, the cross compiler, -j2 and, when the tree
    needs it, HOSTCFLAGS=-fcommon on the command line (4.16-4.18 Makefiles
    assign HOSTCFLAGS themselves, so a plain environment variable is lost;
    a command-line variable reaches every sub-make through MAKEFLAGS)."""
    return ["make", f"ARCH={arch}", f"CROSS_COMPILE={cross_compile}", *([FCOMMON] if fcommon else []), JOBS]


def prepare_command(tree: Path, cross_compile: str = "aarch64-linux-gnu-", *, mrproper: bool = False) -> str:
    """The exact command that prepares `tree` for verify-patch."""
    make = make_command("arm64", cross_compile, fcommon=needs_fcommon(tree))
    make.remove(JOBS)
    return shlex.join(
        [*make[:1], "-C", str(tree), *make[1:], *(["mrproper"] if mrproper else []), "defconfig", "prepare"]
    )


def check_tree(tree: Path, cross_compile: str = "aarch64-linux-gnu-") -> None:
    """Raise UsageError unless `tree` is a kernel tree prepared for arm64; the
    message gives the exact command that prepares it. verify-patch never
    writes the tree itself, so it does not prepare it either."""
    if not tree.is_dir():
        raise UsageError(f"--tree {tree}: no such directory")
    missing = [p for p in ("Makefile", "scripts/checkpatch.pl", "arch/arm64/Makefile") if not (tree / p).is_file()]
    if missing:
        raise UsageError(f"--tree {tree}: not a kernel tree with arm64 (no {', '.join(missing)})")
    config = tree / ".config"
    prepared = ("include/generated/autoconf.h", "include/config/auto.conf", "include/generated/asm-offsets.h")
    text = config.read_text(errors="replace") if config.is_file() else ""
    if "CONFIG_ARM64=y" not in text:
        other = re.search(r"^CONFIG_(ARM|X86|X86_64|RISCV|PPC|S390|MIPS)=y$", text, re.MULTILINE)
        state = (
            f"its .config has CONFIG_{other.group(1)}=y" if other else "no .config" if not text else "no CONFIG_ARM64=y"
        )
        command = prepare_command(tree, cross_compile, mrproper=bool(other))
        raise UsageError(f"--tree {tree}: not configured for arm64 ({state}); run: {command}")
    if not all((tree / p).is_file() for p in prepared):
        raise UsageError(f"--tree {tree}: not prepared; run: {prepare_command(tree, cross_compile)}")


def series_files(paths: Sequence[str | Path]) -> list[Path]:
    """The patch files to apply, in order: each file as given, and for a
    directory its `NNNN-*.patch` files sorted by name (what `git format-patch`
    and `fpdsl emit-patch --series` write; the cover letter is skipped later,
    as it changes no file)."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if PATCH_NAME.match(p.name) and p.is_file())
            if not found:
                raise UsageError(f"{path}: a directory without NNNN-*.patch files")
            files.extend(found)
        else:
            files.append(path)
    return files


def select_patches(mails: Sequence[PatchFile]) -> tuple[list[PatchFile], list[str]]:
    """The mails to apply, in the given order, and a note for each cover
    letter of a series left out. Raise UsageError for a mail that changes no
    file and is not a series' cover letter, or when nothing is left."""
    patches: list[PatchFile] = []
    notes: list[str] = []
    for mail in mails:
        if mail.touched:
            patches.append(mail)
        elif len(mails) > 1 and mail.is_cover_letter:
            notes.append(f"{mail.name or 'a mail'}: a cover letter, not applied")
        else:
            name = f"{mail.name}: " if mail.name else ""
            raise UsageError(f"{name}the patch changes no file (no 'diff --git' or '---'/'+++' lines)")
    if not patches:
        raise UsageError("no patch to apply: every mail is a cover letter")
    return patches, notes


def verify_patch(
    patch_text: str | Sequence[PatchFile],
    tree: Path,
    *,
    objects: Sequence[str] | None = None,
    cross_compile: str = "aarch64-linux-gnu-",
    keep: bool = False,
    method: str = "auto",
    arm32: bool = False,
    arm32_cross_compile: str = ARM32_CROSS_COMPILE,
) -> VerifyReport:
    """Apply `patch_text` (one mail, or a series of mails in order) to a
    scratch copy of the prepared kernel `tree`, run checkpatch on each mail
    and compile the affected objects and kbuild directories there once.
    `method`: "auto" (an overlay mount if possible, else hard links),
    "overlay" or "hardlink"; `keep` leaves a hard-link farm behind
    (`report.scratch`). `arm32` (2018 trees) also builds the 32-bit ARM KVM
    objects unpatched and patched in a second scratch copy and fails on any
    C error the patch adds."""
    if method not in ("auto", "overlay", "hardlink"):
        raise ValueError(f"method: {method!r}")
    tree = Path(tree).resolve()
    patches, notes = select_patches([PatchFile("", patch_text)] if isinstance(patch_text, str) else patch_text)
    touched = list(dict.fromkeys(path for mail in patches for path in mail.touched))
    for path in touched:
        problem = unsafe_path(path)
        if problem:
            # Refused before any scratch copy exists: nothing outside it is touched.
            raise UsageError(f"the patch names {path!r}, {problem}; verify-patch changes only files inside the tree")
    check_tree(tree, cross_compile)
    extra = [check_object(o, tree) for o in objects or ()]
    tools = ["git", "perl", "make", f"{cross_compile}gcc"]
    if arm32:
        if not (tree / ARM32_KVM_DIR / "Makefile").is_file() or not is_2018_layout(tree):
            raise UsageError(f"--arm32: {tree} has no 32-bit ARM KVM ({ARM32_KVM_DIR}Makefile building virt/kvm/arm/)")
        tools.append(f"{arm32_cross_compile}gcc")
    for tool in tools:
        if shutil.which(tool) is None:
            raise UsageError(f"{tool} not found on PATH")
    fcommon = needs_fcommon(tree)
    if fcommon:
        notes.insert(0, FCOMMON_NOTE)
    report = VerifyReport(tree, touched, default_objects(tree, touched, extra), notes=notes)
    report.patches = [mail.name for mail in patches]
    copy = Scratch(tree, touched, keep=keep, method=method)
    try:
        if not _run_step(report, "scratch copy", copy.create) or copy.root is None:
            return report
        scratch = copy.root
        env = _environment(scratch)
        if not _apply_series(report, patches, scratch, env):
            return report
        make = make_command("arm64", cross_compile, fcommon=fcommon)
        for obj in report.objects:
            _command(report, f"compile {obj}", [*make, *_target_flags(obj), obj], scratch, env, built=obj)
        if arm32:
            _arm32_check(report, patches, make_command("arm", arm32_cross_compile, fcommon=fcommon), method)
    finally:
        if keep:
            report.scratch = copy.root
        else:
            copy.remove()
    return report


def _environment(scratch: Path) -> dict[str, str]:
    # The kernel's Makefile unexports LC_ALL: set the others too, for gcc's plain quotes.
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(scratch.parent)}
    env.update(dict.fromkeys(("LC_ALL", "LANG", "LC_CTYPE", "LC_MESSAGES"), "C"))
    return env


def _target_flags(target: str) -> list[str]:
    """A kbuild directory: build all of it (-k), each target's output in one
    piece (-Otarget) so that the report can put them in a stable order."""
    return ["-k", "--output-sync=target"] if target.endswith("/") else []


def _apply_series(report: VerifyReport, patches: list[PatchFile], scratch: Path, env: dict[str, str]) -> bool:
    """git apply --check, git apply and checkpatch for each mail in order;
    False as soon as one does not apply. Step names carry the mail's name
    when there are several."""
    apply = ["git", "apply", "--verbose"]
    for mail in patches:
        suffix = f" {mail.name}" if len(patches) > 1 else ""
        if not _command(report, f"git apply --check{suffix}", [*apply, "--check", "-"], scratch, env, mail.text):
            return False
        if not _command(report, f"git apply{suffix}", [*apply, "-"], scratch, env, mail.text):
            return False
        _checkpatch(report, scratch, env, mail.text, f"checkpatch{suffix}")
    return True


@dataclass(frozen=True)
class CError:
    """One gcc C error: the file (normalised: arch/arm/kvm/../../../virt/kvm/arm/arm.c
    is virt/kvm/arm/arm.c), its position, the message and gcc's lines."""

    file: str
    line: int
    column: int
    message: str  # "error: ..." or "fatal error: ..."
    text: str  # gcc's error line (file normalised) and the source lines it quotes

    @property
    def key(self) -> tuple[str, str]:
        """What two builds are compared by: no line numbers, which a patch moves."""
        return self.file, self.message


def c_errors(output: str) -> list[CError]:
    """gcc's C errors in a build's output, in order. Assembler errors
    (`file.s:N: Error:`, `{standard input}`, `.S` files) and make's own
    failure lines are not C errors."""
    errors: list[CError] = []
    lines = output.split("\n")
    for i, line in enumerate(lines):
        m = C_ERROR.match(line)
        if m is None:
            continue
        file = os.path.normpath(m.group("file"))
        quoted = []
        for follow in lines[i + 1 :]:
            if not follow.startswith(" ") or PROGRESS_LINE.match(follow):
                break
            quoted.append(follow)
        head = f"{file}:{m.group('line')}:{m.group('col')}: {m.group('msg')}"
        errors.append(
            CError(file, int(m.group("line")), int(m.group("col")), m.group("msg"), "\n".join([head, *quoted]))
        )
    return errors


def new_c_errors(before: Iterable[CError], after: Iterable[CError]) -> list[CError]:
    """The errors of `after` that `before` lacks, compared without line
    numbers and counted (a second identical error in the same file is new)."""
    left = Counter(e.key for e in before)
    new = []
    for error in after:
        if left[error.key] > 0:
            left[error.key] -= 1
        else:
            new.append(error)
    return new


def _compiled(output: str, obj: str) -> bool:
    """Whether a kbuild progress line shows `obj` (tree-relative, normalised) being built."""
    return any(
        m and os.path.normpath(m.group(1)) == obj for m in (PROGRESS_LINE.match(line) for line in output.split("\n"))
    )


def _arm32_check(report: VerifyReport, patches: list[PatchFile], make: list[str], method: str) -> None:
    """Build the 32-bit ARM KVM objects in a second scratch copy, configured
    for ARCH=arm (kbuild refuses O= beside a configured source tree, so the
    copy is cleaned with mrproper first), before and after applying the
    patches; fail on a C error the patched build has and the unpatched lacks.

    With an overlay, the configured and built unpatched copy is kept per tree
    (ARM32_CACHE; keyed by the tree's path, its sources' mtimes and sizes
    and the compiler) and is the middle layer of later runs' overlays, which
    then only rebuild what the patches change. The report reads the same
    either way (the cached steps take 0 s)."""
    build = [*make, *_target_flags(ARM32_KVM_DIR), ARM32_KVM_DIR]
    with contextlib.ExitStack() as held:  # a shared lock on the cached layer while it is mounted
        base = _arm32_base(report.tree, make, build, held) if method in ("auto", "overlay") else None
        _arm32_run(report, patches, make, build, method, base)


def _arm32_run(
    report: VerifyReport,
    patches: list[PatchFile],
    make: list[str],
    build: list[str],
    method: str,
    base: tuple[list[Step], Path | None, list[CError]] | None,
) -> None:
    before: list[CError] = []
    if base is not None:
        steps, layer, errors = base
        if layer is None:  # the unpatched copy could not be configured or built
            report.steps.extend(steps)
            return
        copy = Scratch(report.tree, report.touched, method="overlay", lower=[layer])
    else:
        copy = Scratch(report.tree, report.touched, method=method)
    try:
        if not _run_step(report, "arm32 scratch copy", copy.create) or copy.root is None:
            return
        root = copy.root
        env = _environment(root)
        if base is not None:
            report.steps.extend(steps)
            before.extend(errors)
        else:
            if not _run_step(report, "arm32 configure", lambda: _arm32_configure(root, env, make)):
                return
            if not _run_step(report, "arm32 build (unpatched)", lambda: _arm32_unpatched(root, env, build, before)):
                return

        def apply() -> tuple[bool, str, str]:
            outputs = []
            for mail in patches:
                done = _run(["git", "apply", "-"], root, env, mail.text)
                outputs.append(_clean(done.stdout, root))
                if done.returncode != 0:
                    return False, "".join(outputs), f"{mail.name or 'the patch'} does not apply"
            return True, "".join(outputs), ""

        if not _run_step(report, "arm32 git apply", apply):
            return

        def patched() -> tuple[bool, str, str]:
            done = _run(build, root, env)
            output = _clean(done.stdout, root)
            after = c_errors(output)
            new = new_c_errors(before, after)
            if new:
                return False, "\n".join(e.text for e in new), new[0].text.split("\n")[0]
            return True, "", f"no new C error ({len(before)} before, {len(after)} after; assembler errors not counted)"

        _run_step(report, "arm32 build", patched)
    finally:
        copy.remove()


def _arm32_configure(root: Path, env: dict[str, str], make: list[str]) -> tuple[bool, str, str]:
    options = [arg for name in ARM32_OPTIONS for arg in ("--enable", name)]
    outputs = []
    for cmd in (
        [*make, "mrproper"],
        [*make, ARM32_DEFCONFIG],
        ["bash", "scripts/config", "--file", ".config", *options],
        [*make, "olddefconfig"],
    ):
        done = _run(cmd, root, env)
        outputs.append(_clean(done.stdout, root))
        if done.returncode != 0:
            return False, "".join(outputs), f"{shlex.join(cmd)}: exit status {done.returncode}"
    config = (root / ".config").read_text(errors="replace")
    missing = [name for name in ARM32_OPTIONS if f"\nCONFIG_{name}=y\n" not in f"\n{config}"]
    if missing:
        return False, "", f"{ARM32_DEFCONFIG} with {', '.join(ARM32_OPTIONS)}: no {', '.join(missing)}"
    return True, "", f"{ARM32_DEFCONFIG} + {', '.join(f'CONFIG_{n}=y' for n in ARM32_OPTIONS)}"


def _arm32_unpatched(root: Path, env: dict[str, str], build: list[str], errors: list[CError]) -> tuple[bool, str, str]:
    """The unpatched arm32 build; its C errors go into `errors`."""
    done = _run(build, root, env)
    output = _clean(done.stdout, root)
    if not _compiled(output, ARM32_WITNESS):
        tail = "\n".join(output.rstrip("\n").split("\n")[-40:])
        return False, tail, f"the unpatched arm32 build did not reach {ARM32_WITNESS}"
    errors.extend(c_errors(output))
    return True, "\n".join(e.text for e in errors), f"{len(errors)} C errors (assembler errors not counted)"


def _arm32_key(tree: Path, make: list[str]) -> str:
    """What the cached unpatched arm32 build depends on: the make command, the
    compiler binary, and the mtime and size of every source file kbuild may
    read for it (the arm64 build outputs of the tree are not among them)."""
    digest = hashlib.sha256(repr((ARM32_CACHE_VERSION, make, ARM32_DEFCONFIG, ARM32_OPTIONS)).encode())
    compiler = shutil.which(make[2].removeprefix("CROSS_COMPILE=") + "gcc")
    for path in [Path(compiler)] if compiler else []:
        st = path.resolve().stat()
        digest.update(f"{path.resolve()}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    for top in ARM32_SOURCES:
        for folder, dirs, files in os.walk(tree / top):
            rel = os.path.relpath(folder, tree)
            dirs[:] = sorted(d for d in dirs if f"{rel}/{d}/" not in GENERATED_DIRS and d != ".git")
            for name in sorted(files):
                if name.endswith(SOURCE_SUFFIXES) or name.startswith(("Makefile", "Kconfig", "Kbuild")):
                    st = os.lstat(os.path.join(folder, name))
                    digest.update(f"{rel}/{name}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    top_makefile = (tree / "Makefile").stat()
    digest.update(f"Makefile\0{top_makefile.st_mtime_ns}\0{top_makefile.st_size}\n".encode())
    return digest.hexdigest()[:20]


def _arm32_base(
    tree: Path, make: list[str], build: list[str], held: contextlib.ExitStack
) -> tuple[list[Step], Path | None, list[CError]] | None:
    """The cached unpatched arm32 layer of `tree`: its steps, the overlay
    upper directory to mount as a lower layer (None when configuring or
    building failed; nothing is cached then) and its C errors. Built on first
    use, under an exclusive lock of the tree's cache folder; the layer
    returned stays under a shared lock until `held` closes, so that no other
    run removes it as stale meanwhile. None when no overlay can be mounted
    (then each run builds its own)."""
    lower = str(tree)
    cache = ARM32_CACHE.resolve() if ARM32_CACHE.exists() else ARM32_CACHE
    if os.geteuid() != 0 or shutil.which("mount") is None or any(c in lower + str(cache) for c in ",:\\"):
        return None
    per_tree = cache / hashlib.sha256(lower.encode()).hexdigest()[:12]
    try:
        per_tree.mkdir(parents=True, exist_ok=True)
        lock = held.enter_context((per_tree / ".lock").open("a"))
        fcntl.flock(lock, fcntl.LOCK_EX)
        key = _arm32_key(tree, make)
        folder = per_tree / key
        record = folder / "record.json"
        if record.is_file():
            data = json.loads(record.read_text())
            steps = [Step(s["name"], True, s["output"], 0.0, s["summary"]) for s in data["steps"]]
            base = steps, folder / "upper", [CError(**e) for e in data["errors"]]
        else:
            for stale in per_tree.iterdir():  # older states of this tree
                if stale.is_dir():
                    _remove(stale)
            base = _arm32_build_base(tree, folder, make, build)
        fcntl.flock(lock, fcntl.LOCK_SH)
        return base
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _arm32_build_base(
    tree: Path, folder: Path, make: list[str], build: list[str]
) -> tuple[list[Step], Path | None, list[CError]] | None:
    upper, work, root = (folder / n for n in ("upper", "work", "tree"))
    for d in (upper, work, root):
        d.mkdir(parents=True)
    options = f"lowerdir={tree},upperdir={upper},workdir={work}"
    mount = ["mount", "-t", "overlay", "overlay", "-o", options, str(root)]
    if subprocess.run(mount, capture_output=True, text=True, timeout=60).returncode != 0:
        _remove(folder)
        return None
    report = VerifyReport(tree, [], [])
    errors: list[CError] = []
    try:
        env = _environment(root)
        if _run_step(report, "arm32 configure", lambda: _arm32_configure(root, env, make)):
            _run_step(report, "arm32 build (unpatched)", lambda: _arm32_unpatched(root, env, build, errors))
    finally:
        if subprocess.run(["umount", str(root)], capture_output=True, timeout=300).returncode != 0:
            subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=300)
    if not report.ok:
        _remove(folder)
        return report.steps, None, []
    _remove(work)
    _remove(root)
    steps = [{"name": s.name, "output": s.output, "summary": s.summary} for s in report.steps]
    data = {"tree": str(tree), "steps": steps, "errors": [vars(e) for e in errors]}
    atomic = folder / ".record.json.tmp"
    atomic.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(atomic, folder / "record.json")
    return report.steps, upper, errors


def _run(cmd: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=TIMEOUT, errors="replace",
    )  # fmt: skip


class Scratch:
    """A disposable copy of a tree to apply and build in. An overlay mount
    (the tree is its read-only lower layer) when root may mount one, else a
    hard-link farm beside the tree with real copies of every file that may
    be written. `keep` always makes a hard-link farm: it outlives the run."""

    def __init__(
        self, tree: Path, touched: list[str], *, keep: bool = False, method: str = "auto", lower: Sequence[Path] = ()
    ) -> None:
        self.tree, self.touched, self.keep = tree, touched, keep
        self.lower = list(lower)  # overlay layers above the tree (a cached build)
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
        layers = [*map(str, self.lower), str(self.tree)]
        lower = ":".join(layers)
        if os.geteuid() != 0 or shutil.which("mount") is None or any(c in "".join(layers) for c in ",:\\"):
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
        paths = sorted(set(self.touched) | set(_build_outputs(self.root)))
        copied = sum(_unshare(self.root / p, self.root) for p in paths)
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
    folders, files with a kbuild suffix, every hidden file (`.config*`, the
    `.cmd` and `.d` files, 4.x's `.cache.mk` that make appends cc-option
    results to, `.missing-syscalls.d`; the few hidden source files are
    cheap to copy), every target with a `.<name>.cmd` beside it and every
    file made from a `<name>_shipped` beside it."""
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
                or name.startswith(".")
                or f".{name}.cmd" in names
                or f"{name}_shipped" in names
            ):
                yield prefix + name


def _unshare(path: Path, root: Path | None = None) -> int:
    """Replace a hard link by a copy of its own (same mtime). 1 if copied.
    Never through a symbolic link out of `root`."""
    if root is not None and Path(os.path.realpath(root)) not in Path(os.path.realpath(path)).parents:
        return 0
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
        done = _run(cmd, cwd, env, stdin)
        output = _clean(done.stdout, cwd)
        if built is not None:
            output = tidy_build_output(output, built)
        summary = "" if done.returncode == 0 else _first_error(output) or f"exit status {done.returncode}"
        return done.returncode == 0, output, summary

    return _run_step(report, name, action)


def tidy_build_output(output: str, built: str) -> str:
    """A build's output in a stable order, without other targets' chatter.

    Under -j2 the order of targets varies from run to run: cut the output
    into one piece per target (each starts at its kbuild progress line,
    "  CC      arch/arm64/kvm/arm.o"), sort the pieces by target, and keep the
    pieces of `built` (the object; for a kbuild directory, the pieces of its
    targets, "arch/arm64/kvm/../../../virt/kvm/arm/arm.o" included, that
    hold a message, and a count of all) and of any other target (host tools
    built on the way) only when they hold an error. make's own lines
    (`make[1]: *** ...`) go last, sorted. Without -Otarget a piece may hold
    another target's messages; a failure still shows."""
    directory = built.endswith("/")
    preamble: list[str] = []
    pieces: list[tuple[str, bool, list[str]]] = []
    make_lines: list[str] = []
    for line in output.split("\n"):
        m = PROGRESS_LINE.match(line)
        if MAKE_LINE.match(line):
            make_lines.append(line)
        elif m:
            target = m.group(1)
            own = target.startswith(built) if directory else os.path.normpath(target) == built
            pieces.append((os.path.normpath(target), own, [line]))
        elif pieces:
            pieces[-1][2].append(line)
        else:
            preamble.append(line)
    pieces.sort(key=lambda piece: piece[0])
    kept: list[str] = []
    for _, own, piece in pieces:
        if own and (not directory or any(piece[1:])):
            kept.extend(piece)
        elif any(ERROR_WORD.search(text) for text in piece):
            kept.extend(piece[1:])  # without its progress line
    if directory:
        count = sum(own for _, own, _ in pieces)
        kept.append(f"({count} kbuild targets under {built}; those with messages shown)")
    lines = preamble + kept + sorted(set(make_lines))
    text = "\n".join(line for line in lines if line)
    return text + "\n" if text else ""


def _checkpatch(report: VerifyReport, scratch: Path, env: dict[str, str], patch_text: str, name: str) -> bool:
    def action() -> tuple[bool, str, str]:
        done = _run(["perl", "scripts/checkpatch.pl", "--no-tree", "-"], scratch, env, patch_text)
        output = _clean(done.stdout, scratch)
        m = TOTAL.search(output)
        if m is None:
            return False, output, f"no 'total:' line (exit status {done.returncode})"
        errors, warnings = int(m.group(1)), int(m.group(2))
        return errors == 0 and warnings == 0, output, f"{errors} errors, {warnings} warnings"

    return _run_step(report, name, action)


def _clean(output: str, scratch: Path) -> str:
    """The tool's output with the scratch folder's name (random) replaced."""
    return output.replace(str(scratch) + "/", "").replace(str(scratch), MARKER)


def _first_error(output: str) -> str:
    """The first gcc error (its path normalised), else the first other error line."""
    for line in output.split("\n"):
        m = C_ERROR.match(line) or re.match(r"^(?P<file>\S+):(?P<line>\d+):(?P<col>\d+): (?P<msg>error: .*)$", line)
        if m:
            return f"{os.path.normpath(m.group('file'))}:{m.group('line')}:{m.group('col')}: {m.group('msg')}".strip()
    for pattern in (r"^error: .*$", r"^.*\*\*\* .*$"):
        m = re.search(pattern, output, re.MULTILINE)
        if m:
            return m.group(0).strip()
    return ""
