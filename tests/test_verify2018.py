"""verify-patch on 2018 trees (v4.15-v4.20), without a real tree: the
HOSTCFLAGS=-fcommon detection, the objects a 2018 patch builds, kbuild
directory objects, the arm32 C-error comparison on canned gcc output, the
order in which a series is applied, and bad object paths.

The end-to-end tests run verify_patch on a tiny fake tree with a fake `make`
and fake cross compilers on PATH: they check what verify-patch does around
kbuild (which mails are applied in which order, what make is asked to build,
with which flags, what is compared), not kbuild itself. tests/test_verify.py
runs it on real trees."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fpdsl.diagnostics import UsageError
from fpdsl.emit import verify
from fpdsl.emit.verify import (
    ARM64_KVM_DIR,
    FCOMMON,
    FPSIMD_OBJECT,
    CError,
    PatchFile,
    Step,
    VerifyReport,
    c_errors,
    c_warnings,
    check_object,
    check_tree,
    default_objects,
    make_command,
    needs_fcommon,
    new_c_errors,
    objects_2018,
    prepare_command,
    select_patches,
    series_files,
    tidy_build_output,
    verify_patch,
)

ARM_C = "virt/kvm/arm/arm.c"
needs_git_perl = pytest.mark.skipif(
    not (shutil.which("git") and shutil.which("perl") and shutil.which("bash")), reason="needs git, perl and bash"
)


def write(path: Path, text: str = "", mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


# --- HOSTCFLAGS=-fcommon -------------------------------------------------------------------------

LEXER_2018 = '%{\n#include "dtc.h"\n\nYYLTYPE yylloc;\nextern bool treesource_error;\n%}\n'
LEXER_FIXED = '%{\n#include "dtc.h"\n\nextern bool treesource_error;\n%}\n'
SHIPPED_2018 = "#define YY_DECL int yylex(void)\nYYLTYPE yylloc;\nint yyleng;\n"


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"scripts/dtc/dtc-lexer.l": LEXER_2018}, True),  # v4.17-v4.19: flex runs on the .l
        ({"scripts/dtc/dtc-lexer.l": LEXER_FIXED, "scripts/dtc/dtc-lexer.lex.c_shipped": SHIPPED_2018}, True),
        ({"scripts/dtc/dtc-lexer.l": LEXER_FIXED}, False),  # v5.7 and later, and the fixed stable trees
        ({"scripts/dtc/dtc-lexer.l": LEXER_FIXED.replace("extern bool", "extern YYLTYPE yylloc;\nextern bool")}, False),
        ({"scripts/dtc/dtc-lexer.l": "/* YYLTYPE yylloc; in a comment */\n"}, False),
        ({}, False),  # no dtc at all
    ],
    ids=["lexer-defines", "shipped-defines", "fixed", "extern-only", "comment", "no-dtc"],
)
def test_fcommon_detected_from_the_dtc_lexer(tmp_path: Path, files: dict[str, str], expected: bool) -> None:
    for rel, text in files.items():
        write(tmp_path / rel, text)
    assert needs_fcommon(tmp_path) is expected


def test_fcommon_goes_on_the_make_command_line() -> None:
    with_it = make_command("arm64", "aarch64-linux-gnu-", fcommon=True)
    assert with_it == ["make", "ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-", "HOSTCFLAGS=-fcommon", "-j2"]
    assert FCOMMON not in make_command("arm", "arm-linux-gnueabihf-", fcommon=False)


def fake_kernel(
    root: Path, *, lexer: str = LEXER_2018, prepared: bool = True, config: str = "CONFIG_ARM64=y\n"
) -> Path:
    """The files check_tree looks at, a 2018 KVM layout and the dtc lexer."""
    for rel in ("Makefile", "arch/arm64/Makefile", "arch/arm64/kvm/Makefile", "arch/arm/kvm/Makefile"):
        write(root / rel, "# fake\n")
    write(root / "scripts/checkpatch.pl", 'print "total: 0 errors, 0 warnings, 1 lines checked\\n";\n')
    write(root / "scripts/dtc/dtc-lexer.l", lexer)
    write(root / ARM_C, "int kvm_arch_init(void *opaque)\n{\n\treturn 0;\n}\n")
    write(root / "arch/arm64/kernel/fpsimd.c", "void fpsimd_flush_task_state(void)\n{\n}\n")
    if config:
        write(root / ".config", config)
    if prepared:
        for rel in ("include/generated/autoconf.h", "include/config/auto.conf", "include/generated/asm-offsets.h"):
            write(root / rel)
    return root


@pytest.mark.parametrize(
    "prepared, config, message",
    [
        (False, "", "not configured for arm64 (no .config); run: make -C {tree} ARCH=arm64"),
        (
            False,
            "CONFIG_ARM=y\n",
            "not configured for arm64 (its .config has CONFIG_ARM=y); run: make -C {tree} ARCH=arm64",
        ),
        (False, "CONFIG_ARM64=y\n", "not prepared; run: make -C {tree} ARCH=arm64"),
    ],
    ids=["unconfigured", "arm32", "unprepared"],
)
def test_unprepared_tree_error_gives_the_exact_command(tmp_path: Path, prepared: bool, config: str, message: str):
    tree = fake_kernel(tmp_path / "t", prepared=prepared, config=config)
    with pytest.raises(UsageError) as caught:
        check_tree(tree)
    text = str(caught.value)
    assert message.format(tree=tree) in text
    command = text.split("run: ", 1)[1]
    assert command.startswith("make -C ") and command.endswith(" defconfig prepare")
    assert "CROSS_COMPILE=aarch64-linux-gnu- HOSTCFLAGS=-fcommon" in command
    assert ("mrproper" in command) is (config == "CONFIG_ARM=y\n")


def test_prepare_command_without_the_workaround(tmp_path: Path) -> None:
    tree = fake_kernel(tmp_path / "t", lexer=LEXER_FIXED)
    assert prepare_command(tree, "aarch64-linux-gnu-") == (
        f"make -C {tree} ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- defconfig prepare"
    )


# --- objects -------------------------------------------------------------------------------------


def test_2018_objects_from_touched_paths() -> None:
    assert objects_2018([ARM_C]) == [ARM64_KVM_DIR]
    assert objects_2018(["arch/arm64/kvm/hyp/switch.c"]) == [ARM64_KVM_DIR]
    assert objects_2018(["arch/arm64/kvm/fpsimd.c"]) == [ARM64_KVM_DIR]  # v4.18
    assert objects_2018(["virt/kvm/kvm_main.c"]) == [ARM64_KVM_DIR]  # also built from arch/arm64/kvm/Makefile
    assert objects_2018(["arch/arm64/kernel/fpsimd.c"]) == [FPSIMD_OBJECT]
    assert objects_2018(["arch/arm64/include/asm/kvm_host.h"]) == [ARM64_KVM_DIR, FPSIMD_OBJECT]
    assert objects_2018(["arch/arm64/include/asm/fpsimd.h"]) == [ARM64_KVM_DIR, FPSIMD_OBJECT]
    assert objects_2018(["arch/arm64/kernel/entry.S", "Documentation/x.txt"]) == ["arch/arm64/kernel/entry.o"]
    # what the 2018 targets touch, once each, in the order first needed
    touched = [
        "arch/arm64/kernel/fpsimd.c",
        "arch/arm64/include/asm/fpsimd.h",
        ARM_C,
        "arch/arm64/include/asm/kvm_host.h",
        "arch/arm64/kvm/hyp/switch.c",
    ]
    assert objects_2018(touched) == [FPSIMD_OBJECT, ARM64_KVM_DIR]


def test_default_objects_follow_the_layout(tmp_path: Path) -> None:
    old = fake_kernel(tmp_path / "old")
    assert default_objects(old, [ARM_C, "arch/arm64/kernel/fpsimd.c"], ["arch/arm64/kernel/"]) == [
        ARM64_KVM_DIR,
        FPSIMD_OBJECT,
        "arch/arm64/kernel/",
    ]
    new = tmp_path / "new"  # 6.x: arch/arm64/kvm/arm.c, no virt/kvm/arm/
    for rel in ("arch/arm64/kvm/arm.c", "arch/arm64/kvm/fpsimd.c", "arch/arm64/kernel/fpsimd.c"):
        write(new / rel)
    assert default_objects(new, ["arch/arm64/kvm/arm.c"]) == [
        "arch/arm64/kvm/arm.o",
        "arch/arm64/kvm/fpsimd.o",
        "arch/arm64/kernel/fpsimd.o",
    ]


def test_directory_objects(tmp_path: Path) -> None:
    tree = fake_kernel(tmp_path / "t")
    write(tree / "arch/arm64/kernel/Makefile")
    (tree / "Documentation").mkdir()
    assert check_object("arch/arm64/kvm/", tree) == "arch/arm64/kvm/"
    assert check_object("arch/arm64/kvm", tree) == "arch/arm64/kvm/"  # a directory of the tree
    assert check_object("arch/arm64/kernel/fpsimd.o", tree) == "arch/arm64/kernel/fpsimd.o"
    assert check_object("arch/arm64/kvm/") == "arch/arm64/kvm/"  # no tree: the syntax only
    with pytest.raises(UsageError, match="has no Makefile or Kbuild"):
        check_object("Documentation/", tree)
    with pytest.raises(UsageError, match="is not a directory of"):
        check_object("arch/arm64/nothing/", tree)


@pytest.mark.parametrize(
    "obj, reason",
    [
        ("/work/trees/v4.16/arch/arm64/kvm/arm.o", "an absolute path"),
        ("../v4.17/arch/arm64/kvm/", "'..'"),
        ("arch/arm64/../../x.o", "'..'"),
        ("./arch/arm64/kvm/", "not a plain path"),
        ("CC=evil.o", "not a plain path"),
        ("arch/arm64/kvm/arm.o clean", "not a plain path"),
        ("", "not a plain path"),
        ("virt/kvm/arm/arm.c", "expected a tree-relative object"),
    ],
)
def test_bad_object_paths_are_refused(tmp_path: Path, obj: str, reason: str) -> None:
    tree = fake_kernel(tmp_path / "t")
    with pytest.raises(UsageError) as caught:
        check_object(obj, tree)
    assert reason in str(caught.value) and "expected a tree-relative object" in str(caught.value)


@pytest.mark.parametrize("obj", ["../x.o", "/abs/arm.o", "arch/arm64/kvm/../../../x.o"])
def test_bad_object_exits_2_through_the_cli(tmp_path: Path, obj: str) -> None:
    tree = fake_kernel(tmp_path / "t")
    patch = write(tmp_path / "p.patch", mail(ARM_C, "\treturn 0;\n", "\treturn 1;\n", "a"))
    cmd = [sys.executable, "-m", "fpdsl.cli", "verify-patch", str(patch), "--tree", str(tree), "--object", obj]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--object '{obj}'" in done.stderr and "Traceback" not in done.stderr


# --- the arm32 C-error comparison --------------------------------------------------------------------

UNPATCHED_ARM32 = """\
  CC      arch/arm/kvm/../../../virt/kvm/arm/arm.o
