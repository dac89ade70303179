"""The disposable copy of a kernel tree a patch is applied and built in:
an overlay mount, or a hard-link farm with a private copy of every file
that may be written, so that the tree itself is never written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from fpdsl.emit.verify.kbuild import GENERATED_DIRS, GENERATED_SUFFIXES
from fpdsl.emit.verify.steps import TIMEOUT


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
            ok, output, swept = self._overlay()
            if ok or self.method == "overlay":
                stale = f" (removed {swept} stale scratch mount(s) of killed runs)" if swept else ""
                return ok, output, ("overlay mount" if ok else "cannot mount an overlay") + stale
        return self._hardlinks()

    def _overlay(self) -> tuple[bool, str, int]:
        layers = [*map(str, self.lower), str(self.tree)]
        lower = ":".join(layers)
        if os.geteuid() != 0 or shutil.which("mount") is None or any(c in "".join(layers) for c in ",:\\"):
            return False, "overlay needs root, mount(8) and a tree path without ',', ':' or '\\'", 0
        swept = sweep_stale_mounts()
        self.base = Path(tempfile.mkdtemp(prefix="fpdsl-verify-"))
        upper, work, root = (self.base / n for n in ("upper", "work", "tree"))
        for d in (upper, work, root):
            d.mkdir()
        write_owner(self.base)
        options = f"lowerdir={lower},upperdir={upper},workdir={work}"
        done = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(root)], capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            self.remove()
            return False, done.stderr, swept
        self.root, self.mounted = root, True
        return True, "", swept

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


# A scratch mount is `<base>/tree`; `<base>/owner` names the process that
# mounted it. A run killed outright (SIGKILL, a CI job's time limit) leaves
# the mount behind; the next run removes it once that process is gone.
OWNER_FILE = "owner"
_OWNER_TAG = "fpdsl scratch mount"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (with the pid it
    names one process: pids are reused, start times with them are not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def write_owner(base: Path) -> None:
    """Record in `base` which process mounts the scratch copy under it."""
    (base / OWNER_FILE).write_text(f"{_OWNER_TAG} pid={os.getpid()} start={_start_time(os.getpid())}\n")


def _owner_gone(base: Path) -> bool:
    """True only when `base` holds an owner record of ours and that process
    no longer runs; any doubt (no record, unreadable) keeps the mount."""
    try:
        words = (base / OWNER_FILE).read_text().split()
    except OSError:
        return False
    record = dict(w.split("=", 1) for w in words if "=" in w)
    if " ".join(words[:3]) != _OWNER_TAG or not record.get("pid", "").isdigit():
        return False
    start = _start_time(int(record["pid"]))
    return start is None or start != record.get("start")


def sweep_stale_mounts(mounts: Path = Path("/proc/self/mounts")) -> int:
    """Unmount and remove the scratch copies whose owner process is gone.
    The number removed."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return 0
    swept = 0
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or fields[2] != "overlay":
            continue
        # /proc/self/mounts escapes blanks and backslashes in paths as octal (\040).
        point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[1]))
        if point.name != "tree" or not _owner_gone(point.parent):
            continue
        if subprocess.run(["umount", str(point)], capture_output=True, timeout=300).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=300)
        _remove(point.parent)
        swept += 1
    return swept


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
    # --one-file-system: never into a mount left under `path` (an overlay that would not unmount).
    if path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False, timeout=TIMEOUT)
