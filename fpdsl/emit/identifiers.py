"""Policy flag names become C identifiers (vcpu fields): they must not be a
C keyword, a member the kernel's struct already has, or another generated
field, or the patch would not compile or would silently alias kernel state."""

from __future__ import annotations

import re

from tree_sitter import Node

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.lang.loader import ResolvedPolicy

# C11 keywords, GNU C's and the kernel's own spellings of them.
C_KEYWORDS = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if inline int
    long register restrict return short signed sizeof static struct switch typedef union unsigned void
    volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert
    _Thread_local asm typeof __asm__ __attribute__ __inline__ __typeof__ __volatile__ __restrict__
    bool true false NULL""".split()
)

# Fields fpdsl itself generates in struct kvm_vcpu_arch.
GENERATED_FIELDS = frozenset({"fp_untrapped"})

# Lower-case object-like macros every kernel file sees: a field of that name
# would be replaced by the preprocessor (`current` is get_current()).
KERNEL_MACROS = frozenset({"current"})


def object_macros(text: str) -> set[str]:
    """The lower-case object-like macros a C file defines."""
    return set(re.findall(r"^\s*#\s*define\s+([a-z_][a-z0-9_]*)(?![(\w])", text, re.M))


def struct_members(body: Node, text: bytes) -> set[str]:
    """The member names a struct body (tree-sitter field_declaration_list) declares."""
    names: set[str] = set()
    for decl in body.named_children:
        if decl.type != "field_declaration":
            continue
        stack = [c for c in decl.children if c.type not in ("primitive_type", "type_identifier", "struct_specifier")]
        while stack:
            node = stack.pop()
            if node.type == "field_identifier":
                names.add(text[node.start_byte : node.end_byte].decode())
            elif node.type not in ("parameter_list", "argument_list"):
                stack.extend(node.named_children)
    return names


def field_problem(flag: str, field: str, members: set[str], macros: set[str] = frozenset()) -> str | None:
    """Why the flag `flag`, written as the C field `field`, cannot be one."""
    if field in C_KEYWORDS:
        return f"flag {flag} would be the C field '{field}', which is a C keyword"
    if field in GENERATED_FIELDS:
        return f"flag {flag} would be the C field '{field}', which fpdsl generates for the FP trap state"
    if field in KERNEL_MACROS or field in macros:
        return f"flag {flag} would be the C field '{field}', which the preprocessor replaces (a kernel macro)"
    if field in members:
        return (
            f"flag {flag} would be the C field '{field}', which struct kvm_vcpu_arch already has: "
            "the policy would read and write kernel state"
        )
    return None


def refuse_bad_fields(
    policy: ResolvedPolicy, fields: list[tuple[str, str, object]], members: set[str], macros: set[str] = frozenset()
) -> None:
    """Raise a diagnostic at the flag's declaration if any field a policy
    flag becomes (`fields`: flag, C declaration, origin) cannot be one."""
    declared = {f.name for owner in policy.chain for f in owner.flags}
    for flag, decl, why in fields:
        # fpdsl's own field (fp_untrapped) is not a policy flag, even when a
        # flag of that name is declared: only a flag the code uses has a field.
        if flag not in declared or not getattr(why, "why", "").startswith("flag "):
            continue
        m = re.search(r"(\w+)\s*;\s*$", decl)
        if not m:
            continue
        problem = field_problem(flag, m.group(1), members, macros)
        if problem is None:
            continue
        for owner in policy.chain:
            decl_node = next((f for f in owner.flags if f.name == flag), None)
            if decl_node is not None:
                raise FpdslError(Diagnostic(problem, decl_node.span, owner.source, "rename the flag"))
        raise FpdslError(Diagnostic(problem, None, policy.policy.source, "rename the flag"))
