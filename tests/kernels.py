"""Real Debian kernel trees for the `kernel` tests.

`kernel_tree("6.1")` or `kernel_tree("6.12")` installs what is missing with
apt-get (`linux-source-<series>`, the arm64 cross compiler and what
`make prepare` needs), extracts /usr/src/linux-source-<series>.tar.xz once
into ~/.cache/fpdsl/kernels/<package version>/ (to a temporary folder, then a
rename), runs `make ARCH=arm64 defconfig prepare` there once (a stamp file
records it) and returns the prepared tree. The tree is read only by
convention: `verify_patch` works on a scratch copy.

The tests are skipped only when the packages are missing and cannot be
installed (no apt-get, not root, no network); any other failure is an error.
Nothing from the kernel tree is copied into the repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("FPDSL_KERNEL_CACHE", Path.home() / ".cache" / "fpdsl" / "kernels"))
CROSS_COMPILE = "aarch64-linux-gnu-"
JOBS = "-j2"
BACKPORTS_LIST = Path("/etc/apt/sources.list.d/fpdsl-backports.list")
BACKPORTS_LINE = "deb http://deb.debian.org/debian bookworm-backports main\n"
# series -> whether its linux-source package is only in bookworm-backports
SERIES = {"6.1": False, "6.12": True}
TOOL_PACKAGES = ("gcc-aarch64-linux-gnu", "make", "flex", "bison", "bc", "libssl-dev", "libelf-dev", "perl", "xz-utils")
TOOL_COMMANDS = ("aarch64-linux-gnu-gcc", "make", "flex", "bison", "bc", "perl", "xz")
STAMP = ".fpdsl-prepared"

# series -> step -> seconds, for the set-up steps this process ran (the terminal summary prints them)
TIMINGS: dict[str, dict[str, float]] = {}
TREES: dict[str, Path] = {}


def kernel_tree(series: str) -> Path:
    """The prepared arm64 tree of Debian's linux-source-<series>, set up on first use."""
    if series not in SERIES:
        raise ValueError(f"unknown kernel series {series!r}; known: {', '.join(SERIES)}")
    timings = TIMINGS.setdefault(series, {})
    package = f"linux-source-{series}"
    _ensure_packages(series, package, timings)
    version = _installed_version(package)
    if version is None:
        raise RuntimeError(f"{package} is not installed after apt-get install")
    CACHE.mkdir(parents=True, exist_ok=True)
    tree = CACHE / version
    with _locked(CACHE / f".{version}.lock"):
        if not (tree / STAMP).is_file():
            if not tree.is_dir():
                with _timed(timings, "extract"):
                    _extract(Path(f"/usr/src/{package}.tar.xz"), tree)
            with _timed(timings, "defconfig"):
                _make(tree, "defconfig")
            with _timed(timings, "prepare"):
                _make(tree, JOBS, "prepare")
            (tree / STAMP).write_text(json.dumps({"package": package, "version": version, "timings": timings}) + "\n")
    TREES[series] = tree
    return tree


def _ensure_packages(series: str, package: str, timings: dict[str, float]) -> None:
    missing = [p for p in (package, *TOOL_PACKAGES) if _installed_version(p) is None]
    if not missing and all(shutil.which(c) for c in TOOL_COMMANDS):
        return
    with _timed(timings, "apt-get"):
        _install(series, package, missing)


def _install(series: str, package: str, missing: list[str]) -> None:
    missing = missing or list(TOOL_PACKAGES)
    if shutil.which("apt-get") is None:
        pytest.skip(f"needs {' '.join(missing)}: no apt-get to install them")
    if os.geteuid() != 0:
        pytest.skip(f"needs {' '.join(missing)}: not root, cannot apt-get install")
    if not _online("deb.debian.org"):
        pytest.skip(f"needs {' '.join(missing)}: no network to reach deb.debian.org")
    if SERIES[series] and package in missing and not BACKPORTS_LIST.is_file():
        BACKPORTS_LIST.write_text(BACKPORTS_LINE)
    _apt("update", "-qq")
    _apt("install", "-y", "-qq", "--no-install-recommends", *missing)


def _apt(*args: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # wait for a concurrent apt/dpkg run rather than fail on its lock
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=900", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _installed_version(package: str) -> str | None:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}\t${Version}", package], capture_output=True, text=True, check=False
    )
    status, _, version = done.stdout.partition("\t")
    return version if done.returncode == 0 and status.endswith(" installed") and version else None


def _online(host: str) -> bool:
    try:
        socket.create_connection((host, 80), timeout=10).close()
    except OSError:
        return False
    return True


def _extract(tarball: Path, tree: Path) -> None:
    """Extract to a temporary folder beside `tree`, then rename: a tree in the
    cache is whole or absent."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{tree.name}.", dir=tree.parent))
    try:
        subprocess.run(["tar", "-xJf", str(tarball), "-C", str(tmp)], check=True)
        (top,) = tmp.iterdir()  # linux-source-<series>/
        os.rename(top, tree)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _make(tree: Path, *targets: str) -> None:
    cmd = ["make", "ARCH=arm64", f"CROSS_COMPILE={CROSS_COMPILE}", *targets]
    done = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} in {tree} failed ({done.returncode}):\n{done.stderr[-4000:]}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + time.monotonic() - start
