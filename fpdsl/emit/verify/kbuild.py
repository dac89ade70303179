"""What verify-patch asks the kernel's build system: the objects and kbuild
directories a patch can affect (6.x and 2018 layouts), the make command
(HOSTCFLAGS=-fcommon when the tree's dtc needs it), and whether a tree is
prepared for arm64."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from pathlib import Path

from fpdsl.diagnostics import UsageError

JOBS = "-j2"
# Always compiled when they exist (6.x layout): the FPSIMD hand-over on both sides.
CORE_OBJECTS = ("arch/arm64/kvm/arm.o", "arch/arm64/kvm/fpsimd.o", "arch/arm64/kernel/fpsimd.o")
HYP_SWITCH_HEADER = "arch/arm64/kvm/hyp/include/hyp/switch.h"
HYP_SWITCH_OBJECTS = ("arch/arm64/kvm/hyp/vhe/switch.o", "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o")
NVHE_DIR = "arch/arm64/kvm/hyp/nvhe/"
# Where kbuild writes, and what it writes, besides objects with a .cmd file.
GENERATED_DIRS = ("include/generated/", "include/config/", "arch/arm64/include/generated/")
GENERATED_SUFFIXES = (".o", ".a", ".s", ".so", ".lds", ".cmd", ".dbg", ".order", ".symvers")

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
OBJECT_COMPONENT = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")


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


def _target_flags(target: str) -> list[str]:
    """A kbuild directory: build all of it (-k), each target's output in one
    piece (-Otarget) so that the report can put them in a stable order."""
    return ["-k", "--output-sync=target"] if target.endswith("/") else []
