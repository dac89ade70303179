"""Issue 10 through the command line: each case that test_security.py holds
only as a unit test (or not at all), run as a user runs it, with the real
exit status, a located or clear diagnostic, no internal error, and nothing
written where nothing should be (bytes, modes, inodes and listings)."""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import ROOT, Result, run
from standin import write_tree
from test_security import FIXED, HM_PUT

SIGNOFF = ["--signoff", "A <a@b.org>"]
LAZY = ROOT / "policies" / "lazy_until_put.fp"
EAGER = ROOT / "policies" / "eager.fp"
# The comment HM_PUT carries on the statement its put hook adds.
HM_PUT_COMMENT = "        ## The registers no longer hold the guest's state.\n"


# -- helpers --------------------------------------------------------------------


def _clean(r: Result | subprocess.CompletedProcess[str]) -> str:
    """The output of a run, asserted to be a diagnostic and not a crash."""
    out = r.output if isinstance(r, Result) else r.stdout + r.stderr
    assert "internal error" not in out and "Traceback" not in out, out
    return out


def _bounded(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess that may not outlive `timeout` seconds: a run
    that blocks (on a FIFO, say) fails the test instead of hanging it."""
    return subprocess.run(
        [sys.executable, "-m", "fpdsl.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry under `root` but .git: its type and mode, and its bytes
    (a file) or target (a link). Equal snapshots: nothing added, removed,
    re-moded or rewritten, temporary files included."""
    out: dict[str, tuple[int, bytes]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in dirs + files:
            p = Path(folder) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                data = os.readlink(p).encode()
            elif stat.S_ISREG(st.st_mode):
                data = p.read_bytes()
            else:
                data = b""
            out[str(p.relative_to(root))] = (st.st_mode, data)
    return out


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _touched(mail: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"^diff --git a/(\S+) b/", mail, re.M)))


def _located(text: str, needle: str, marker: str) -> tuple[int, int]:
    """Line and column (1-based) of `marker` on the line of `text` holding `needle`."""
    for number, line in enumerate(text.split("\n"), 1):
        if needle in line:
            return number, line.index(marker) + 1
    raise AssertionError(f"{needle!r} not in the policy")


@pytest.fixture
def tree418(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "tree", "v4.18", git=True)


@pytest.fixture
def tree416(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "tree", "v4.16", git=True)


# -- 1, 2: flag names that would be bad C ----------------------------------------


def test_flag_int_is_refused_at_its_declaration_by_emit_patch(tree418: Path, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "int.fp",
        'policy hmint "d"\nkernel v4.18\nextends host_machinery\nflag INT\n'
        "hook put {\n    local_irq_save()\n    if FP_ENABLED {\n        fpsimd_save()\n"
        "        fpsimd_flush_cpu_state()\n        INT = true\n    }\n    local_irq_restore()\n}\n",
    )
    before, listing = _snapshot(tree418), sorted(os.listdir(tmp_path))
    out = tmp_path / "out.patch"
    r = run("emit-patch", str(path), "--tree", str(tree418), *FIXED, *SIGNOFF, "-o", str(out))
    text = _clean(r)
    assert r.exit_code == 1, text
    assert f"{path}:4:6: error: flag INT would be the C field 'int', which is a C keyword" in text
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == listing and _snapshot(tree418) == before


def test_two_flags_differing_only_in_case_in_one_file_are_refused_by_check(tmp_path: Path) -> None:
    path = _write(tmp_path / "case.fp", 'policy p "d"\nflag SAVED\nflag saved\n')
    r = run("check", str(path))
    text = _clean(r)
    assert r.exit_code == 1, text
    assert f"{path}:3:6: error: flag 'saved' differs from flag 'SAVED' ({path}:2) only in case" in text


# -- 3: comments that would leave their C comment --------------------------------


