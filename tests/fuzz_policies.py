"""Hypothesis strategies for policies an attacker might hand fpdsl: valid
ones built from the grammar (balanced hooks, an exit hook with its one
`local_irq_enable()`), hostile free text in `##` comments, descriptions and
flag names, and byte-level mutations of shipped policies. Used by
tests/test_fuzz.py (bounded, in CI) and bench/fuzz.py (long runs)."""

from __future__ import annotations

from hypothesis import strategies as st

# Text meant to leave a C comment, a mail line or a terminal: comment
# delimiters, line breaks of every kind, format characters, fake patch lines.
HOSTILE = [
    "*/",
    "/*",
    '*/ panic("injected"); /*',
    "\r",
    "\x0b",
    "\x1b[2J",
    "\u2028",
    "\u202e",
    "\u200b",
    "\ufeff",
    "diff --git a/evil.c b/evil.c",
    "--- /dev/null",
    "+++ b/evil.c",
    "@@ -0,0 +1 @@",
    "---",
    "Signed-off-by: Mallory <m@example.org>",
    "\\",
    "??/",
    "%s%n",
    "{{ 7 * 7 }}",
    "{% raw %}",
    "#include <evil.h>",
    " " * 80,
]

words = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"'), max_size=30)
hostile_text = st.lists(st.one_of(words, st.sampled_from(HOSTILE)), min_size=1, max_size=4).map("".join)
comment_text = st.one_of(words, hostile_text)

STORAGES = ["guest", "host", "task"]
THREAD_FLAGS = ["TIF_FOREIGN_FPSTATE", "TIF_SVE"]
# Statements with no preempt/softirq/irq effect, legal in every hook.
PLAIN = [
    "fpsimd_save_state({s})",
    "fpsimd_load_state({s})",
    "fpsimd_flush_cpu_state()",
    "set_thread_flag({t})",
    "clear_thread_flag({t})",
]
PAIRS = [("local_bh_disable()", "local_bh_enable()"), ("preempt_disable()", "preempt_enable()")]
PREDICATES = [
    "local_softirq_pending()",
    "may_use_simd()",
    "test_thread_flag({t})",
    "system_supports_sve()",
    "irqs_disabled()",
    "fp_trap_armed()",
]
C_WORDS = ["return", "int", "volatile", "ctxt", "hcr_el2", "flags", "fp_untrapped", "CTXT", "HCR_EL2", "RETURN"]

flag_names = st.one_of(
    st.from_regex(r"\A[A-Z][A-Z0-9_]{0,12}\Z"),
    st.sampled_from(C_WORDS),
)


@st.composite
def statement(draw, flags: list[str], depth: int = 0) -> list[str]:
    """One statement (as lines), maybe with a `##` comment before it."""
    out: list[str] = []
    if draw(st.integers(0, 4)) == 0:
        out.append(f"## {draw(comment_text)}")
    kind = draw(st.integers(0, 6 if depth < 2 else 3))
    if kind <= 1:
        text = draw(st.sampled_from(PLAIN))
        out.append(text.format(s=draw(st.sampled_from(STORAGES)), t=draw(st.sampled_from(THREAD_FLAGS))))
    elif kind == 2 and flags:
        out.append(f"{draw(st.sampled_from(flags))} = {draw(st.sampled_from(['true', 'false']))}")
    elif kind == 3:
        before, after = draw(st.sampled_from(PAIRS))
        out += [before, *draw(body(flags, depth + 1, max_size=2)), after]
    elif kind == 6:
        out.append(f"{draw(st.sampled_from(['bug_on', 'warn_on_once']))}({draw(condition(flags))})")
    else:
        cond = draw(condition(flags))
        out.append(f"if {cond} {{")
        out += ["    " + line for line in draw(body(flags, depth + 1))]
        if draw(st.booleans()):
            out.append("} else {")
            out += ["    " + line for line in draw(body(flags, depth + 1))]
        out.append("}")
    return out


