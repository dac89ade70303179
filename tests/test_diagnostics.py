"""Diagnostics as users see them: malformed policies through the real CLI
(`python -m fpdsl.cli check FILE`), exit codes, `file:line:col` prefixes, the
echoed source line with its caret, messages and hints; the shipped policies
check clean; several errors are all reported; golden renderings; and a small
deterministic fuzz of the parser and checker."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from fpdsl.cli import cli
from fpdsl.diagnostics import ECHO_WIDTH, Diagnostic, FpdslError, Source, Span, UsageError, read_source
from fpdsl.lang.checker import check
from fpdsl.lang.loader import resolve
from fpdsl.lang.parser import MAX_NESTING, parse_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = sorted((ROOT / "policies").glob("*.fp"))

# Lark's own vocabulary must never reach a user.
LARK_INTERNALS = ("__ANON", "$END", "<END-OF-FILE>", "Token(", "Tree(", "__start", "UnexpectedToken", "lark.")

H = 'policy p "a test policy"\n'  # a valid header, line 1


def run_check(*paths: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FPDSL_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "fpdsl.cli", "check", *map(str, paths)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def echoed(line: str) -> str:
    """What the renderer shows of a source line (tabs as one space, control
    and invisible characters as '?')."""
    return "".join(" " if c == "\t" else c if c.isprintable() else "?" for c in line)


@dataclass(frozen=True)
class Case:
    id: str
    text: str | bytes | None  # None: see `kind`
    code: int  # 1: diagnostics, 2: usage error
    where: str | None  # "line:col", or None for a usage error about the whole file
    message: str
    hint: str | None = None
    kind: str = "file"  # "file", "missing" (nothing written), "dir" (a directory named like a policy)
    name: str | None = None  # the file's name, if not ID.fp
    prefix: str | None = None  # the expected start of the first line, if not FILE[:LINE:COL]: error:
    files: dict[str, str] = field(default_factory=dict)  # other files beside it
    error_in: str | None = None  # the file the diagnostic points into, if not the one checked


CASES = [
    # ---- usage errors: exit 2 ------------------------------------------------
    Case("missing-file", None, 2, None, "no such file", kind="missing"),
    # `check` takes a directory as a folder of policies (cli.py words this one itself).
    Case("directory", None, 2, None, "no .fp policy files in this directory", kind="dir", prefix="fpdsl: error: "),
    Case("binary-nul", b'policy p "d"\x00\x01\x02\xff junk', 2, None, "binary file (NUL byte at offset 12)"),
    Case(
        "not-utf8",
        b'policy p "d"\nhook enter {\n  arm_fp_trap() # caf\xe9\n}\n',
        2,
        "3:22",
        "not UTF-8 text (invalid byte 0xe9)",
        "save the file as UTF-8",
    ),
    Case("utf16", 'policy p "d"\n'.encode("utf-16-le"), 2, None, "binary file (NUL byte at offset 1)"),
    Case(
        "huge-file",
        H + "# padding padding padding padding padding padding padding\n" * 20000,
        2,
        None,
        "bytes; the limit is 1048576",
    ),
    # ---- empty input ---------------------------------------------------------
    Case("empty", "", 1, "1:1", "empty policy file", "a policy starts with: policy NAME"),
    Case("whitespace-only", "  \n\t\n   \n", 1, "1:1", "empty policy file", "a policy starts with"),
    Case("comments-only", "# a comment\n# another\n", 1, "1:1", "no policy in this file, only comments"),
    # ---- syntax --------------------------------------------------------------
    Case(
        "unclosed-hook",
        H + "hook load {\n    preempt_disable()\n",
        1,
        "3:22",
        "unexpected end of file: the '{' of hook 'load' (line 2) is never closed",
        "add the missing '}' (the '{' is at line 2, column 11)",
    ),
    Case(
        "unclosed-if",
        H + "hook enter {\n  if fp_trap_armed() {\n    arm_fp_trap()\n  } else {\n    if true {\n}\n",
        1,
        "7:2",
        "the '{' of the 'else' block (line 5) is never closed",
        "add the missing '}' (the '{' is at line 5, column 10)",
    ),
    Case(
        "if-closed-hook-not",
        H + "hook enter {\n  if fp_trap_armed() {\n    arm_fp_trap()\n}\n# trailing comment\n\n",
        1,
        "5:2",
        "the '{' of hook 'enter' (line 2) is never closed",
        "add the missing '}' (the '{' is at line 2, column 12)",
    ),
    Case(
        "extra-close-brace",
        H + "hook enter {\n  arm_fp_trap()\n}\n}\n",
        1,
        "5:1",
        "unexpected '}', expected 'hook' or end of file",
        "this '}' has no matching '{'",
    ),
    Case(
        "missing-description",
        "policy p\nhook enter {\n}\n",
        1,
        "2:1",
        "unexpected keyword 'hook', expected a \"quoted description\"",
        "one-line description in double quotes",
    ),
    Case(
        "unterminated-string",
        'policy p "a description\nhook enter {\n}\n',
        1,
        "1:10",
        "unterminated string",
        "close the quote on the same line",
    ),
    Case("quoted-name", 'policy "p" "d"\n', 1, "1:8", "unexpected '\"p\"', expected a name", "names are not quoted"),
    Case(
        "no-policy-line",
        "hook enter {\n}\n",
        1,
        "1:1",
        "unexpected keyword 'hook', expected 'policy'",
        'a policy starts with: policy NAME "one-line description"',
    ),
    Case(
        "two-policy-lines",
        H + 'policy q "another"\n',
        1,
        "2:1",
        "unexpected keyword 'policy'",
        "one policy per file",
    ),
    Case(
        "stray-ampersand",
        H + "hook enter {\n  if fp_trap_armed() & system_supports_sve() {\n  }\n}\n",
        1,
        "3:22",
        "unexpected character '&', expected '{', '&&' or '||'",
        "use '&&' and '||'",
    ),
    Case(
        "stray-slash-comment",
        H + "// a C comment\n",
        1,
        "2:1",
        "unexpected character '/'",
        "comments start with '#'",
    ),
    Case(
        "assign-number",
        H + "flag F\nhook enter {\n  F = 1\n}\n",
        1,
        "4:7",
        "unexpected character '1', expected 'true' or 'false'",
        "flags are booleans: write true or false",
    ),
    Case(
        "assign-name",
        H + "flag F\nhook enter {\n  F = G\n}\n",
        1,
        "4:7",
        "unexpected 'G', expected 'true' or 'false'",
        "flags are booleans",
    ),
    Case(
        "flag-initial-not-bool",
        H + "flag F = yes\n",
        1,
        "2:10",
        "unexpected 'yes', expected 'true' or 'false'",
        "flags are booleans",
    ),
    Case(
        "comparison",
        H + "flag F\nhook enter {\n  if F == true {\n  }\n}\n",
        1,
        "4:8",
        "unexpected '='",
        "there are no comparisons",
    ),
    Case(
        "flag-after-hook",
        H + "hook enter {\n}\nflag F\n",
        1,
        "4:1",
        "unexpected keyword 'flag', expected 'hook' or end of file",
        "declarations come in this order: policy, kernel, extends, flags, then hooks",
    ),
    Case(
        "kernel-after-flag",
        H + "flag F\nkernel v4.18\n",
        1,
        "3:1",
        "unexpected keyword 'kernel'",
        "declarations come in this order",
    ),
    Case(
        "flag-inside-hook",
        H + "hook enter {\n  flag F\n}\n",
        1,
        "3:3",
        "unexpected keyword 'flag', expected a statement or '}'",
        "declarations come in this order",
    ),
    Case(
        "keyword-glued-to-name",
        H + "flagF\n",
        1,
        "2:1",
        "unexpected 'flagF', expected 'kernel', 'extends', 'flag', 'hook' or end of file",
        "put a space after 'flag'",
    ),
    Case(
        "keyword-as-flag-name",
        H + "flag if\n",
        1,
        "2:6",
        "unexpected keyword 'if', expected a name",
        "'if' is a keyword and cannot be used as a name",
    ),
    Case(
        "else-without-if",
        H + "hook enter {\n  else {\n  }\n}\n",
        1,
        "3:3",
        "unexpected keyword 'else', expected a statement or '}'",
        "'else' must follow the '}' that closes an 'if' block",
    ),
    Case(
        "statement-not-a-call",
        H + "hook enter {\n  arm_fp_trap\n}\n",
        1,
        "4:1",
        "unexpected '}', expected '(' or '='",
        "to call it, write arm_fp_trap()",
    ),
    Case(
        "if-without-braces",
        H + "hook enter {\n  if fp_trap_armed() arm_fp_trap()\n}\n",
        1,
        "3:22",
        "unexpected 'arm_fp_trap', expected '{', '&&' or '||'",
        "bodies are enclosed in { }",
    ),
    Case(
        "missing-close-paren",
        H + "hook enter {\n  if (fp_trap_armed() {\n  }\n}\n",
        1,
        "3:23",
        "unexpected '{', expected ')'",
        "is a ')' missing?",
    ),
    Case(
        "arguments-without-comma",
        H + "hook enter {\n  fpsimd_save_state(guest host)\n}\n",
        1,
        "3:27",
        "unexpected 'host', expected ')' or ','",
        "separate arguments with ','",
    ),
    Case(
        "doc-comment-documents-nothing",
        H + "hook enter {\n  arm_fp_trap()\n  ## documents nothing\n}\n",
        1,
        "5:1",
        "unexpected '}', expected a statement",
        "use '#' for a plain comment",
    ),
    Case(
        "kernel-version-without-v",
        H + "kernel 4.16\n",
        1,
        "2:8",
        "unexpected character '4', expected a kernel version such as v4.16",
        "kernel versions are written like v4.16",
    ),
    Case(
        "tab-indented",
        H + "hook enter {\n\t\tif fp_trap_armed() & true {\n\t\t}\n}\n",
        1,
        "3:22",
        "unexpected character '&'",
        "use '&&'",
    ),
    Case(
        "crlf-line-endings",
        H.replace("\n", "\r\n") + "hook enter {\r\n  arm_fp_trp()\r\n}\r\n",
        1,
        "3:3",
        "unknown primitive 'arm_fp_trp'",
        "did you mean 'arm_fp_trap()'?",
    ),
    Case(
        "form-feed-is-not-a-line-break",
        H + "\f\nhook enter {\n  arm_fp_trp()\n}\n",
        1,
        "4:3",
        "unknown primitive 'arm_fp_trp'",
        "did you mean 'arm_fp_trap()'?",
    ),
    Case(
        "invisible-character",
        H + "\u200bhook enter {\n}\n",
        1,
        "2:1",
        "unexpected character '\\u200b'",
        "it may be invisible in an editor",
    ),
    Case(
        "escape-sequence",
        H + "\x1b[31mhook enter {\n}\n",
        1,
        "2:1",
        "unexpected character '\\x1b'",
        "remove the stray character",
    ),
    Case(
        "non-ascii-name",
        H + "hook l\u00e9 {\n}\n",
        1,
        "2:7",
        "unexpected character '\u00e9', expected '{'",
        "names are made of ASCII letters, digits and '_'",
    ),
    Case(
        "nested-too-deeply",
        H + "hook enter {\n  if " + "!" * 5000 + "fp_trap_armed() {\n  }\n}\n",
        1,
        f"3:{6 + MAX_NESTING - 1}",  # the 'if' is a level: the 100th '!' is one too many
        f"nested too deeply: more than {MAX_NESTING} levels",
        "split the condition",
    ),
    Case(
        "condition-too-long",
        H + "hook enter {\n  if " + " && ".join(["fp_trap_armed()"] * 5000) + " {\n  }\n}\n",
        1,
        "3:6",
        "condition too complex",
        "split the condition",
    ),
    # ---- names ---------------------------------------------------------------
    Case("unknown-hook", H + "hook lod {\n}\n", 1, "2:6", "unknown hook 'lod'", "did you mean 'load'?"),
    Case(
        "duplicate-hook",
        H + "hook enter {\n}\nhook enter {\n}\n",
        1,
        "4:6",
        "hook 'enter' defined twice (first at line 2)",
        "merge the two bodies",
    ),
    Case(
        "unknown-primitive",
        H + "hook enter {\n  arm_fp_trp()\n}\n",
        1,
        "3:3",
        "unknown primitive 'arm_fp_trp'",
        "did you mean 'arm_fp_trap()'?",
    ),
    Case(
        "unknown-primitive-no-guess",
        H + "hook enter {\n  reticulate_splines()\n}\n",
        1,
        "3:3",
        "unknown primitive 'reticulate_splines'",
        "see `fpdsl primitives`",
    ),
    Case(
        "predicate-as-statement",
        H + "hook enter {\n  fp_trap_armed()\n}\n",
        1,
        "3:3",
        "'fp_trap_armed' is a predicate, not a statement",
        "test it in a condition: if fp_trap_armed() { ... }",
    ),
    Case(
        "primitive-as-condition",
        H + "hook enter {\n  if arm_fp_trap() {\n  }\n}\n",
        1,
        "3:6",
        "'arm_fp_trap' is a primitive, not a condition",
        "call it as a statement",
    ),
    Case(
        "too-few-arguments",
        H + "hook enter {\n  fpsimd_save_state()\n}\n",
        1,
        "3:3",
        "fpsimd_save_state() takes 1 argument, got 0",
        "write fpsimd_save_state(guest|host|task)",
    ),
    Case(
        "too-many-arguments",
        H + "hook enter {\n  arm_fp_trap(guest)\n}\n",
        1,
        "3:15",
        "arm_fp_trap() takes no arguments, got 1",
        "write arm_fp_trap()",
    ),
    Case(
        "wrong-argument-kind",
        H + "hook trap {\n  fpsimd_save_state(gust)\n}\n",
        1,
        "3:21",
        "fpsimd_save_state(): 'gust' is not a saved state (guest, host or task)",
        "did you mean 'guest'?",
    ),
    Case(
        "wrong-thread-flag",
        H + "hook exit {\n  clear_thread_flag(TIF_SVE_)\n  local_irq_enable()\n}\n",
        1,
        "3:21",
        "'TIF_SVE_' is not a thread flag (TIF_FOREIGN_FPSTATE or TIF_SVE)",
        "did you mean 'TIF_SVE'?",
    ),
    Case(
        "unknown-flag",
        H + "flag GUEST_LOADED\nhook enter {\n  if GUEST_LAODED {\n  }\n}\n",
        1,
        "4:6",
        "unknown flag 'GUEST_LAODED'",
        "did you mean 'GUEST_LOADED'?",
    ),
    Case(
        "undeclared-flag-assigned",
        H + "hook enter {\n  LOADED = true\n}\n",
        1,
        "3:3",
        "unknown flag 'LOADED'",
        "declare it: flag LOADED",
    ),
    Case(
        "flag-declared-twice",
        H + "flag F\nflag F\n",
        1,
        "3:6",
        "flag 'F' declared twice (first at line 2)",
        "remove one declaration",
    ),
    Case(
        "flag-named-like-a-primitive",
        H + "flag arm_fp_trap\n",
        1,
        "2:6",
        "flag 'arm_fp_trap' has the name of a kernel primitive",
        "rename the flag",
    ),
    # ---- kernel versions and bases ------------------------------------------
    Case(
        "v418-primitive-on-v416",
        H + "kernel v4.16\nhook put {\n  fpsimd_save()\n}\n",
        1,
        "4:3",
        "fpsimd_save() does not exist in the v4.16 host machinery",
        "declare 'kernel v4.18' (or later) after the policy line",
    ),
    Case(
        "unknown-kernel-version",
        H + "kernel v5.10\n",
        1,
        "2:8",
        "unknown kernel model 'v5.10'",
        "the model knows v4.16, v4.18, v6.1.134, v6.1, v6.12.0, v6.12",
    ),
    Case(
        "unknown-base",
        H + "extends eagr\n",
        1,
        "2:9",
        "unknown base policy 'eagr'",
        "did you mean 'eager'?",
        files={"eager.fp": (ROOT / "policies" / "eager.fp").read_text()},
    ),
    Case(
        "extends-cycle",
        'policy x "x"\nextends y\n',
        1,
        "2:9",
        "'extends' cycle: x -> y -> x",
        "remove one 'extends'",
        name="x.fp",
        files={"y.fp": 'policy y "y"\nextends x\n'},
        error_in="y.fp",
    ),
    Case("extends-itself", 'policy p "d"\nextends p\n', 1, "2:9", "'extends' cycle: p -> p", "cannot extend itself"),
    Case(
        "base-file-names-another-policy",
        H + "extends base\n",
        1,
        "2:9",
        "defines policy 'other', not 'base'",
        "base.fp must hold 'policy base'",
        files={"base.fp": 'policy other "d"\n'},
    ),
    Case(
        "syntax-error-in-base",
        H + "extends base\n",
        1,
        "4:1",
        "unexpected '}', expected a name or ')'",
        "is a ')' missing?",
        files={"base.fp": 'policy base "d"\nhook enter {\n  preempt_disable(\n}\n'},
        error_in="base.fp",
    ),
    # ---- balance -------------------------------------------------------------
    Case(
        "unbalanced-bh-disable",
        H + "hook enter {\n  local_bh_disable()\n  arm_fp_trap()\n}\n",
        1,
        "2:6",
        "hook 'enter' leaves state unbalanced: bh +1",
        "add local_bh_enable()",
    ),
    Case(
        "unbalanced-neon",
        H + "hook enter {\n  arm_fp_trap()\n  kernel_neon_begin()\n}\n",
        1,
        "2:6",
        "hook 'enter' leaves state unbalanced: preempt +1, neon +1",
        "add kernel_neon_end()",
    ),
    # 6.1's kernel_neon_begin() holds the fpsimd context (local_bh_disable())
    # until kernel_neon_end(); 6.12's leaves a task preemptible.
    Case(
        "unbalanced-neon-6.1",
        'policy p "d"\nkernel v6.1\nhook enter {\n  kernel_neon_begin()\n}\n',
        1,
        "3:6",
        "hook 'enter' leaves state unbalanced: bh +1, neon +1",
        "add kernel_neon_end()",
    ),
    Case(
        "unbalanced-neon-6.12",
        'policy p "d"\nkernel v6.12\nhook enter {\n  kernel_neon_begin()\n}\n',
        1,
        "3:6",
        "hook 'enter' leaves state unbalanced: neon +1",
        "add kernel_neon_end()",
    ),
    # Where code runs is kernel semantics: the hyp (the trap hook) can call
    # no kernel function, and some arguments mean nothing in some kernels.
    Case(
        "hyp-calls-the-kernel",
        H + "hook trap {\n  disarm_fp_trap()\n  set_kernel_neon_busy()\n}\n",
        1,
        "4:3",
        "set_kernel_neon_busy() is kernel (host) code: the trap hook runs in the hyp (EL2), with the kernel's "
        "functions unmapped",
        "in v4.16's hyp: fpsimd_save_state(), fpsimd_load_state(), arm_fp_trap(), disarm_fp_trap(), fp_trap_armed(), "
        "system_supports_sve(), and the vcpu's flags; do the rest in a host hook",
    ),
    Case(
        "hyp-thread-flag-before-4-18",
        H + "hook trap {\n  if test_thread_flag(TIF_SVE) {\n    disarm_fp_trap()\n  }\n}\n",
        1,
        "3:6",
        "test_thread_flag() is hyp code only since v4.18: the trap hook runs in the hyp (EL2), with the kernel's "
        "functions unmapped",
    ),
    Case(
        "hyp-task-state-before-4-18",
        H + "hook trap {\n  disarm_fp_trap()\n  fpsimd_save_state(task)\n}\n",
        1,
        "4:21",
        "fpsimd_save_state(task) in v4.16: the hyp has no mapping of the vcpu thread's saved state before v4.18 "
        "(kvm_arch_vcpu_run_map_fp())",
    ),
    Case(
        "bind-task-4-18",
        H + "kernel v4.18\nhook put {\n  fpsimd_bind_state_to_cpu(task)\n}\n",
        1,
        "4:28",
        "fpsimd_bind_state_to_cpu(task) in v4.18: fpsimd_bind_task_to_cpu() is static to arch/arm64/kernel/fpsimd.c: "
        "KVM binds only the vcpu's state",
    ),
    Case(
        "exit-irq-enable-nested",
        H + "hook exit {\n  if fp_trap_armed() {\n    local_irq_enable()\n  } else {\n    local_irq_enable()\n  }\n}\n",
        1,
        "4:5",
        "the exit hook's local_irq_enable() is the run loop's own: write it exactly once, at the hook's top level",
        "code before it runs with interrupts off, code after it with interrupts on",
    ),
    Case(
        "if-branches-disagree",
        H + "hook enter {\n  if fp_trap_armed() {\n    preempt_disable()\n  }\n  preempt_enable()\n}\n",
        1,
        "3:3",
        "the branches of this 'if' leave preemption (preempt_disable/enable) unbalanced (preempt +1 vs balanced)",
        "disable and enable in the same branch",
    ),
    Case(
        "exit-without-irq-enable",
        H + "hook exit {\n  arm_fp_trap()\n}\n",
        1,
        "2:6",
        "the exit hook must contain the run loop's local_irq_enable()",
        "interrupts are off when the exit hook starts",
    ),
    Case(
        "exit-enables-irqs-twice",
        H + "hook exit {\n  local_irq_enable()\n  local_irq_enable()\n}\n",
        1,
        "2:6",
        "the exit hook enables interrupts 2 times; it must do so exactly once",
        "needs a local_irq_disable() before it",
    ),
    Case(
        "load-put-unbalanced",
        H + "hook load {\n  preempt_disable()\n}\nhook put {\n  arm_fp_trap()\n}\n",
        1,
        "2:6",
        "hooks 'load' and 'put' do not balance: load preempt +1, put balanced",
        "what load disables, put must enable",
    ),
]


def test_enough_distinct_cases():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len({(c.text, tuple(sorted(c.files.items())), c.kind) for c in CASES}) == len(CASES)
    assert len(CASES) >= 30


def _write_case(case: Case, tmp_path: Path) -> Path:
    for name, text in case.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / (case.name or f"{case.id}.fp")
    if case.kind == "dir":
        path.mkdir()
    elif case.kind == "file":
        data = case.text.encode("utf-8") if isinstance(case.text, str) else case.text
        path.write_bytes(data)
    return path


def _source_lines(data: str | bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    return [line.removesuffix("\r") for line in text.split("\n")]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_policy(case: Case, tmp_path: Path):
    path = _write_case(case, tmp_path)
    proc = run_check(path.name, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "internal error" not in out
    assert not any(x in out for x in LARK_INTERNALS), out
    assert proc.returncode == case.code, out
    assert proc.stdout == ""  # nothing is "ok"; diagnostics go to stderr

    shown = case.error_in or path.name
    lines = proc.stderr.splitlines()
    prefix = f"{shown}:{case.where}: error: " if case.where else case.prefix or f"{shown}: error: "
    first = next((i for i, line in enumerate(lines) if line.startswith(prefix)), None)
    assert first is not None, f"no line starts with {prefix!r}:\n{proc.stderr}"
    assert case.message in lines[first], proc.stderr

    block = [lines[first]]
    for line in lines[first + 1 :]:
        if re.match(r"^\S+: (error|warning): ", line):
            break
        block.append(line)
    if case.hint is not None:
        hints = [line for line in block if line.startswith("  hint: ")]
        assert hints and case.hint in hints[0], proc.stderr

    if case.where is None:
        assert not any(re.match(r"^ +\d+ \| ", line) for line in block), "no source echo without a location"
        return
    line_no, col = map(int, case.where.split(":"))
    source = case.files[case.error_in] if case.error_in else case.text
    line_text = echoed(_source_lines(source)[line_no - 1])
    echo, caret = block[1], block[2]
    assert echo.startswith(f"  {line_no:>4} | "), proc.stderr
    assert re.fullmatch(r"       \| *\^~*", caret), proc.stderr
    shown = echo[len(f"  {line_no:>4} | ") :]
    at = caret.index("^") - len("       | ")
    if len(line_text) <= ECHO_WIDTH:
        assert shown == line_text, proc.stderr
        assert at == col - 1, f"caret not under column {col}:\n{proc.stderr}"
    else:  # a window of the line around the column, '...' where cut
        lead = 3 if shown.startswith("...") else 0
        start = (col - 1) - (at - lead)
        assert shown[lead : lead + ECHO_WIDTH] == line_text[start : start + ECHO_WIDTH], proc.stderr
        assert shown[at] == line_text[col - 1], proc.stderr


def test_read_source_refuses_a_directory(tmp_path: Path):
    with pytest.raises(UsageError) as info:
        read_source(tmp_path)
    assert info.value.diagnostics[0].render() == f"{tmp_path}: error: is a directory, not a file"


def test_usage_error_on_second_file_after_checking_the_first(tmp_path: Path):
    good = tmp_path / "good.fp"
    good.write_text(H)
    proc = run_check("good.fp", "missing.fp", cwd=tmp_path)
    assert proc.returncode == 2
    assert "good.fp: ok" in proc.stdout
    assert proc.stderr.strip() == "missing.fp: error: no such file"


# ---- the shipped policies ---------------------------------------------------


def test_shipped_policies_check_clean():
    assert len(POLICIES) >= 7
    proc = run_check(*[p.relative_to(ROOT) for p in POLICIES], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [f"{p.relative_to(ROOT)}: ok" for p in POLICIES]


def test_shipped_policy_directory_checks_clean():
    proc = run_check("policies", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{Path('policies') / p.name}: ok" for p in POLICIES]


def test_good_and_bad_files_are_both_reported(tmp_path: Path):
    (tmp_path / "good.fp").write_text(H + "hook enter {\n  arm_fp_trap()\n}\n")
    (tmp_path / "bad.fp").write_text(H + "hook entr {\n}\n")
    proc = run_check("good.fp", "bad.fp", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == "good.fp: ok\n"
    assert proc.stderr.startswith("bad.fp:2:6: error: unknown hook 'entr'\n")


def test_every_error_in_a_file_is_reported(tmp_path: Path):
    text = (
        H
        + "flag F\n"  # 2
        + "flag F\n"  # 3: declared twice
        + "hook entr {\n"  # 4: unknown hook
        + "  arm_fp_trp()\n"  # 5: unknown primitive
        + "}\n"  # 6
        + "hook trap {\n"  # 7
        + "  fpsimd_load_state(gust)\n"  # 8: wrong argument
        + "  if G {\n"  # 9: unknown flag
        + "  }\n"  # 10
        + "  fp_trap_armed()\n"  # 11: predicate as statement
        + "}\n"
    )
    (tmp_path / "many.fp").write_text(text)
    proc = run_check("many.fp", cwd=tmp_path)
    assert proc.returncode == 1
    headers = [line for line in proc.stderr.splitlines() if line.startswith("many.fp:")]
    assert headers == [
        "many.fp:3:6: error: flag 'F' declared twice (first at line 2)",
        "many.fp:4:6: error: unknown hook 'entr'",
        "many.fp:5:3: error: unknown primitive 'arm_fp_trp'",
        "many.fp:8:21: error: fpsimd_load_state(): 'gust' is not a saved state (guest, host or task)",
        "many.fp:9:6: error: unknown flag 'G'",
        "many.fp:11:3: error: 'fp_trap_armed' is a predicate, not a statement",
    ]
    assert proc.stderr.count("  hint: ") == 6


# ---- golden renderings -------------------------------------------------------

GOLDEN = [
    (
        H + "hook load {\n    preempt_disable()\n",
        """\