/tmp/cc88LpK5.s:246: Error: selected processor does not support `dsb sy' in ARM mode
{standard input}:12: Error: selected processor does not support `isb ' in ARM mode
  AS      arch/arm/kvm/interrupts.o
arch/arm/kvm/interrupts.S:30: Error: bad instruction `eret'
arch/arm/kvm/init.S:12:2: error: #error "old assembly"
  CC      arch/arm/kvm/../../../virt/kvm/arm/vgic/vgic.o
arch/arm/kvm/../../../virt/kvm/arm/vgic/vgic.c:100:5: error: 'x' undeclared (first use in this function)
  100 |     x = 1;
      |     ^
make[1]: *** [scripts/Makefile.build:324: arch/arm/kvm/../../../virt/kvm/arm/arm.o] Error 1
make: *** [Makefile:1734: arch/arm/kvm/] Error 2
"""
PATCHED_ARM32 = """\
  CC      arch/arm/kvm/../../../virt/kvm/arm/arm.o
arch/arm/kvm/../../../virt/kvm/arm/arm.c:: In function 'kvm_arch_vcpu_load':
arch/arm/kvm/../../../virt/kvm/arm/arm.c:346:9: error: implicit declaration of function 'fpdsl_hook' [-Werror=implicit-function-declaration]
  346 |         fpdsl_hook(vcpu);
      |         ^~~~~~~~~~
cc1: some warnings being treated as errors
/tmp/ccZZZZ.s:250: Error: selected processor does not support `dsb sy' in ARM mode
  CC      arch/arm/kvm/../../../virt/kvm/arm/vgic/vgic.o