@pytest.mark.parametrize(
    ("comment", "marker", "what"),
    [
        ('## harmless */ panic("x"); /* still a comment?', "*/", "'*/'"),
        ("## one\rtwo", "\r", "U+000D"),
    ],
    ids=["close-comment", "bare-cr"],
)
def test_hostile_doc_comment_is_refused_by_emit_patch_and_nothing_is_written(
    tree418: Path, tmp_path: Path, comment: str, marker: str, what: str
) -> None:
    text = HM_PUT.read_text()
    assert HM_PUT_COMMENT in text
    policy = _write(tmp_path / "hostile.fp", text.replace(HM_PUT_COMMENT, f"        {comment}\n", 1))
    line, column = _located(policy.read_bytes().decode(), comment.split(marker)[0], marker)
    before, listing = _snapshot(tree418), sorted(os.listdir(tmp_path))
    out = tmp_path / "out.patch"
    r = run("emit-patch", str(policy), "--tree", str(tree418), *FIXED, *SIGNOFF, "-o", str(out))
    output = _clean(r)
    assert r.exit_code == 1, output
    assert f"{policy}:{line}:{column}: error:" in output and what in output
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == listing and _snapshot(tree418) == before


# -- 4: descriptions that git would read as a patch break --------------------------


@pytest.mark.parametrize(
    "description",
    [
        "x" + " " * 72 + "---",
        "a" * 70 + " --- .",  # wraps to a line "--- .", which git takes for the end of the message
        "a" * 70 + " --- a/evil.c",
        "x" + " " * 78 + "Index: evil.c",
        "a" * 66 + " Index: evil.c",  # wraps to a line "Index: evil.c."
    ],
    ids=["padded-dashes", "wrapped-dashes", "wrapped-dashes-file", "padded-index", "wrapped-index"],
)
def test_git_am_of_a_hostile_description_keeps_the_message_and_the_files(
    tree418: Path, tmp_path: Path, description: str
) -> None:
    text = HM_PUT.read_text()
    head, _, rest = text.partition('policy hm_put_clear_enabled "')
    policy = _write(tmp_path / "smuggle.fp", head + f'policy smuggle "{description}"' + rest.split('"', 1)[1])
    out = tmp_path / "s.patch"
    r = run("emit-patch", str(policy), "--tree", str(tree418), *FIXED, *SIGNOFF, "-o", str(out))
    assert r.exit_code == 0, _clean(r)
    body = out.read_text().split("\n---\n", 1)[0]
    for line in body.split("\n"):
        assert not re.match(r"(---(\s|$)|--- \S|diff -|Index: )", line), f"a patch break in the message: {line!r}"
    env = {**os.environ, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    git = dict(cwd=tree418, capture_output=True, text=True, env=env, check=False)
    done = subprocess.run(["git", "am", "-q", str(out)], **git)
    assert done.returncode == 0, done.stderr
    message = subprocess.run(["git", "log", "-1", "--format=%B"], **git).stdout
    assert " ".join(description.split()) in " ".join(message.split())
    assert "Signed-off-by: A <a@b.org>" in message  # the message's last line: git am did not cut it short
    changed = subprocess.run(["git", "show", "--name-only", "--format="], **git).stdout
    assert changed.split() == ["arch/arm64/kvm/fpsimd.c"]
    assert subprocess.run(["git", "status", "--porcelain"], **git).stdout == ""
    assert not (tree418 / "evil.c").exists()


# -- 5: verify-patch never writes outside its scratch copy ----------------------------


def _hunk(name: str) -> str:
    return f"diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n@@ -1 +1 @@\n-int x;\n+int y;\n"


@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep"])
@pytest.mark.parametrize("evil", ["absolute", "../../victim.c", "arch/../../x.c"])
def test_verify_patch_touches_nothing_outside_the_tree(tmp_path: Path, evil: str, keep: bool) -> None:
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    (tree / "arch/arm64").mkdir(parents=True)
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\n")
    (tree / "scripts/checkpatch.pl").write_text("#!/bin/sh\nexit 0\n")
    (tree / "arch/arm64/Makefile").write_text("")
    victim = tmp_path / "victim.c"
    victim.write_text("int x;\n")
    os.link(victim, tree / "linked.c")  # a hunk on it is inside the tree; its inode is the victim's
    name = str(victim) if evil == "absolute" else evil
    patch = tmp_path / "evil.patch"
    patch.write_text("From 0 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\n---\n" + _hunk("linked.c") + _hunk(name))
    st = victim.stat()
    listing, before = sorted(os.listdir(tmp_path)), _snapshot(tree)
    r = run("verify-patch", str(patch), "--tree", str(tree), *(["--keep"] if keep else []))
    out = _clean(r)
    assert r.exit_code == 2, out
    assert f"the patch names '{name}'" in out and "verify-patch changes only files inside the tree" in out
    after = victim.stat()
    assert (after.st_ino, after.st_nlink, after.st_uid, victim.read_bytes()) == (st.st_ino, 2, st.st_uid, b"int x;\n")
    assert (tree / "linked.c").stat().st_ino == st.st_ino
    assert sorted(os.listdir(tmp_path)) == listing  # no .victim.c.fpdsl-copy, no .tree.kept-*/.tree.verify-*
    assert _snapshot(tree) == before
    assert not (tmp_path / "x.c").exists()


# -- 6: output modes ------------------------------------------------------------


@pytest.fixture
def umask022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask022")
def test_emit_patch_output_gets_the_umask_mode(tree418: Path, tmp_path: Path) -> None:
    out = tmp_path / "new.patch"
    r = run("emit-patch", str(HM_PUT), "--tree", str(tree418), *FIXED, *SIGNOFF, "-o", str(out))
    assert r.exit_code == 0, _clean(r)
    assert _mode(out) == 0o644 and out.read_text().startswith("From ")


@pytest.mark.usefixtures("umask022")
def test_emit_patch_output_keeps_the_mode_of_the_file_it_replaces(tree418: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.patch"
    out.write_text("old")
    out.chmod(0o640)
    r = run("emit-patch", str(HM_PUT), "--tree", str(tree418), *FIXED, *SIGNOFF, "-o", str(out))
    assert r.exit_code == 0, _clean(r)
    assert _mode(out) == 0o640 and out.read_text().startswith("From ")


@pytest.mark.usefixtures("umask022")
def test_compare_plot_gets_the_umask_mode(tmp_path: Path) -> None:
    plot = tmp_path / "p.png"
    r = run("compare", str(EAGER), "--workload", "seed_2018", "--sweep", "exit_to_user=0.01:0.1:2", "--plot", str(plot))
    assert r.exit_code == 0, _clean(r)
    assert plot.read_bytes().startswith(b"\x89PNG") and _mode(plot) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["p.png"]


@pytest.mark.usefixtures("umask022")
def test_simulate_dot_gets_the_umask_mode(tmp_path: Path) -> None:
    dot = tmp_path / "ce.dot"
    r = run("simulate", str(LAZY), "-q", "--dot", str(dot))
    out = _clean(r)
    assert r.exit_code == 1 and "VIOLATED" in out, out  # the seed's counterexample
    assert dot.read_text().lstrip().startswith("digraph") and _mode(dot) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["ce.dot"]


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask022", "umask077"])
def test_apply_keeps_the_mode_of_the_sources_it_rewrites(tree416: Path, umask: int) -> None:
    dry = run("emit-patch", str(LAZY), "--tree", str(tree416), *FIXED, *SIGNOFF)
    assert dry.exit_code == 0, _clean(dry)
    touched = _touched(dry.output)
    assert len(touched) >= 2, touched
    for rel in touched:
        (tree416 / rel).chmod(0o644)
    old = os.umask(umask)
    try:
        r = run("emit-patch", str(LAZY), "--tree", str(tree416), *FIXED, *SIGNOFF, "--apply")
    finally:
        os.umask(old)
    assert r.exit_code == 0, _clean(r)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tree416, capture_output=True, text=True).stdout
    assert sorted(line[3:] for line in status.splitlines()) == sorted(touched)  # no temporary file left
    assert {rel: _mode(tree416 / rel) for rel in touched} == {rel: 0o644 for rel in touched}


# -- 7: outputs that are not files ------------------------------------------------


@pytest.mark.parametrize("kind", ["dev-null", "directory", "under-a-file", "trailing-slash"])
def test_emit_patch_refuses_an_output_that_is_not_a_file(tree418: Path, tmp_path: Path, kind: str) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    output, message = {
        "dev-null": ("/dev/null", "output: /dev/null is not a regular file (a character device)"),
        "directory": (str(tmp_path / "dir"), f"output: {tmp_path / 'dir'} is a directory"),
        "under-a-file": (str(tmp_path / "file" / "child"), f"output: {tmp_path / 'file'} is not a directory"),
        "trailing-slash": (str(tmp_path / "newdir") + "/", f"output: {tmp_path / 'newdir'}/ names a directory"),
    }[kind]
    before, tree_before = _snapshot(tmp_path), _snapshot(tree418)
    r = run("emit-patch", str(HM_PUT), "--tree", str(tree418), *FIXED, *SIGNOFF, "-o", output)
    out = _clean(r)
    assert r.exit_code == 2, out
    assert message in out
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert _snapshot(tmp_path) == before and _snapshot(tree418) == tree_before
    assert not (tmp_path / "newdir").exists()


@pytest.mark.parametrize("target_exists", [True, False], ids=["existing", "dangling"])
def test_emit_patch_writes_through_a_symlink(tree418: Path, tmp_path: Path, target_exists: bool) -> None:
    target = tmp_path / "real.patch"
    if target_exists:
        target.write_text("old")
    link = tmp_path / "link.patch"
    link.symlink_to(target)
    r = run("emit-patch", str(HM_PUT), "--tree", str(tree418), *FIXED, *SIGNOFF, "-o", str(link))
    assert r.exit_code == 0, _clean(r)
    assert link.is_symlink() and os.readlink(link) == str(target)
    mail = target.read_text()
    assert mail.startswith("From ") and "diff --git a/arch/arm64/kvm/fpsimd.c" in mail
    assert sorted(os.listdir(tmp_path)) == ["link.patch", "real.patch", "tree"]


# -- 8: --apply and --series are all or nothing ----------------------------------------


def _inside(path: str | os.PathLike[str], root: Path) -> bool:
    return os.path.realpath(os.fspath(path)).startswith(os.path.realpath(root) + os.sep)


def _fail_on(n: int, root: Path, real: Callable[..., object], *, keyword: str | None = None) -> Callable[..., object]:
    """`real`, but raising EROFS on its `n`th call aimed inside `root` (the
    destination, or the `keyword` argument)."""
    calls: list[str] = []

    def failing(*args: object, **kwargs: object) -> object:
        where = kwargs.get(keyword) if keyword else (args[1] if len(args) > 1 else kwargs.get("dst"))
        if where is not None and _inside(where, root):  # type: ignore[arg-type]
            calls.append(str(where))
            if len(calls) == n:
                raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, **kwargs)

    return failing


