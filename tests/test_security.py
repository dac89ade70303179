"""Untrusted input: policy text that would leave its C comment or mail
line, inputs that are not regular files, bounds and sweeps out of range,
and output files written whole, through symlinks, with a normal mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers import ROOT, run

from fpdsl.diagnostics import UsageError
from fpdsl.fsutil import atomic_write, write_all


def _policy(tmp_path: Path, text: str, name: str = "p.fp") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


HEAD = 'policy p "d"\n'


@pytest.mark.parametrize(
    ("comment", "column", "what"),
    [
        ('## harmless */ panic("injected"); /* still a comment?', 17, "'*/'"),
        ("## opens /* a nested comment", 14, "'/*'"),
        ("## one\rtwo", 11, "U+000D"),
        ("## bell \x07 here", 13, "U+0007"),
        ("## hidden \u202e override", 15, "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("## zero\u200bwidth", 12, "U+200B ZERO WIDTH SPACE"),
    ],
)
def test_doc_comment_that_could_leave_its_c_comment_is_refused(
    tmp_path: Path, comment: str, column: int, what: str
) -> None:
    path = _policy(tmp_path, HEAD + f"hook load {{\n    {comment}\n    pass\n}}\n")
    r = run("check", str(path))
    assert r.exit_code == 1
    assert f"{path}:3:{column}: error:" in r.output
    assert what in r.output


def test_plain_comments_and_tabs_in_doc_comments_stay_allowed(tmp_path: Path) -> None:
    path = _policy(tmp_path, HEAD + "# anything */ here /*\nhook load {\n    ## a\ttab\n    pass\n}\n")
    assert run("check", str(path)).exit_code == 0


@pytest.mark.parametrize(
    ("description", "column", "what"),
    [("a\u202eb", 12, "U+202E"), ("tab\there", 14, "U+0009"), ("x" * 121, 131, "121 characters")],
    ids=["bidi", "tab", "too-long"],
)
def test_description_must_be_one_visible_line(tmp_path: Path, description: str, column: int, what: str) -> None:
    path = _policy(tmp_path, f'policy p "{description}"\n')
    r = run("check", str(path))
    assert r.exit_code == 1
    assert f"{path}:1:{column}: error:" in r.output
    assert what in r.output


def test_flags_differing_only_in_case_are_refused_across_bases(tmp_path: Path) -> None:
    (tmp_path / "base.fp").write_text('policy base "b"\nflag SAVED\n')
    path = _policy(tmp_path, 'policy p "d"\nextends base\nflag saved\n')
    r = run("check", str(path))
    assert r.exit_code == 1
    assert f"{path}:3:6: error: flag 'saved' differs from flag 'SAVED' ({tmp_path / 'base.fp'}:2) only in case" in (
        r.output
    )


def test_shipped_policies_are_a_library_extends_finds(tmp_path: Path) -> None:
    path = _policy(tmp_path, 'policy mine "d"\nextends host_machinery\n')
    assert run("check", str(path)).exit_code == 0


@pytest.mark.parametrize("command", ["check", "simulate"])
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "policy.fp"
    os.mkfifo(fifo)
    r = run(command, str(fifo))
    assert r.exit_code == 2
    assert "is a FIFO, not a regular file" in r.output


def test_fifo_scenario_and_profile_and_device_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "in"
    os.mkfifo(fifo)
    policy = str(ROOT / "policies" / "eager.fp")
    r = run("simulate", policy, "--scenario", str(fifo))
    assert (r.exit_code, "is a FIFO" in r.output) == (2, True)
    r = run("stats", policy, "--workload", str(fifo))
    assert (r.exit_code, "is a FIFO" in r.output) == (2, True)
    r = run("check", "/dev/zero")
    assert (r.exit_code, "is a character device, not a regular file" in r.output) == (2, True)


def test_names_too_long_for_the_file_system_are_diagnostics(tmp_path: Path) -> None:
    r = run("check", str(tmp_path / ("a" * 300 + ".fp")))
    assert r.exit_code == 2 and "File name too long" in r.output and "internal error" not in r.output
    path = _policy(tmp_path, 'policy p "d"\nextends ' + "b" * 300 + "\n")
    r = run("check", str(path))
    assert r.exit_code == 1 and f"{path}:2:9: error: unknown base policy" in r.output


def test_scenario_bounds_are_range_checked(tmp_path: Path) -> None:
    policy = str(ROOT / "policies" / "eager.fp")
    for line, col, message in (("cpus 0", 6, "cpus 0 is out of range"), ("tasks 99999999", 7, "tasks 99999999")):
        scn = tmp_path / "s.scn"
        scn.write_text(f'scenario s "d"\n{line}\nA:ioctl\n')
        r = run("simulate", policy, "--scenario", str(scn))
        assert r.exit_code == 1
        assert f"{scn}:2:{col}: error: {message}" in r.output


def test_deeply_nested_toml_is_a_diagnostic(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    r = run("stats", str(ROOT / "policies" / "eager.fp"), "--workload", str(deep))
    assert r.exit_code == 1 and "nested too deeply" in r.output


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("exit_to_user=-1:2:3", "at exit_to_user=-1 the profile seed_2018 is invalid"),
        ("exit_to_user=0:0.5:5", "must be positive"),
        ("exit_to_user=0.1:0.2:0", "1 <= COUNT <= 200"),
        ("exit_to_user=0.1:0.2:10000000", "1 <= COUNT <= 200"),
        ("exit_to_user=nan:0.2:3", "finite START and STOP"),
        ("exit_to_user=0.1:inf:3", "finite START and STOP"),
        ("preempt=0.5:0.999:3", "exceed 1"),
    ],
)
def test_every_sweep_point_is_a_valid_profile(tmp_path: Path, sweep: str, message: str) -> None:
    out = tmp_path / "plot.png"
    r = run(
        "compare",
        str(ROOT / "policies" / "eager.fp"),
        "--workload",
        "seed_2018",
        "--sweep",
        sweep,
        "--metric",
        "host_saves",
        "--plot",
        str(out),
    )
    assert r.exit_code == 2
    assert message in r.output
    assert not out.exists()


def test_negative_seed_is_a_usage_error() -> None:
    r = run("stats", str(ROOT / "policies" / "eager.fp"), "--workload", "seed_2018", "--seed", "-1")
    assert r.exit_code == 2 and "internal error" not in r.output


def test_written_files_get_the_umask_mode_or_keep_their_own(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.txt", "x")
        assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
        kept = tmp_path / "kept.txt"
        kept.write_text("old")
        kept.chmod(0o640)
        atomic_write(kept, "new")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_text() == "new"
    finally:
        os.umask(old)


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    target = tmp_path / "real.patch"
    target.write_text("old")
    link = tmp_path / "link.patch"
    link.symlink_to(target)
    atomic_write(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


@pytest.mark.parametrize("kind", ["directory", "trailing slash", "under a file", "device"])
def test_outputs_that_are_not_files_are_refused(tmp_path: Path, kind: str) -> None:
    (tmp_path / "file").write_text("x")
    path = {
        "directory": str(tmp_path),
        "trailing slash": str(tmp_path / "newdir") + "/",
        "under a file": str(tmp_path / "file" / "child"),
        "device": "/dev/null",
    }[kind]
    with pytest.raises(UsageError):
        atomic_write(path, "x")
    assert not (tmp_path / "newdir").exists()
    assert (tmp_path / "file").read_text() == "x"


def test_write_all_writes_nothing_when_one_file_cannot_be_written(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores directory permissions: make the second target impossible instead.
        blocked = tmp_path / "blocker"
        blocked.write_text("a file where a directory is wanted")
        second = blocked / "b.txt"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        second = ro / "b.txt"
    first = tmp_path / "a.txt"
    first.write_text("before")
    with pytest.raises(UsageError):
        write_all({first: "after", second: "x"})
    assert first.read_text() == "before"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_comment_on_the_first_hook_lowers(tmp_path: Path) -> None:
    from fpdsl.emit.codegen import Lowering

    lines = Lowering("v4.18", str(tmp_path / "p.fp")).comment(("the hook's own words",), "\t", 3)
    assert [line.text for line in lines] == ["\t/* the hook's own words */"]
    assert lines[0].origin.line == 3


@pytest.mark.parametrize("where", ["/proc/fpdsl.png", "/sys/fpdsl.png", "file/under.png"])
def test_plot_where_no_file_can_be_is_a_usage_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("x")
    plot = where if where.startswith("/") else str(tmp_path / where)
    r = run(
        "compare",
        str(ROOT / "policies" / "eager.fp"),
        "--workload",
        "seed_2018",
        "--sweep",
        "exit_to_user=0.01:0.1:2",
        "--metric",
        "host_saves",
        "--plot",
        plot,
    )
    assert r.exit_code == 2 and "internal error" not in r.output


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("RETURN", "the C field 'return', which is a C keyword"),
        ("VOLATILE", "the C field 'volatile', which is a C keyword"),
        ("CTXT", "the C field 'ctxt', which struct kvm_vcpu_arch already has"),
        ("HCR_EL2", "the C field 'hcr_el2', which struct kvm_vcpu_arch already has"),
        ("FP_UNTRAPPED", "the C field 'fp_untrapped', which fpdsl generates"),
        ("CURRENT", "the C field 'current', which the preprocessor replaces"),
    ],
)
def test_flags_that_would_be_bad_c_fields_are_refused_at_their_declaration(
    tmp_path: Path, flag: str, message: str
) -> None:
    from standin import write_tree

    tree = write_tree(tmp_path / "tree", "v4.18")
    path = _policy(
        tmp_path,
        f'policy hmf "d"\nkernel v4.18\nextends host_machinery\nflag {flag}\n'
        "hook put {\n    local_irq_save()\n    if FP_ENABLED {\n        fpsimd_save()\n"
        f"        fpsimd_flush_cpu_state()\n        {flag} = true\n    }}\n    local_irq_restore()\n}}\n",
    )
    out = tmp_path / "out.patch"
    r = run("emit-patch", str(path), "--tree", str(tree), "--no-verify", "-o", str(out))
    assert r.exit_code == 1
    assert f"{path}:4:6: error: flag {flag} would be {message}" in r.output
    assert not out.exists()


HM_PUT = ROOT / "tests" / "policies" / "hm_put_clear_enabled.fp"
FIXED = ["--date", "2018-02-14T11:15:54+00:00", "--no-verify"]


@pytest.fixture
def v418_tree(tmp_path: Path) -> Path:
    from standin import write_tree

    return write_tree(tmp_path / "tree", "v4.18", git=True)


@pytest.mark.parametrize(
    "signoff", ["A B <a@b.org>\nBcc: victim@example.org", "A\rB <a@b.org>", "A B <a@b.org>\u2028x"]
)
def test_signoff_cannot_inject_mail_headers(v418_tree: Path, tmp_path: Path, signoff: str) -> None:
    out = tmp_path / "out.patch"
    r = run("emit-patch", str(HM_PUT), "--tree", str(v418_tree), *FIXED, "--signoff", signoff, "-o", str(out))
    assert r.exit_code == 2 and "--signoff: contains U+" in r.output
    assert not out.exists()


def test_output_may_not_overwrite_a_tree_source(v418_tree: Path) -> None:
    victim = v418_tree / "arch/arm64/kvm/fpsimd.c"
    before = victim.read_bytes()
    r = run("emit-patch", str(HM_PUT), "--tree", str(v418_tree), *FIXED, "--signoff", "A <a@b.org>", "-o", str(victim))
    assert r.exit_code == 2 and "fpdsl writes the tree only with --apply" in r.output
    assert victim.read_bytes() == before


def test_annotate_writes_to_output(v418_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated.txt"
    r = run("emit-patch", str(HM_PUT), "--tree", str(v418_tree), "--annotate", "-o", str(out))
    assert r.exit_code == 0 and "# from " in out.read_text() and "# from " not in r.output


def test_series_is_all_or_nothing_and_refuses_a_dangling_link(tmp_path: Path) -> None:
    from standin import write_tree

    tree = write_tree(tmp_path / "tree", "v4.16", git=True)
    lazy = str(ROOT / "policies" / "lazy_until_put.fp")
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    r = run("emit-patch", lazy, "--tree", str(tree), *FIXED, "--signoff", "A <a@b.org>", "--series", str(link))
    assert r.exit_code == 2 and "symbolic link to nothing" in r.output
    first = tmp_path / "first"
    r = run("emit-patch", lazy, "--tree", str(tree), *FIXED, "--signoff", "A <a@b.org>", "--series", str(first))
    assert r.exit_code == 0
    in_the_way = sorted(p.name for p in first.iterdir())[-1]  # the last patch of the series
    series = tmp_path / "series"
    series.mkdir()
    (series / in_the_way).mkdir()
    r = run("emit-patch", lazy, "--tree", str(tree), *FIXED, "--signoff", "A <a@b.org>", "--series", str(series))
    assert r.exit_code == 2
    assert sorted(p.name for p in series.iterdir()) == [in_the_way]


def test_apply_never_writes_outside_the_tree(v418_tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (v418_tree / "arch/arm64/kvm").rename(outside)
    (v418_tree / "arch/arm64/kvm").symlink_to(outside)
    before = {p.name: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    r = run("emit-patch", str(HM_PUT), "--tree", str(v418_tree), *FIXED, "--signoff", "A <a@b.org>", "--apply")
    assert r.exit_code == 2 and "outside the tree" in r.output
    assert {p.name: p.read_bytes() for p in outside.rglob("*") if p.is_file()} == before


def test_review_reads_only_regular_files(v418_tree: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "patch"
    os.mkfifo(fifo)
    for patch in (str(fifo), "/dev/zero"):
        r = run("review", patch, str(HM_PUT), "--tree", str(v418_tree))
        assert r.exit_code == 2 and "not a regular file" in r.output


def test_review_accepts_a_patch_whose_message_quotes_a_diff(v418_tree: Path, tmp_path: Path) -> None:
    policy = tmp_path / "quoting.fp"
    policy.write_text(
        HM_PUT.read_text().replace('policy hm_put_clear_enabled "', 'policy quoting "diff --git a/x b/x; ', 1)
    )
    out = tmp_path / "q.patch"
    r = run("emit-patch", str(policy), "--tree", str(v418_tree), *FIXED, "--signoff", "A <a@b.org>", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "diff --git a/x b/x" in out.read_text().split("\n---\n")[0]
    assert run("review", str(out), str(policy), "--tree", str(v418_tree)).exit_code == 0


@pytest.mark.parametrize("name", ["../victim.c", "/tmp/victim.c", "a/./b.c", "a//b.c"])
def test_verify_patch_refuses_paths_outside_the_tree_before_copying(tmp_path: Path, name: str) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\n")
    victim = tmp_path / "victim.c"
    victim.write_text("int x;\n")
    os.link(victim, tree / "linked.c")
    patch = tmp_path / "evil.patch"
    patch.write_text(
        f"From 0 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\n---\ndiff --git a/{name} b/{name}\n"
        f"--- a/{name}\n+++ b/{name}\n@@ -1 +1 @@\n-int x;\n+int y;\n"
    )
    inode = victim.stat().st_ino
    r = run("verify-patch", str(patch), "--tree", str(tree))
    assert r.exit_code == 2 and "verify-patch changes only files inside the tree" in r.output
    assert victim.stat().st_ino == inode and victim.read_text() == "int x;\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["tree", "victim.c", "evil.patch"])


def test_series_files_are_named_as_git_format_patch_names_them(tmp_path: Path) -> None:
    import subprocess

    from fpdsl.emit.series import patch_file_name

    subjects = [
        "KVM: arm64: Switch FPSIMD context handling to lazy_until_put",
        "KVM: arm64: Convert lazy FPSIMD context switch trap to C",
        "arm64: fpsimd: Interfaces for KVM FPSIMD policy neon_busy",
    ]
    repo = tmp_path / "repo"
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    git = dict(cwd=repo, check=True, capture_output=True, env={**os.environ, **env})
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], **git)
    for subject in subjects:
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", subject], **git)
    names = subprocess.run(["git", "format-patch", f"-{len(subjects)}"], text=True, **git).stdout.split()
    assert names == [patch_file_name(i, s) for i, s in enumerate(subjects, 1)]


@pytest.mark.parametrize(
    "description",
    [
        "x" + " " * 78 + "diff --git a/evil.c b/evil.c",
        "--- /dev/null",
        "x" + " " * 70 + "--- +++ b/evil.c @@ -0,0 +1 @@",
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001",
    ],
    ids=["padded-diff", "dashes", "padded-hunk", "from-line"],
)
def test_a_description_cannot_smuggle_a_patch_or_end_the_message(
    v418_tree: Path, tmp_path: Path, description: str
) -> None:
    import subprocess

    policy = tmp_path / "smuggle.fp"
    text = HM_PUT.read_text()
    head, _, rest = text.partition('policy hm_put_clear_enabled "')
    policy.write_text(head + f'policy smuggle "{description}"' + rest.split('"', 1)[1])
    out = tmp_path / "s.patch"
    r = run("emit-patch", str(policy), "--tree", str(v418_tree), *FIXED, "--signoff", "A <a@b.org>", "-o", str(out))
    assert r.exit_code == 0, r.output
    env = {**os.environ, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(["git", "am", "-q", str(out)], cwd=v418_tree, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    message = subprocess.run(["git", "log", "-1", "--format=%B"], cwd=v418_tree, capture_output=True, text=True)
    assert " ".join(description.split()) in " ".join(message.stdout.split())
    assert "Signed-off-by: A <a@b.org>" in message.stdout
    changed = subprocess.run(["git", "show", "--name-only", "--format="], cwd=v418_tree, capture_output=True, text=True)
    assert changed.stdout.split() == ["arch/arm64/kvm/fpsimd.c"]
    assert not (v418_tree / "evil.c").exists()


@pytest.mark.parametrize("layout", ["v4.16", "v4.17"])
def test_flags_that_would_be_bad_c_fields_are_refused_in_the_2018_series_too(tmp_path: Path, layout: str) -> None:
    from standin import write_tree

    tree = write_tree(tmp_path / "tree", layout)
    path = _policy(
        tmp_path,
        'policy lazyf "d"\nextends lazy_until_put\nflag VOLATILE\n'
        "hook put {\n    if GUEST_VFP_LOADED {\n        fpsimd_save_state(guest)\n        fpsimd_load_state(host)\n"
        "        GUEST_VFP_LOADED = false\n        VOLATILE = true\n    }\n}\n",
    )
    r = run("emit-patch", str(path), "--tree", str(tree), "--no-verify", "-o", str(tmp_path / "out.patch"))
    assert r.exit_code == 1
    assert f"{path}:3:6: error: flag VOLATILE would be the C field 'volatile', which is a C keyword" in r.output
    assert not (tmp_path / "out.patch").exists()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_tree_makefile_that_is_no_file_is_refused_not_read(tmp_path: Path, kind: str) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    if kind == "fifo":
        os.mkfifo(tree / "Makefile")
    else:
        (tree / "Makefile").symlink_to("/dev/zero")
    r = run("emit-patch", str(ROOT / "policies" / "lazy_until_put.fp"), "--tree", str(tree), "--no-verify")
    assert r.exit_code == 2 and "not a kernel tree" in r.output


def test_a_huge_sparse_tree_file_is_refused_by_its_size(tmp_path: Path) -> None:
    from standin import write_tree

    tree = write_tree(tmp_path / "tree", "v4.18")
    with open(tree / "arch/arm64/kvm/fpsimd.c", "r+b") as handle:
        handle.truncate(4 << 30)  # sparse: no disk used, but 4 GiB to read
    r = run("emit-patch", str(HM_PUT), "--tree", str(tree), "--no-verify")
    assert r.exit_code == 2 and "bytes; the limit is" in r.output


def test_git_identity_with_a_newline_is_refused(v418_tree: Path, tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text('[user]\n\tname = "A\\nBcc: victim@example.org"\n\temail = a@b.org\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    out = tmp_path / "out.patch"
    r = run("emit-patch", str(HM_PUT), "--tree", str(v418_tree), *FIXED, "-o", str(out))
    assert r.exit_code == 2 and "git config user.name: contains U+000A" in r.output
    assert not out.exists()


def test_write_all_puts_back_what_it_replaced_when_a_rename_fails(tmp_path: Path, monkeypatch) -> None:
    import fpdsl.fsutil as fsutil

    a, b = tmp_path / "a.c", tmp_path / "b.c"
    a.write_text("a before")
    b.write_text("b before")
    real = os.replace
    calls = []

    def failing(src, dst):
        calls.append(dst)
        if len(calls) == 2 and str(dst) == str(b):
            raise OSError(30, "Read-only file system")
        return real(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", failing)
    with pytest.raises(UsageError, match="nothing was written"):
        write_all({a: "a after", b: "b after"})
    assert (a.read_text(), b.read_text()) == ("a before", "b before")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.c", "b.c"]


@pytest.mark.parametrize(
    ("policy_name", "old", "new"),
    [
        # A brace inside a multi-line comment once counted as code in the v4.18 merge.
        ("hm_trap_recheck_foreign", "    ## thread's state.\n", "    ## thread's state.\n    ## @+#}u|u\n"),
        # A comment word once pulled in the header of the function it names.
        ("hm_exit_softirq_giveback", "    local_irq_enable()\n", "    ## kernel_neon_begin\n    local_irq_enable()\n"),
    ],
)
def test_comment_text_does_not_change_the_v418_merge(
    v418_tree: Path, tmp_path: Path, policy_name: str, old: str, new: str
) -> None:
    from fuzz_emit import emission_problems

    text = (ROOT / "tests" / "policies" / f"{policy_name}.fp").read_text()
    assert old in text
    assert emission_problems(text.replace(old, new, 1), v418_tree, tmp_path) == []


def test_a_policy_flag_named_like_the_generated_field_is_refused(tmp_path: Path) -> None:
    from standin import write_tree

    tree = write_tree(tmp_path / "tree", "v4.16")
    path = _policy(tmp_path, 'policy d "x"\nkernel v4.16\nflag fp_untrapped\nhook trap {\n    disarm_fp_trap()\n'
                   "    fp_untrapped = true\n}\n")  # fmt: skip
    r = run("emit-patch", str(path), "--tree", str(tree), "--no-verify")
    assert r.exit_code == 1 and f"{path}:3:6: error: flag fp_untrapped would be the C field 'fp_untrapped'" in r.output


def test_the_fuzz_oracle_sees_a_call_no_template_writes() -> None:
    from fuzz_emit import calls_and_members, template_vocabulary

    calls, members = calls_and_members("void f(struct kvm_vcpu *v)\n{\n\tpanic(v->arch.evil);\n}\n")
    assert calls["panic"] == 1 and members["evil"] == 1
    for layout in ("v4.16", "v4.18"):
        vocabulary = template_vocabulary(layout)
        assert "panic" not in vocabulary and "evil" not in vocabulary
        assert {"fpsimd_save_state", "local_bh_enable", "fp_untrapped"} <= vocabulary


def test_a_fifo_base_and_a_fifo_patch_for_verify_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "base.fp")
    path = _policy(tmp_path, 'policy p "d"\nextends base\n')
    r = run("check", str(path))
    assert r.exit_code == 2 and "is a FIFO, not a regular file" in r.output
    os.mkfifo(tmp_path / "patch")
    tree = tmp_path / "tree"
    tree.mkdir()
    r = run("verify-patch", str(tmp_path / "patch"), "--tree", str(tree))
    assert r.exit_code == 2 and "FIFO" in r.output


def test_comment_text_does_not_pull_headers_into_guest_c(tmp_path: Path) -> None:
    from fuzz_emit import emission_problems
    from standin import write_tree

    tree = write_tree(tmp_path / "tree", "v4.16")
    text = (ROOT / "policies" / "lazy_until_put.fp").read_text()
    old = "        fpsimd_load_state(host)\n"
    assert old in text
    hostile = text.replace(old, "        ## local_bh_enable()\n" + old, 1)
    assert emission_problems(hostile, tree, tmp_path) == []