arch/arm/kvm/../../../virt/kvm/arm/vgic/vgic.c:104:5: error: 'x' undeclared (first use in this function)
make: *** [Makefile:1734: arch/arm/kvm/] Error 2
"""  # noqa: E501


def test_c_errors_ignore_assembler_and_make() -> None:
    errors = c_errors(UNPATCHED_ARM32)
    assert [(e.file, e.line, e.column, e.message) for e in errors] == [
        ("virt/kvm/arm/vgic/vgic.c", 100, 5, "error: 'x' undeclared (first use in this function)")
    ]
    assert errors[0].text == (
        "virt/kvm/arm/vgic/vgic.c:100:5: error: 'x' undeclared (first use in this function)\n"
        "  100 |     x = 1;\n      |     ^"
    )
    fatal = c_errors("include/linux/kvm_host.h:12:10: fatal error: asm/nope.h: No such file or directory\n")
    missing = "fatal error: asm/nope.h: No such file or directory"
    assert [(e.file, e.message) for e in fatal] == [("include/linux/kvm_host.h", missing)]


def test_only_new_c_errors_count() -> None:
    new = new_c_errors(c_errors(UNPATCHED_ARM32), c_errors(PATCHED_ARM32))
    # vgic.c's error moved from line 100 to 104: pre-existing, not new
    assert [e.text.split("\n")[0] for e in new] == [
        "virt/kvm/arm/arm.c:346:9: error: implicit declaration of function 'fpdsl_hook' "
        "[-Werror=implicit-function-declaration]"
    ]
    assert new[0].text.endswith("fpdsl_hook(vcpu);\n      |         ^~~~~~~~~~")
    assert new_c_errors(c_errors(PATCHED_ARM32), c_errors(UNPATCHED_ARM32)) == []  # the patch removed an error
    assert new_c_errors(c_errors(UNPATCHED_ARM32), c_errors(UNPATCHED_ARM32)) == []
    # counted: the same message twice in one file, where the unpatched build had it once
    one = CError("a.c", 1, 1, "error: 'x' undeclared", "")
    assert new_c_errors([one], [one, CError("a.c", 9, 1, "error: 'x' undeclared", "")]) == [
        CError("a.c", 9, 1, "error: 'x' undeclared", "")
    ]
    # only assembler errors in the patched build: nothing new
    assert new_c_errors([], c_errors("/tmp/cc1.s:1: Error: bad\narch/arm/kvm/hyp/entry.S:3:1: error: x\n")) == []


def test_directory_build_output_is_stable() -> None:
    a = (
        "  HOSTCC  scripts/dtc/dtc.o\nscripts/dtc/dtc.c:1:1: warning: host noise\n"
        "  CC      arch/arm64/kvm/../../../virt/kvm/arm/arm.o\narm.c:1:1: warning: w\n"
        "make[1]: *** [x] Error 1\n"
        "  CC      arch/arm64/kvm/guest.o\n"
        "  CC      arch/arm64/kvm/hyp/switch.o\nswitch.c:2:2: error: e\n"
    )
    b = (
        "  CC      arch/arm64/kvm/hyp/switch.o\nswitch.c:2:2: error: e\n"
        "  CC      arch/arm64/kvm/guest.o\n"
        "make[1]: *** [x] Error 1\n"
        "  CC      arch/arm64/kvm/../../../virt/kvm/arm/arm.o\narm.c:1:1: warning: w\n"
        "  HOSTCC  scripts/dtc/dtc.o\nscripts/dtc/dtc.c:1:1: warning: host noise\n"
    )
    tidy = tidy_build_output(a, ARM64_KVM_DIR)
    assert tidy == tidy_build_output(b, ARM64_KVM_DIR)
    assert tidy == (
        "  CC      arch/arm64/kvm/hyp/switch.o\nswitch.c:2:2: error: e\n"
        "  CC      arch/arm64/kvm/../../../virt/kvm/arm/arm.o\narm.c:1:1: warning: w\n"
        f"(3 kbuild targets under {ARM64_KVM_DIR}; those with messages shown)\n"
        "make[1]: *** [x] Error 1\n"
    )
    # an object target keeps its own progress line, and other targets' errors
    ld = "/usr/bin/ld: dtc-parser.tab.o: multiple definition of `yylloc'\ncollect2: error: ld returned 1 exit status\n"
    noise = "  HOSTCC  scripts/extract-cert\nscripts/extract-cert.c:46:9: warning: deprecated\n"
    assert tidy_build_output(noise + "  HOSTLD  scripts/dtc/dtc\n" + ld + "  CC      x/y.o\n", "x/y.o") == (
        ld + "  CC      x/y.o\n"
    )


# --- series ----------------------------------------------------------------------------------------


def mail(path: str, old: str, new: str, subject: str, number: str = "") -> str:
    tag = f"[PATCH{' ' + number if number else ''}]"
    return (
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        "From: Fp Dsl <fpdsl@example.org>\nDate: Wed, 14 Feb 2018 11:15:54 +0000\n"
        f"Subject: {tag} KVM: arm/arm64: {subject}\n\nA change.\n\nSigned-off-by: Fp Dsl <fpdsl@example.org>\n---\n"
        f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
        f"@@ -1,4 +1,4 @@\n int kvm_arch_init(void *opaque)\n {{\n-{old}+{new} }}\n"
    )


COVER = (
    "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
    "Subject: [PATCH 0/2] KVM: arm/arm64: two steps\n\nThe series.\n\n"
    " virt/kvm/arm/arm.c | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\n-- \nfpdsl\n"
)
FIRST = mail(ARM_C, "\treturn 0;\n", "\treturn 1;\n", "one", "1/2")
SECOND = mail(ARM_C, "\treturn 1;\n", "\treturn 2;\n", "two", "2/2")  # applies only after FIRST


def test_series_files_in_name_order(tmp_path: Path) -> None:
    series = tmp_path / "series"
    for name, text in (("0002-two.patch", SECOND), ("0000-cover-letter.patch", COVER), ("0001-one.patch", FIRST)):
        write(series / name, text)
    write(series / "notes.txt", "not a patch")
    assert [p.name for p in series_files([series])] == ["0000-cover-letter.patch", "0001-one.patch", "0002-two.patch"]
    given = [series / "0002-two.patch", series / "0001-one.patch"]
    assert series_files(given) == given  # files as given
    write(tmp_path / "empty/README", "")
    with pytest.raises(UsageError, match="without NNNN-\\*.patch"):
        series_files([tmp_path / "empty"])


def test_cover_letter_skipped_only_in_a_series() -> None:
    mails = [PatchFile("0000-cover-letter.patch", COVER), PatchFile("0001-one.patch", FIRST)]
    patches, notes = select_patches(mails)
    assert [p.name for p in patches] == ["0001-one.patch"]
    assert notes == ["0000-cover-letter.patch: a cover letter, not applied"]
    with pytest.raises(UsageError, match="changes no file"):
        select_patches([PatchFile("", COVER)])
    with pytest.raises(UsageError, match="0001-x.patch: the patch changes no file"):
        select_patches([PatchFile("0001-x.patch", "Subject: [PATCH 1/2] nothing\n"), mails[1]])
    with pytest.raises(UsageError, match="every mail is a cover letter"):
        select_patches([PatchFile("0000-a.patch", COVER), PatchFile("0000-b.patch", COVER)])


FAKE_MAKE = r"""#!/bin/sh
# A stand-in for kbuild: logs its arguments, answers the targets verify-patch asks for.
echo "$*" >> "$FAKE_MAKE_LOG"
for arg; do target=$arg; done
case "$target" in
mrproper) rm -f .config ;;
multi_v7_defconfig) echo "CONFIG_ARM=y" > .config ;;
olddefconfig) ;;
arch/arm/kvm/)
    echo "  CC      arch/arm/kvm/../../../virt/kvm/arm/arm.o"
    echo "/tmp/cc1234.s:246: Error: selected processor does not support \`dsb sy' in ARM mode"
    if grep -q fpdsl_hook virt/kvm/arm/arm.c; then
        echo "arch/arm/kvm/../../../virt/kvm/arm/arm.c:3:2: error: implicit declaration of function 'fpdsl_hook'"
    fi
    echo "make: *** [Makefile:1734: arch/arm/kvm/] Error 2"
    exit 2 ;;
