"""The patch mail as a KVM developer posts it: a summary subject, RFC for a
policy the model finds broken, -v N, --to/--cc, base-commit:, and the
verification and cost tables below `---`, where `git am` drops them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import POLICIES, ROOT, run
from standin import write_tree

HM_PUT = ROOT / "tests" / "policies" / "hm_put_clear_enabled.fp"
FIXED = ("--date", "2018-02-14T11:15:54+00:00", "--signoff", "Fp Dsl <fpdsl@example.org>")
GIT_ENV = {**os.environ, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _git(tree: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True, env=GIT_ENV, check=True)
    return done.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "tree", "v4.18", git=True)


def test_headers_base_and_notes_of_a_single_patch(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.patch"
    args = ("--to", "kvmarm@lists.cs.columbia.edu", "--cc", "Marc Zyngier <maz@kernel.org>", "--cc", "a@b.org")
    r = run("emit-patch", str(HM_PUT), "--tree", str(tree), *FIXED, *args, "--base", "auto", "-v", "3", "-o", str(out))
    assert r.exit_code == 0, r.output
    text = out.read_text()
    head = text.split("\n\n", 1)[0].split("\n")
    assert head[3] == "Subject: [PATCH v3] KVM: arm64: Switch FPSIMD context handling to hm_put_clear_enabled"
    assert head[4:] == ["To: kvmarm@lists.cs.columbia.edu", "Cc: Marc Zyngier <maz@kernel.org>, a@b.org"]
    head_commit = _git(tree, "rev-parse", "HEAD").strip()
    assert text.endswith(f"\n\nbase-commit: {head_commit}\n-- \nfpdsl 0.1.0\n\n")
    message, notes = text.split("\n---\n", 1)
    assert "  verdict: CLEAN\n" in notes and "against the tree's host_machinery policy:" in " ".join(notes.split())
    assert "verdict" not in message and "host saves" not in message
    # git am keeps the message and drops the tables
    _git(tree, "am", "-q", str(out))
    log = _git(tree, "log", "-1", "--format=%B")
    assert "finds no lost or leaked FPSIMD state" in " ".join(log.split())
    assert (
        "verdict" not in log
        and "host saves" not in log
        and log.rstrip().endswith("Signed-off-by: Fp Dsl <fpdsl@example.org>")
    )


def test_review_accepts_the_mail_with_notes_and_base(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.patch"
    assert run("emit-patch", str(HM_PUT), "--tree", str(tree), *FIXED, "--base", "auto", "-o", str(out)).exit_code == 0
    r = run("review", str(out), str(HM_PUT), "--tree", str(tree))
    assert r.exit_code == 0, r.output


def test_a_violated_policy_is_an_rfc_unless_told(tmp_path: Path) -> None:
    v416 = write_tree(tmp_path / "t16", "v4.16")
    out = tmp_path / "s"
    r = run("emit-patch", str(POLICIES / "lazy_until_put.fp"), "--tree", str(v416), *FIXED, "--series", str(out))
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir())
    assert names[0] == "0000-cover-letter.patch"
    subjects = [
        next(line for line in (out / n).read_text().splitlines() if line.startswith("Subject: ")) for n in names
    ]
    assert subjects == [
        "Subject: [RFC PATCH 0/2] KVM: arm64: Guest FPSIMD stays live across exits until vcpu_put",
        "Subject: [RFC PATCH 1/2] KVM: arm64: Convert lazy FPSIMD context switch trap to C",
        "Subject: [RFC PATCH 2/2] KVM: arm64: Guest FPSIMD stays live across exits until vcpu_put",
    ]
    told = tmp_path / "told"
    r = run(
        "emit-patch", str(POLICIES / "lazy_until_put.fp"), "--tree", str(v416), *FIXED, "--series", str(told),
        "--subject-prefix", "PATCH", "--subject", "Keep the guest's FPSIMD state live until vcpu_put", "-v", "2",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in told.iterdir())
    assert names == [
        "v2-0000-cover-letter.patch",
        # git counts "v2-" in its 57 characters too
        "v2-0001-KVM-arm64-Convert-lazy-FPSIMD-context-switch-trap.patch",
        "v2-0002-KVM-arm64-Keep-the-guest-s-FPSIMD-state-live-unti.patch",
    ]
    assert (
        "Subject: [PATCH v2 2/2] KVM: arm64: Keep the guest's FPSIMD state live until vcpu_put\n"
        in (told / names[2]).read_text()
    )


def test_base_goes_in_the_cover_letter_of_a_series(tmp_path: Path) -> None:
    v416 = write_tree(tmp_path / "t16", "v4.16", git=True)
    out = tmp_path / "s"
    sha = "1" * 40
    r = run(
        "emit-patch", str(POLICIES / "neon_busy.fp"), "--tree", str(v416), *FIXED, "--series", str(out), "--base", sha
    )
    assert r.exit_code == 0, r.output
    texts = {p.name: p.read_text() for p in sorted(out.iterdir())}
    assert [n for n, t in texts.items() if f"base-commit: {sha}" in t] == ["0000-cover-letter.patch"]
    # the tables go with the policy's patch (and the cover letter), not with the patches preparing it
    assert [n for n, t in texts.items() if "  verdict: CLEAN" in t] == [
        "0000-cover-letter.patch",
        "0003-KVM-arm64-Switch-FPSIMD-context-handling-to-neon_bus.patch",  # git's 57 characters
    ]


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--to", "a@b.org\nBcc: victim@example.org", "--to: contains U+000A; a mail header takes one line"),
        ("--cc", "not an address", "--cc: 'not an address' is not an address"),
        ("--to", "A <a@b.org>, C <c@d.org>", "is not an address"),
        ("--base", "HEAD", "--base: 'HEAD' is not a full commit id (40 hex digits) or 'auto'"),
        ("--subject", "two\nlines", "--subject: contains U+000A"),
        ("--subject-prefix", "PATCH\rX", "--subject-prefix: contains U+000D"),
    ],
)
def test_envelope_options_are_checked(tree: Path, tmp_path: Path, option: str, value: str, said: str) -> None:
    out = tmp_path / "p.patch"
    r = run("emit-patch", str(HM_PUT), "--tree", str(tree), *FIXED, option, value, "-o", str(out))
    assert r.exit_code == 2 and said in r.output, r.output
    assert not out.exists()


def test_base_auto_needs_a_git_tree(tmp_path: Path) -> None:
    plain = write_tree(tmp_path / "plain", "v4.18")
    r = run("emit-patch", str(HM_PUT), "--tree", str(plain), *FIXED, "--base", "auto")
    assert r.exit_code == 2 and "is not a git work tree with a commit" in r.output


def test_file_names_with_a_reroll_count_are_gits(tmp_path: Path) -> None:
    from fpdsl.emit.series import patch_file_name

    subjects = [
        "KVM: arm64: Keep the guest's FPSIMD state live until vcpu_put",
        "KVM: arm64: Convert lazy FPSIMD context switch trap to C",
        "arm64: fpsimd: Interfaces for KVM FPSIMD policy neon_busy",
    ]
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    for s in subjects:
        _git(repo, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty", "-m", s)
    _git(repo, "format-patch", "-q", "-v", "2", "--cover-letter", "--root", "-o", "out")
    ours = [patch_file_name(0, "cover letter", 2)] + [patch_file_name(i, s, 2) for i, s in enumerate(subjects, 1)]
    assert sorted(p.name for p in (repo / "out").iterdir()) == ours


@pytest.mark.parametrize(
    ("description", "signoff"),
    [
        ("Guest state handed over =?t (an encoded-word start)", "Fp Dsl <fpdsl@example.org>"),
        ("Jörg’s lazy switch, with a long enough summary to be folded over two encoded words", "Jörg Rödel <j@r.org>"),
        ("Plain words", "A =?x?q?y?= B <a@b.org>"),
    ],
    ids=["encoded-word-start", "utf-8", "encoded-word-in-name"],
)
def test_git_am_keeps_subject_author_and_message(tree: Path, tmp_path: Path, description: str, signoff: str) -> None:
    policy = tmp_path / "d.fp"
    text = HM_PUT.read_text()
    head, _, rest = text.partition('policy hm_put_clear_enabled "')
    policy.write_text(head + f'policy d "{description}"' + rest.split('"', 1)[1])
    out = tmp_path / "d.patch"
    date = ("--date", "2018-02-14T11:15:54+00:00")
    r = run(
        "emit-patch",
        str(policy),
        "--tree",
        str(tree),
        *date,
        "--signoff",
        signoff,
        "--subject",
        description,
        "-o",
        str(out),
    )
    assert r.exit_code == 0, r.output
    _git(tree, "am", "-q", str(out))
    subject, author, body = _git(tree, "log", "-1", "--format=%s%n%an <%ae>%n%b").split("\n", 2)
    assert subject == f"KVM: arm64: {description}"
    assert author == signoff
    assert " ".join(description.split()) in " ".join(body.split()) and f"Signed-off-by: {signoff}" in body


def test_verify_patch_takes_a_rerolled_series_directory(tmp_path: Path) -> None:
    from fpdsl.emit.verify import series_files

    for name in ("v2-0000-cover-letter.patch", "v2-0001-a.patch", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in series_files([str(tmp_path)])] == ["v2-0000-cover-letter.patch", "v2-0001-a.patch"]
