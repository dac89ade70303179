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

The package's modules: `mails` (the patches given), `scratch` (the copy),
`kbuild` (what to build, and how), `steps` (the report and running its
steps), `build_output` (reading make's and gcc's output), `checkpatch`,
`warnings` (the ones the patch adds) and `arm32`; this module runs them in order and re-exports their names.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from fpdsl.diagnostics import UsageError
from fpdsl.emit.verify.arm32 import (
    ARM32_CACHE,
    ARM32_CACHE_VERSION,
    ARM32_CROSS_COMPILE,
    ARM32_DEFCONFIG,
    ARM32_KVM_DIR,
    ARM32_OPTIONS,
    ARM32_SOURCES,
    ARM32_WITNESS,
    SOURCE_SUFFIXES,
    _arm32_check,
)
from fpdsl.emit.verify.build_output import (
    C_ERROR,
    ERROR_WORD,
    MAKE_LINE,
    PROGRESS_LINE,
    CError,
    c_errors,
    c_warnings,
    new_c_errors,
    tidy_build_output,
)
from fpdsl.emit.verify.checkpatch import TOTAL, _checkpatch
from fpdsl.emit.verify.kbuild import (
    ARM64_KVM_DIR,
    CORE_OBJECTS,
    DTC_LEXERS,
    FCOMMON,
    FCOMMON_NOTE,
    FPSIMD_OBJECT,
    GENERATED_DIRS,
    GENERATED_SUFFIXES,
    HYP_SWITCH_HEADER,
    HYP_SWITCH_OBJECTS,
    JOBS,
    KVM_SOURCE_DIRS,
    LAYOUT_2018_MARKER,
    NVHE_DIR,
    OBJECT_COMPONENT,
    YYLLOC_DEFINITION,
    _target_flags,
    check_object,
    check_tree,
    default_objects,
    is_2018_layout,
    make_command,
    needs_fcommon,
    objects_2018,
    prepare_command,
)
from fpdsl.emit.verify.mails import (
    COVER_SUBJECT,
    PATCH_NAME,
    PatchFile,
    select_patches,
    series_files,
    touched_files,
    unsafe_path,
)
from fpdsl.emit.verify.scratch import Scratch
from fpdsl.emit.verify.scratch import _build_outputs as _build_outputs  # the tests read it here
from fpdsl.emit.verify.steps import MARKER, TIMEOUT, Step, VerifyReport, _command, _environment, _run_step
from fpdsl.emit.verify.warnings import _warnings_check

# What callers import from fpdsl.emit.verify, wherever it is defined.
__all__ = [
    "ARM32_CACHE",
    "ARM32_CACHE_VERSION",
    "ARM32_CROSS_COMPILE",
    "ARM32_DEFCONFIG",
    "ARM32_KVM_DIR",
    "ARM32_OPTIONS",
    "ARM32_SOURCES",
    "ARM32_WITNESS",
    "ARM64_KVM_DIR",
    "CError",
    "CORE_OBJECTS",
    "COVER_SUBJECT",
    "C_ERROR",
    "DTC_LEXERS",
    "ERROR_WORD",
    "FCOMMON",
    "FCOMMON_NOTE",
    "FPSIMD_OBJECT",
    "GENERATED_DIRS",
    "GENERATED_SUFFIXES",
    "HYP_SWITCH_HEADER",
    "HYP_SWITCH_OBJECTS",
    "JOBS",
    "KVM_SOURCE_DIRS",
    "LAYOUT_2018_MARKER",
    "MAKE_LINE",
    "MARKER",
    "NVHE_DIR",
    "OBJECT_COMPONENT",
    "PATCH_NAME",
    "PROGRESS_LINE",
    "PatchFile",
    "SOURCE_SUFFIXES",
    "Scratch",
    "Step",
    "TIMEOUT",
    "TOTAL",
    "VerifyReport",
    "YYLLOC_DEFINITION",
    "c_errors",
    "c_warnings",
    "check_object",
    "check_tree",
    "default_objects",
    "is_2018_layout",
    "make_command",
    "needs_fcommon",
    "new_c_errors",
    "objects_2018",
    "prepare_command",
    "select_patches",
    "series_files",
    "tidy_build_output",
    "touched_files",
    "unsafe_path",
    "verify_patch",
]


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
    werror: bool = False,
) -> VerifyReport:
    """Apply `patch_text` (one mail, or a series of mails in order) to a
    scratch copy of the prepared kernel `tree`, run checkpatch on each mail
    and compile the affected objects and kbuild directories there once.
    `method`: "auto" (an overlay mount if possible, else hard links),
    "overlay" or "hardlink"; `keep` leaves a hard-link farm behind
    (`report.scratch`). `arm32` (2018 trees) also builds the 32-bit ARM KVM
    objects unpatched and patched in a second scratch copy and fails on any
    C error the patch adds. The gcc warnings the patch adds (against the same
    objects built unpatched, only when the patched build warns) are the
    step "compiler warnings": shown, and failing with `werror`."""
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
        compiled = [
            _command(report, f"compile {obj}", [*make, *_target_flags(obj), obj], scratch, env, built=obj)
            for obj in report.objects
        ]
        if all(compiled):
            _warnings_check(report, make, tree, method, werror=werror)
        if arm32:
            # ARM32_CACHE is read here, when called, so that setting fpdsl.emit.verify.ARM32_CACHE
            # (as the tests do) moves the cache.
            arm32_make = make_command("arm", arm32_cross_compile, fcommon=fcommon)
            _arm32_check(report, patches, arm32_make, method, ARM32_CACHE)
    finally:
        if keep:
            report.scratch = copy.root
        else:
            copy.remove()
    return report


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