*)
    echo "  CC      $target"
    # gcc's warnings on a line that names fpdsl_unused (the patch's) or fpdsl_old (the tree's)
    grep -n 'fpdsl_unused\|fpdsl_old' virt/kvm/arm/arm.c 2>/dev/null | while IFS=: read -r n text; do
        name=$(echo "$text" | grep -o 'fpdsl_[a-z]*')
        echo "arch/arm64/kvm/../../../virt/kvm/arm/arm.c:$n:6: warning: unused variable '$name' [-Wunused-variable]"
    done ;;
esac
"""
FAKE_CONFIG = """#!/bin/bash
# scripts/config --file F --enable A --enable B ...
file=$2; shift 2
while [ $# -gt 0 ]; do echo "CONFIG_$2=y" >> "$file"; shift 2; done
"""


@pytest.fixture
def fake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A fake 2018 tree and a PATH with a fake make and cross compilers; the make log."""
    tree = fake_kernel(tmp_path / "tree")
    write(tree / "scripts/config", FAKE_CONFIG, 0o755)
    # checkpatch: clean, unless a line says "fpdsl: long"
    write(
        tree / "scripts/checkpatch.pl",
        'my $t = join("", <STDIN>); my $w = ($t =~ /fpdsl: long/) ? 1 : 0;\n'
        'print "WARNING: long line\\n" if $w; print "total: 0 errors, $w warnings, 9 lines checked\\n";\n',
    )
    bin_dir = tmp_path / "bin"
    write(bin_dir / "make", FAKE_MAKE, 0o755)
    for cc in ("aarch64-linux-gnu-gcc", "arm-linux-gnueabihf-gcc"):
        write(bin_dir / cc, "#!/bin/sh\nexit 0\n", stat.S_IRWXU)
    log = tmp_path / "make.log"
    monkeypatch.setattr(verify, "ARM32_CACHE", tmp_path / "cache" / "arm32")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MAKE_LOG", str(log))
    return tree, log


@needs_git_perl
def test_series_applied_in_order_then_built_once(fake_env: tuple[Path, Path]) -> None:
    tree, log = fake_env
    mails = [PatchFile("0000-cover-letter.patch", COVER), PatchFile("0001-one.patch", FIRST)]
    mails.append(PatchFile("0002-two.patch", SECOND))
    before = (tree / ARM_C).read_text()
    report = verify_patch(mails, tree, method="hardlink")
    assert report.ok, report.render(verbose=True)
    assert [s.name for s in report.steps] == [
        "scratch copy",
        "git apply --check 0001-one.patch",
        "git apply 0001-one.patch",
        "checkpatch 0001-one.patch",
        "git apply --check 0002-two.patch",
        "git apply 0002-two.patch",
        "checkpatch 0002-two.patch",
        f"compile {ARM64_KVM_DIR}",
        "compiler warnings",
    ]
    assert report.patches == ["0001-one.patch", "0002-two.patch"]
    assert report.notes[0].startswith(f"{FCOMMON} on every make call")
    assert report.notes[1] == "0000-cover-letter.patch: a cover letter, not applied"
    rendered = report.render()
    assert "patches: 0001-one.patch, 0002-two.patch\n" in rendered and "note: HOSTCFLAGS=-fcommon" in rendered
    # one make call, for the directory: -k, output per target, the workaround on the command line
    assert log.read_text() == (
        f"ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- {FCOMMON} -j2 -k --output-sync=target {ARM64_KVM_DIR}\n"
    )
    assert (tree / ARM_C).read_text() == before  # the tree itself is never written


@needs_git_perl
def test_series_in_the_wrong_order_stops_before_building(fake_env: tuple[Path, Path]) -> None:
    tree, log = fake_env
    report = verify_patch([PatchFile("0002-two.patch", SECOND), PatchFile("0001-one.patch", FIRST)], tree)
    assert not report.ok
    assert [s.name for s in report.steps] == ["scratch copy", "git apply --check 0002-two.patch"]
    assert "patch does not apply" in report.step("git apply --check 0002-two.patch").output
    assert not log.exists()


@needs_git_perl
def test_checkpatch_runs_on_each_mail(fake_env: tuple[Path, Path]) -> None:
    tree, _ = fake_env
    long = mail(ARM_C, "\treturn 1;\n", "\treturn 2; /* fpdsl: long */\n", "two", "2/2")
    report = verify_patch([PatchFile("0001-one.patch", FIRST), PatchFile("0002-two.patch", long)], tree)
    assert [s.name for s in report.steps if not s.ok] == ["checkpatch 0002-two.patch"]
    assert report.step("checkpatch 0001-one.patch").summary == "0 errors, 0 warnings"
    assert report.step(f"compile {ARM64_KVM_DIR}").ok  # the build still ran


@needs_git_perl
@pytest.mark.parametrize("method", ["auto", "hardlink"])
def test_arm32_counts_only_new_c_errors(fake_env: tuple[Path, Path], method: str) -> None:
    tree, log = fake_env
    clean = verify_patch(FIRST, tree, arm32=True, method=method)
    assert clean.ok, clean.render(verbose=True)
    names = [s.name for s in clean.steps]
    arm32_steps = ["scratch copy", "configure", "build (unpatched)", "git apply", "build"]
    assert names[-5:] == [f"arm32 {name}" for name in arm32_steps]
    assert clean.step("arm32 build (unpatched)").summary == "0 C errors (assembler errors not counted)"
    arm_calls = [line for line in log.read_text().split("\n") if line.startswith("ARCH=arm ")]
    assert (
        arm_calls
        == [
            f"ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- {FCOMMON} -j2 {target}"
            for target in ("mrproper", "multi_v7_defconfig", "olddefconfig")
        ]
        + [f"ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- {FCOMMON} -j2 -k --output-sync=target arch/arm/kvm/"] * 2
    )

    broken = mail(ARM_C, "\treturn 0;\n", "\tfpdsl_hook();\n", "a hook")
    report = verify_patch(broken, tree, arm32=True, method=method)
    assert [s.name for s in report.steps if not s.ok] == ["arm32 build"]
    step = report.step("arm32 build")
    assert step.summary == "virt/kvm/arm/arm.c:3:2: error: implicit declaration of function 'fpdsl_hook'"
    assert "Error: selected processor" not in step.output
    assert (tree / ".config").read_text() == "CONFIG_ARM64=y\n"  # the arm64 tree kept its configuration


def test_arm32_needs_the_2018_layout(tmp_path: Path) -> None:
    tree = fake_kernel(tmp_path / "t")
    (tree / "arch/arm/kvm/Makefile").unlink()
    with pytest.raises(UsageError, match="--arm32: .* has no 32-bit ARM KVM"):
        verify_patch(FIRST, tree, arm32=True)


@needs_git_perl
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="the arm32 cache is an overlay layer")
def test_arm32_unpatched_build_cached_per_tree(fake_env: tuple[Path, Path]) -> None:
    tree, log = fake_env
    first = verify_patch(FIRST, tree, arm32=True)
    if first.step("arm32 scratch copy").summary != "overlay mount":
        pytest.skip("cannot mount an overlay here")
    log.unlink()
    again = verify_patch(FIRST, tree, arm32=True)
    assert again.render() == first.render()  # the same report, cached or not
    assert again.step("arm32 configure").seconds == 0.0
    build = f"ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- {FCOMMON} -j2 -k --output-sync=target arch/arm/kvm/"
    assert [line for line in log.read_text().split("\n") if line.startswith("ARCH=arm ")] == [build]  # patched only
    # a changed source is a new state of the tree: configured and built again
    os.utime(tree / ARM_C, ns=(1, 1))
    log.unlink()
    verify_patch(FIRST, tree, arm32=True)
    assert "multi_v7_defconfig" in log.read_text()
    (per_tree,) = verify.ARM32_CACHE.iterdir()
    assert len([d for d in per_tree.iterdir() if d.is_dir()]) == 1  # the older state is gone


