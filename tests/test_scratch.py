"""The scratch copy's clean-up of mounts that killed runs left behind:
only mounts with an owner record of ours whose process is gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fpdsl.emit.verify.scratch import OWNER_FILE, sweep_stale_mounts, write_owner


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def scratch_base(parent: Path, name: str, owner: str | None) -> Path:
    base = parent / name
    for d in ("upper", "work", "tree"):
        (base / d).mkdir(parents=True)
    if owner is not None:
        (base / OWNER_FILE).write_text(owner)
    return base


def test_owner_record_names_this_process(tmp_path: Path) -> None:
    write_owner(tmp_path)
    words = (tmp_path / OWNER_FILE).read_text().split()
    assert words[:3] == ["fpdsl", "scratch", "mount"]
    assert words[3] == f"pid={os.getpid()}"
    assert words[4].startswith("start=") and words[4].removeprefix("start=").isdigit()


def test_sweep_reads_the_mount_table_and_spares_live_or_unknown_owners(tmp_path: Path) -> None:
    """A mount table written here (no mount needed): the dead owner's copy is
    removed, also under a path with a blank (octal \\040 in the table); the
    live owner's, the one without a record and a foreign record stay."""
    dead = scratch_base(tmp_path, "a b", f"fpdsl scratch mount pid={dead_pid()} start=1\n")
    live = tmp_path / "live"
    (live / "tree").mkdir(parents=True)
    write_owner(live)
    unknown = scratch_base(tmp_path, "unknown", None)
    foreign = scratch_base(tmp_path, "foreign", f"somebody else pid={dead_pid()}\n")
    table = tmp_path / "mounts"

    def line(base: Path) -> str:
        point = str(base / "tree").replace(" ", "\\040")
        return f"overlay {point} overlay rw,lowerdir=/x,upperdir={base}/upper,workdir={base}/work 0 0"

    lines = [line(b) for b in (dead, live, unknown, foreign)]
    table.write_text("\n".join([f"tmpfs {dead / 'tree'} tmpfs rw 0 0", *lines]) + "\n")
    assert sweep_stale_mounts(table) == 1
    assert not dead.exists()
    assert all((b / "tree").is_dir() for b in (live, unknown, foreign))
    assert sweep_stale_mounts(tmp_path / "no-such-table") == 0


def test_a_recycled_pid_is_not_its_owner(tmp_path: Path) -> None:
    """The record names a process by pid and start time: this process's pid
    with another start time is a process gone."""
    stale = scratch_base(tmp_path, "stale", f"fpdsl scratch mount pid={os.getpid()} start=0\n")
    table = tmp_path / "mounts"
    table.write_text(f"overlay {stale / 'tree'} overlay rw 0 0\n")
    assert sweep_stale_mounts(table) == 1
    assert not stale.exists()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting an overlay needs root")
def test_sweep_unmounts_a_real_overlay_of_a_dead_owner(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "file").write_text("lower\n")
    bases = {
        "dead": scratch_base(tmp_path, "dead", f"fpdsl scratch mount pid={dead_pid()} start=1\n"),
        "unknown": scratch_base(tmp_path, "unknown", None),
    }
    mounted = []
    try:
        for base in bases.values():
            options = f"lowerdir={lower},upperdir={base / 'upper'},workdir={base / 'work'}"
            done = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(base / "tree")])
            if done.returncode != 0:
                pytest.skip("this kernel cannot mount an overlay here")
            mounted.append(base / "tree")
        assert (bases["dead"] / "tree" / "file").read_text() == "lower\n"
        assert sweep_stale_mounts() == 1
        table = Path("/proc/self/mounts").read_text()
        assert f" {bases['dead'] / 'tree'} " not in table and not bases["dead"].exists()
        assert f" {bases['unknown'] / 'tree'} " in table
        assert (lower / "file").read_text() == "lower\n"
    finally:
        for point in mounted:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)