policy.fp:3:22: error: unexpected end of file: the '{' of hook 'load' (line 2) is never closed
     3 |     preempt_disable()
       |                      ^
  hint: add the missing '}' (the '{' is at line 2, column 11)
""",
    ),
    (
        H + "kernel v4.18\nhook trap {\n\tdisarm_fp_trap()\n\tfpsimd_load_state(gust)\n}\n",
        """\
policy.fp:5:20: error: fpsimd_load_state(): 'gust' is not a saved state (guest, host or task)
     5 |  fpsimd_load_state(gust)
       |                    ^~~~
  hint: did you mean 'guest'?
""",
    ),
    (
        H
        + "hook put {\n"
        + "    if fp_trap_armed() {\n"
        + "        local_bh_disable()\n"
        + "    } else {\n"
        + "        arm_fp_trap()\n"
        + "    }\n"
        + "}\n",
        """\
policy.fp:3:5: error: the branches of this 'if' leave softirqs (local_bh_disable/enable) unbalanced (bh +1 vs balanced)
     3 |     if fp_trap_armed() {
       |     ^~
  hint: disable and enable in the same branch
""",
    ),
]


@pytest.mark.parametrize("text,rendered", GOLDEN, ids=["unclosed-brace", "wrong-argument", "branches-disagree"])
def test_golden_rendering(text: str, rendered: str, tmp_path: Path):
    (tmp_path / "policy.fp").write_text(text)
    proc = run_check("policy.fp", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == rendered


def test_in_process_cli_renders_the_same(tmp_path: Path, monkeypatch):
    """CliRunner on the click group gives the same text the subprocess does."""
    text, rendered = GOLDEN[1]
    (tmp_path / "policy.fp").write_text(text)
    monkeypatch.chdir(tmp_path)
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart always
        runner = CliRunner()
    result = runner.invoke(cli, ["check", "policy.fp"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr == rendered


# ---- rendering details ---------------------------------------------------------


def test_render_echoes_the_line_the_lexer_counted():
    # str.splitlines() would count '\f', '\v', '\x1c' and '\u2028' as line breaks.
    src = Source("x.fp", "a\fb\vc\x1cd\u2028e\nsecond\r\n")
    d = Diagnostic("m", Span(2, 3), src)
    assert d.render().splitlines() == ["x.fp:2:3: error: m", "     2 | second", "       |   ^"]
    d1 = Diagnostic("m", Span(1, 1), src)
    assert d1.render().splitlines()[1] == "     1 | a?b?c?d?e"


def test_byte_order_mark_is_not_content(tmp_path: Path):
    (tmp_path / "bom.fp").write_bytes("\ufeff".encode() + H.encode())
    proc = run_check("bom.fp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "bom.fp: ok\n"


def test_nesting_up_to_the_limit_is_accepted():
    depth = MAX_NESTING - 1  # the 'if' itself is one level
    text = H + "hook enter {\n  if " + "!" * depth + "fp_trap_armed() {\n  }\n}\n"
    policy = parse_policy(Source("x.fp", text))
    assert check(resolve([policy])) == []
    ifs = H + "hook enter {\n" + "if fp_trap_armed() {\n" * MAX_NESTING + "}\n" * MAX_NESTING + "}\n"
    assert check(resolve([parse_policy(Source("y.fp", ifs))])) == []


# ---- fuzz --------------------------------------------------------------------

_INSERTS = [
    "{", "}", "(", ")", "!", "&", "&&", "|", "||", "=", ";", ",", "#", "##", '"', "\n", " ", "\t", "\r", "\f",
    "if", "else", "flag", "hook", "true", "false", "pass", "policy", "kernel v4.18", "extends", "x", "é", "\u2028",
    "local_irq_enable()", "preempt_disable()", "fp_trap_armed()",
]  # fmt: skip


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        i = rng.randrange(len(text) + 1)
        if op == 0 and text:  # delete a run
            text = text[:i] + text[min(len(text), i + rng.randint(1, 20)) :]
        elif op == 1:  # insert a token-ish string
            text = text[:i] + rng.choice(_INSERTS) + text[i:]
        elif op == 2 and text:  # duplicate a slice elsewhere
            j = rng.randrange(len(text))
            text = text[:i] + text[j : j + rng.randint(1, 40)] + text[i:]
        elif op == 3:  # insert an arbitrary character
            text = text[:i] + chr(rng.randrange(1, 0x3000)) + text[i:]
        else:  # truncate
            text = text[:i]
    return text


def test_fuzzed_policies_raise_only_fpdsl_errors():
    rng = random.Random(1234)
    originals = [p.read_text(encoding="utf-8") for p in POLICIES]
    outcomes = {"clean": 0, "diagnosed": 0, "syntax": 0}
    for _ in range(200):
        text = _mutate(rng, rng.choice(originals))
        try:
            policy = parse_policy(Source("fuzz.fp", text))
            diags = check(resolve([policy]))
            outcomes["diagnosed" if diags else "clean"] += 1
        except FpdslError as exc:
            diags = exc.diagnostics
            outcomes["syntax"] += 1
        for d in diags:
            rendered = d.render()
            assert not any(x in rendered for x in LARK_INTERNALS), rendered
            assert d.span is not None, rendered  # every policy diagnostic is located
            assert rendered.startswith(f"fuzz.fp:{d.span.line}:{d.span.column}: error: ")
    assert outcomes["syntax"] > 0 and outcomes["diagnosed"] + outcomes["clean"] > 0, outcomes


def test_random_text_raises_only_fpdsl_errors():
    rng = random.Random(1234)
    pieces = list("{}()!&|=;,#\"\n\t\r\f\v \\'/.0123456789") + ['policy p "d"\n', "hook ", "if ", "else ", "flag "]

    def piece() -> str:
        return rng.choice(pieces) if rng.random() < 0.7 else chr(rng.randrange(1, 0x11000))

    for _ in range(100):
        text = "".join(piece() for _ in range(rng.randrange(60)))
        text = text.encode("utf-8", errors="replace").decode("utf-8")  # no lone surrogates
        try:
            check(resolve([parse_policy(Source("junk.fp", text))]))
        except FpdslError as exc:
            for d in exc.diagnostics:
                rendered = d.render()
                assert not any(x in rendered for x in LARK_INTERNALS), rendered