@pytest.mark.parametrize("how", ["rename", "mkstemp"])
def test_apply_failing_on_the_second_file_leaves_the_tree_as_it_was(
    tree416: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    import fpdsl.fsutil as fsutil

    dry = run("emit-patch", str(LAZY), "--tree", str(tree416), *FIXED, *SIGNOFF)
    assert dry.exit_code == 0 and len(_touched(dry.output)) >= 2, dry.output
    before = _snapshot(tree416)
    if how == "rename":
        monkeypatch.setattr(fsutil.os, "replace", _fail_on(2, tree416, os.replace))
    else:
        monkeypatch.setattr(fsutil.tempfile, "mkstemp", _fail_on(2, tree416, fsutil.tempfile.mkstemp, keyword="dir"))
    r = run("emit-patch", str(LAZY), "--tree", str(tree416), *FIXED, *SIGNOFF, "--apply")
    monkeypatch.undo()
    out = _clean(r)
    assert r.exit_code in (1, 2), out
    assert "Read-only file system" in out and "cannot write" in out
    assert "applied to" not in out
    assert _snapshot(tree416) == before  # no file changed, no temporary or backup file left
    assert subprocess.run(["git", "status", "--porcelain"], cwd=tree416, capture_output=True, text=True).stdout == ""


def test_series_failing_on_the_third_rename_writes_no_file(
    tree416: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fpdsl.fsutil as fsutil

    first = tmp_path / "first"
    r = run("emit-patch", str(LAZY), "--tree", str(tree416), *FIXED, *SIGNOFF, "--series", str(first))
    assert r.exit_code == 0, _clean(r)
    assert len(os.listdir(first)) >= 3  # the cover letter and two patches
    series = tmp_path / "series"
    before = _snapshot(tree416)
    monkeypatch.setattr(fsutil.os, "replace", _fail_on(3, series, os.replace))
    r = run("emit-patch", str(LAZY), "--tree", str(tree416), *FIXED, *SIGNOFF, "--series", str(series))
    monkeypatch.undo()
    out = _clean(r)
    assert r.exit_code == 2, out
    assert "--series" in out and "Read-only file system" in out and "nothing was written" in out
    assert not series.exists() or os.listdir(series) == []
    assert sorted(os.listdir(tmp_path)) == sorted(["first", "tree", *(["series"] if series.exists() else [])])
    assert _snapshot(tree416) == before


# -- 9: scenario bounds ------------------------------------------------------------


def test_a_scenario_with_99999999_cpus_is_a_located_error(tmp_path: Path) -> None:
    scn = _write(tmp_path / "big.scn", 'scenario s "d"\ncpus 99999999\nA:ioctl\n')
    done = _bounded("simulate", str(EAGER), "--scenario", str(scn), timeout=60)
    out = _clean(done)
    assert done.returncode == 1, out
    assert f"{scn}:2:6: error: cpus 99999999 is out of range" in out


# -- 10: a comment on the first hook ------------------------------------------------


@pytest.mark.parametrize("layout", ["v4.18", "v4.16"])
def test_a_comment_before_the_first_hook_emits(tmp_path: Path, layout: str) -> None:
    tree = write_tree(tmp_path / "tree", layout)
    source, first = (HM_PUT, "hook put {") if layout == "v4.18" else (LAZY, "hook enter {")
    text = source.read_text()
    assert text.index(first) == min(text.index(h) for h in re.findall(r"^hook \w+ \{", text, re.M))
    policy = _write(tmp_path / "first.fp", text.replace(first, "## words on the first hook\n" + first, 1))
    out = tmp_path / "out.patch"
    r = run("emit-patch", str(policy), "--tree", str(tree), *FIXED, *SIGNOFF, "-o", str(out))
    assert r.exit_code == 0, _clean(r)
    _clean(r)
    assert out.read_text().startswith("From ") and "\n+" in out.read_text()
    if layout == "v4.16":  # the enter hook's code is new there: the comment goes with it
        assert "+\t/* words on the first hook */" in out.read_text()


# -- 11: a huge sparse tree file -----------------------------------------------------


def test_a_sparse_4_gib_arm_c_is_refused_by_its_size(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", "v4.16")
    with open(tree / "virt/kvm/arm/arm.c", "r+b") as handle:
        handle.truncate(4 << 30)  # no disk used, but 4 GiB to read
    out = tmp_path / "out.patch"
    done = _bounded("emit-patch", str(LAZY), "--tree", str(tree), *FIXED, *SIGNOFF, "-o", str(out), timeout=60)
    text = _clean(done)
    assert done.returncode == 2, text
    assert "virt/kvm/arm/arm.c" in text and "4294967296 bytes; the limit is" in text
    assert not out.exists()


# -- 12: FIFOs never block ---------------------------------------------------------


def test_a_fifo_policy_for_check_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "policy.fp"
    os.mkfifo(fifo)
    done = _bounded("check", str(fifo))
    out = _clean(done)
    assert done.returncode == 2 and f"{fifo}: error: is a FIFO, not a regular file" in out, out


def test_a_fifo_scenario_for_simulate_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "s.scn"
    os.mkfifo(fifo)
    done = _bounded("simulate", str(EAGER), "--scenario", str(fifo))
    out = _clean(done)
    assert done.returncode == 2 and f"{fifo}: error: is a FIFO, not a regular file" in out, out


@pytest.mark.parametrize("command", ["emit-patch", "review"])
def test_a_fifo_tree_makefile_does_not_block(tree416: Path, tmp_path: Path, command: str) -> None:
    patch = tmp_path / "lazy.mbox"
    r = run("emit-patch", str(LAZY), "--tree", str(tree416), *FIXED, *SIGNOFF, "-o", str(patch))
    assert r.exit_code == 0, _clean(r)
    (tree416 / "Makefile").unlink()
    os.mkfifo(tree416 / "Makefile")
    if command == "emit-patch":
        out = tmp_path / "out.patch"
        done = _bounded("emit-patch", str(LAZY), "--tree", str(tree416), *FIXED, *SIGNOFF, "-o", str(out))
        assert not out.exists()
    else:
        done = _bounded("review", str(patch), str(LAZY), "--tree", str(tree416))
    text = _clean(done)
    assert done.returncode == 2, text
    assert f"{tree416}: not a kernel tree" in text