@st.composite
def condition(draw, flags: list[str]) -> str:
    atoms = [p.format(t=draw(st.sampled_from(THREAD_FLAGS))) for p in PREDICATES] + flags
    left = draw(st.sampled_from(atoms))
    if draw(st.booleans()):
        left = "!" + left
    if draw(st.integers(0, 2)) == 0:
        return f"{left} {draw(st.sampled_from(['&&', '||']))} {draw(st.sampled_from(atoms))}"
    return left


@st.composite
def body(draw, flags: list[str], depth: int = 0, max_size: int = 3) -> list[str]:
    n = draw(st.integers(0, max_size))
    lines: list[str] = []
    for _ in range(n):
        lines += draw(statement(flags, depth))
    return lines or ["pass"]


@st.composite
def policy_text(draw, kernel: str = "v4.16") -> str:
    """A policy the grammar accepts and (nearly always) the checker too."""
    name = draw(st.from_regex(r"\A[a-z][a-z0-9_]{0,15}\Z"))
    description = draw(st.one_of(words, hostile_text)).replace('"', "'")
    flags = sorted(set(draw(st.lists(flag_names, max_size=3))))
    lines = [f'policy {name} "{description}"', f"kernel {kernel}", ""]
    for flag in flags:
        if draw(st.booleans()):
            lines.append(f"## {draw(comment_text)}")
        lines.append(f"flag {flag}")
    hooks = draw(st.lists(st.sampled_from(["load", "put", "enter", "trap", "exit"]), unique=True, min_size=1))
    for hook in hooks:
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"## {draw(comment_text)}")
        lines.append(f"hook {hook} {{")
        stmts = draw(body(flags))
        if hook == "trap":
            stmts = ["disarm_fp_trap()", *[s.replace("fp_trap_armed()", "may_use_simd()") for s in stmts]]
        if hook == "exit":
            stmts = [*stmts, "local_irq_enable()", *draw(body(flags, max_size=1))]
        lines += ["    " + s for s in stmts]
        lines.append("}")
    return "\n".join(lines) + "\n"


@st.composite
def mutated(draw, seed_texts: list[str]) -> bytes:
    """A shipped policy with random byte edits: deletions, insertions of
    hostile fragments, swaps, truncation."""
    data = bytearray(draw(st.sampled_from(seed_texts)).encode("utf-8"))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.integers(0, 3))
        if op == 0:
            del data[at : at + draw(st.integers(1, 8))]
        elif op == 1:
            data[at:at] = draw(st.one_of(st.sampled_from(HOSTILE), words)).encode("utf-8")
        elif op == 2:
            data[at] = draw(st.integers(0, 255))
        else:
            data = data[:at]
    return bytes(data)


_STATEMENT_START = ("hook ", "flag ", "if ")


@st.composite
def decorated(draw, seed_text: str) -> str:
    """A shipped policy that emits, with hostile `##` comments before its
    flags, hooks and statements, a hostile description, and maybe one
    extra plain statement in a hook."""
    out: list[str] = []
    for line in seed_text.splitlines():
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped.startswith("policy ") and draw(st.booleans()):
            name = stripped.split()[1]
            line = f'policy {name} "{draw(comment_text).replace(chr(34), chr(39))}"'
        starts = stripped and not stripped.startswith(("#", "}", "{", "policy", "kernel", "extends"))
        if starts and draw(st.integers(0, 2)) == 0:
            out.append(f"{indent}## {draw(comment_text)}")
        out.append(line)
        if stripped.startswith("hook ") and stripped.endswith("{") and draw(st.integers(0, 3)) == 0:
            extra = draw(st.sampled_from(PLAIN))
            out.append("    " + extra.format(s=draw(st.sampled_from(STORAGES)), t=draw(st.sampled_from(THREAD_FLAGS))))
    return "\n".join(out) + "\n"