def test_hard_link_farm_copies_what_kbuild_rewrites_in_place(tmp_path: Path) -> None:
    """4.x's make appends cc-option results to .cache.mk and gcc rewrites
    .missing-syscalls.d: in a hard-link farm both would write through to the
    tree unless copied first."""
    for rel in (".cache.mk", ".missing-syscalls.d", "scripts/kconfig/zconf.tab.c", "virt/kvm/arm/arm.c"):
        write(tmp_path / rel, "x")
    write(tmp_path / "scripts/kconfig/zconf.tab.c_shipped", "x")
    outputs = set(verify._build_outputs(tmp_path))
    assert {".cache.mk", ".missing-syscalls.d", "scripts/kconfig/zconf.tab.c"} <= outputs
    assert "virt/kvm/arm/arm.c" not in outputs and "scripts/kconfig/zconf.tab.c_shipped" not in outputs


def test_warnings_are_read_like_errors_and_compared_without_line_numbers() -> None:
    before = (
        "  CC      arch/arm64/kvm/fpsimd.o\narch/arm64/kvm/fpsimd.c:10:5: warning: unused variable 'x' [-Wunused]\n"
    )
    after = (
        "  CC      arch/arm64/kvm/fpsimd.o\n"
        "arch/arm64/kvm/fpsimd.c:12:5: warning: unused variable 'x' [-Wunused]\n"
        "arch/arm64/kvm/hyp/include/hyp/switch.h:409:13: warning: 'f' used but never defined\n"
        "  409 | static void f(void);\n"
        "      |             ^\n"
        "arch/arm64/kvm/fpsimd.c:20:1: error: expected ';'\n"
    )
    found = c_warnings(after)
    assert [(w.file, w.line, w.message) for w in found] == [
        ("arch/arm64/kvm/fpsimd.c", 12, "warning: unused variable 'x' [-Wunused]"),
        ("arch/arm64/kvm/hyp/include/hyp/switch.h", 409, "warning: 'f' used but never defined"),
    ]
    assert [e.message for e in c_errors(after)] == ["error: expected ';'"]
    (new,) = new_c_errors(c_warnings(before), found)  # moved by two lines: the same warning
    assert new.text.split("\n") == [
        "arch/arm64/kvm/hyp/include/hyp/switch.h:409:13: warning: 'f' used but never defined",
        "  409 | static void f(void);",
        "      |             ^",
    ]


