"""The 32-bit ARM check of 2018 trees: build KVM for ARCH=arm, unpatched
and patched, in a second scratch copy and fail on a C error the patches
add. With an overlay, the configured unpatched build is cached per tree
and mounted as a layer of later runs."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from fpdsl.emit.verify.build_output import CError, _compiled, c_errors, new_c_errors
from fpdsl.emit.verify.kbuild import GENERATED_DIRS, _target_flags
from fpdsl.emit.verify.mails import PatchFile
from fpdsl.emit.verify.scratch import Scratch, _remove, write_owner
from fpdsl.emit.verify.steps import Step, VerifyReport, _clean, _environment, _run, _run_step

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
# The unpatched build as a layer: its steps, the overlay upper directory
# (None when configuring or building failed) and its C errors.
_Layer = tuple[list[Step], Path | None, list[CError]]


def _arm32_check(report: VerifyReport, patches: list[PatchFile], make: list[str], method: str, cache: Path) -> None:
    """Build the 32-bit ARM KVM objects in a second scratch copy, configured
    for ARCH=arm (kbuild refuses O= beside a configured source tree, so the
    copy is cleaned with mrproper first), before and after applying the
    patches; fail on a C error the patched build has and the unpatched lacks.

    With an overlay, the configured and built unpatched copy is kept per tree
    (under `cache`, normally ARM32_CACHE; keyed by the tree's path, its sources' mtimes and sizes
    and the compiler) and is the middle layer of later runs' overlays, which
    then only rebuild what the patches change. The report reads the same
    either way (the cached steps take 0 s)."""
    build = [*make, *_target_flags(ARM32_KVM_DIR), ARM32_KVM_DIR]
    with contextlib.ExitStack() as held:  # a shared lock on the cached layer while it is mounted
        base = _arm32_base(report.tree, make, build, held, cache) if method in ("auto", "overlay") else None
        _arm32_run(report, patches, make, build, method, base)


def _arm32_run(
    report: VerifyReport,
    patches: list[PatchFile],
    make: list[str],
    build: list[str],
    method: str,
    base: _Layer | None,
) -> None:
    """The check in its scratch copy: on top of the cached layer `base`, or
    configured and built unpatched here first when there is none."""
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
    """mrproper (the copy holds the arm64 configuration), multi_v7_defconfig
    with the KVM options, olddefconfig; fails when an option did not stick."""
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
    tree: Path, make: list[str], build: list[str], held: contextlib.ExitStack, cache: Path
) -> _Layer | None:
    """The cached unpatched arm32 layer of `tree`: its steps, the overlay
    upper directory to mount as a lower layer (None when configuring or
    building failed; nothing is cached then) and its C errors. Built on first
    use, under an exclusive lock of the tree's cache folder; the layer
    returned stays under a shared lock until `held` closes, so that no other
    run removes it as stale meanwhile. None when no overlay can be mounted
    (then each run builds its own)."""
    lower = str(tree)
    cache = cache.resolve() if cache.exists() else cache
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


def _arm32_build_base(tree: Path, folder: Path, make: list[str], build: list[str]) -> _Layer | None:
    """Configure and build the unpatched copy in an overlay whose upper
    directory, kept in `folder` with a record of the steps, becomes the
    layer. None when the overlay cannot be mounted."""
    upper, work, root = (folder / n for n in ("upper", "work", "tree"))
    for d in (upper, work, root):
        d.mkdir(parents=True)
    write_owner(folder)
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