def test_a_step_with_new_warnings_shows_them_and_passes(tmp_path: Path) -> None:
    report = VerifyReport(tmp_path, ["a.c"], ["a.o"])
    report.steps = [Step("compile a.o", True, "noise\n"), Step("compiler warnings", True, "a.c:1:1: warning: w\n")]
    report.steps[1].summary, report.steps[1].warned = "1 new: a.c:1:1: warning: w", True
    lines = report.render().split("\n")
    assert lines[-5:] == [
        "[ok] compile a.o",
        "[warn] compiler warnings: 1 new: a.c:1:1: warning: w",
        "    a.c:1:1: warning: w",
        "verify-patch: ok",
        "",
    ]


@needs_git_perl
@pytest.mark.parametrize("werror", [False, True])
def test_a_warning_the_patch_adds_is_shown_and_fails_only_with_werror(fake_env: tuple[Path, Path], werror: bool):
    tree, log = fake_env
    adds = mail(ARM_C, "\treturn 0;\n", "\tint fpdsl_unused;\n+\treturn 0;\n", "warns").replace("+1,4 @@", "+1,5 @@")
    report = verify_patch(adds, tree, method="hardlink", werror=werror)
    step = report.step("compiler warnings")
    text = "virt/kvm/arm/arm.c:3:6: warning: unused variable 'fpdsl_unused' [-Wunused-variable]"
    assert (step.ok, step.warned, report.ok) == ((False, False, False) if werror else (True, True, True))
    assert step.summary == "1 new: " + text + ("" if werror else " (not fatal; --werror makes it so)")
    assert step.output == text + "\n"
    assert len(log.read_text().split("\n")) == 3  # the patched build, then the unpatched one to compare with
    assert (tree / ARM_C).read_text().count("fpdsl") == 0


@needs_git_perl
def test_a_warning_the_tree_already_has_is_not_new(fake_env: tuple[Path, Path]) -> None:
    tree, log = fake_env
    write(tree / ARM_C, "int kvm_arch_init(void *opaque)\n{\n\treturn 0;\n}\nint fpdsl_old;\n")
    report = verify_patch(FIRST, tree, method="hardlink", werror=True)
    assert report.ok, report.render(verbose=True)
    assert report.step("compiler warnings").summary == "none new (1 also in the unpatched build)"
    clean = verify_patch(SECOND.replace("return 1", "return 0").replace("return 2", "return 1"), tree, werror=True)
    assert clean.ok, clean.render(verbose=True)


@needs_git_perl
def test_a_build_without_warnings_builds_once(fake_env: tuple[Path, Path]) -> None:
    tree, log = fake_env
    report = verify_patch(FIRST, tree, method="hardlink")
    assert report.step("compiler warnings").summary == "none" and report.ok
    assert len(log.read_text().split("\n")) == 2
