"""The series a policy makes of a v4.15-v4.17 tree (targets v4.16, v4.17):

1. `arm64: fpsimd:` the interfaces the policy's host code needs from
   arch/arm64/kernel/fpsimd.c (fpsimd_flush_cpu_state() made global and
   declared, the kernel_neon_busy helpers), if any;
2. `KVM: arm64: Convert lazy FPSIMD context switch trap to C`, if the
   policy changes the trap hook: __fpsimd_guest_restore (hyp/entry.S)
   becomes a call of a C __hyp_switch_fpsimd() in hyp/switch.c that does
   what the assembly did;
3. `KVM: arm64:` the policy itself, against the tree as 1 and 2 leave it
   (sites416): its host functions at the end of arch/arm64/kvm/guest.c,
   no new file.

Each patch may remove only code the baseline policy compiled to (the
conversion: only the assembly handler's body); any other removed line is an
error naming it, and nothing is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fpdsl.emit import targets as T
from fpdsl.emit.anchors import AnchorError, CFile
from fpdsl.emit.codegen import environment
from fpdsl.emit.edits import Edit, FileChange, Line, Origin, OverlapError, apply_edits
from fpdsl.emit.sites import Tree
from fpdsl.emit.sites416 import ENTRY_S, HYP_ENTRY_S, RUN_FUNCTIONS, TRAP_ASM, TRAP_C, Sites416
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.resources import resource_dir

CONVERSION_SUBJECT = "KVM: arm64: Convert lazy FPSIMD context switch trap to C"
_FLUSH_CALL = re.compile(r"(?<![\w])fpsimd_flush_cpu_state\(\)")


@dataclass
class Part:
    """One patch of the series."""

    kind: str  # "interface", "conversion" or "kvm"
    changes: list[FileChange]


@dataclass
class Staged:
    parts: list[Part] = field(default_factory=list)


class OverlayTree(Tree):
    """A tree with some files as earlier patches of the series leave them."""

    def __init__(self, base: Tree, texts: dict[str, str]) -> None:
        super().__init__(base.root)
        for rel, text in texts.items():
            self._files[rel] = CFile(rel, text)


def _template_origin(name: str, macro: str, why: str) -> Origin:
    """Where a template macro is defined, for review."""
    rel = f"templates/v4.16/{name}"
    text = (resource_dir("templates") / "v4.16" / name).read_text()
    line = next((i + 1 for i, t in enumerate(text.split("\n")) if f"macro {macro}(" in t), 1)
    return Origin(rel, line, why)


def stage(
    policy: ResolvedPolicy, tree: Tree, target: T.Target, baseline: ResolvedPolicy, changed: list[str], wiring: bool
) -> list[Part]:
    tree[T.ARM_C].function("kvm_arch_vcpu_ioctl_run")  # the run loop first: it names a wrong tree best
    kvm = Sites416(policy, target, tree, baseline)
    kvm.render_host(changed)
    if "trap" in changed:
        # Render the trap now, so the interface part knows all the needs.
        hook = policy.hooks.get("trap")
        kvm.lower.body(hook, hook.body if hook else (), "hyp", "\t", kvm.sources.get(hook.policy) if hook else None)
    parts: list[Part] = []
    interface = _interface(kvm, tree, policy)
    if interface is not None:
        parts.append(interface)
    texts: dict[str, str] = {}
    if "trap" in changed and not _has_c_handler(tree):
        conversion = _conversion(tree, target)
        parts.append(conversion)
        texts = {c.path: c.new_text for c in conversion.changes}
    after = OverlayTree(tree, texts) if texts else tree
    kvm = Sites416(policy, target, after, baseline)
    kvm.render_host(changed)
    kvm.kvm_edits(changed, wiring)
    changes = _collect(after, kvm.edits, kvm.removable)
    if changes:
        parts.append(Part("kvm", changes))
    return parts


def _has_c_handler(tree: Tree) -> bool:
    try:
        tree[T.HYP_C].function(TRAP_C)
    except AnchorError:
        return False
    return True


# -- 1. interfaces -------------------------------------------------------------


def _interface(kvm: Sites416, tree: Tree, policy: ResolvedPolicy) -> Part | None:
    needs = kvm.lower.needs
    edits: list[Edit] = []
    removable: dict[str, set[int]] = {}
    if needs.neon_busy is not None:
        why = kvm._origin_of(needs.neon_busy, Origin(policy.path, needs.neon_busy.line, "kernel_neon_busy interface"))
        helpers = kvm.lower.env.get_template("common/neon_busy.c.j2").make_module()
        cf = tree[T.FPSIMD_C]
        at = cf.after_function("kernel_neon_end")
        body = [Line("", why)] + [Line(t, why) for t in str(helpers.definitions()).split("\n")]
        edits.append(Edit(T.FPSIMD_C, at, at, body, why))
        hdr = tree[T.FPSIMD_H]
        at = hdr.site(hdr.prototype("fpsimd_flush_task_state")).end
        rows = [Line(t, why) for t in str(helpers.declarations()).split("\n")]
        edits.append(Edit(T.FPSIMD_H, at, at, rows, why))
    flush = _FLUSH_CALL.search(kvm.host_text())
    if flush is not None:
        edits += _export_flush(kvm, tree, removable)
    if "softirq" in policy.hooks:
        kvm.edits = []
        kvm._softirq_into_kernel_neon_begin()
        edits += kvm.edits
    if not edits:
        return None
    return Part("interface", _collect(tree, edits, removable))


def _export_flush(kvm: Sites416, tree: Tree, removable: dict[str, set[int]]) -> list[Edit]:
    """fpsimd_flush_cpu_state() is static inline in 4.16/4.17's fpsimd.c:
    make it global and declare it in asm/fpsimd.h (as v4.18 did)."""
    iface = kvm.lower.env.get_template("v4.16/interface.j2").make_module()
    why = _template_origin("interface.j2", "flush_cpu_state_definition", "fpsimd_flush_cpu_state() for KVM")
    cf = tree[T.FPSIMD_C]
    node = cf.function("fpsimd_flush_cpu_state")
    line = node.start_point[0]
    edits = []
    head = cf.lines[line]
    wanted = str(iface.flush_cpu_state_definition())
    if head.strip() != wanted:
        if re.sub(r"\b(static|inline)\s+", "", head).strip() != wanted:
            raise AnchorError(f"{T.FPSIMD_C}:{line + 1}: unexpected definition of fpsimd_flush_cpu_state(): {head}")
        # Only the linkage changes: the definition stays.
        removable.setdefault(T.FPSIMD_C, set()).add(line)
        edits.append(Edit(T.FPSIMD_C, line, line + 1, [Line(wanted, why)], why))
    hdr = tree[T.FPSIMD_H]
    try:
        hdr.prototype("fpsimd_flush_cpu_state")
    except AnchorError:
        at = hdr.site(hdr.prototype("fpsimd_flush_task_state")).end
        edits.append(Edit(T.FPSIMD_H, at, at, [Line(str(iface.flush_cpu_state_declaration()), why)], why))
    return edits


# -- 2. the trap in C ----------------------------------------------------------


def _conversion(tree: Tree, target: T.Target) -> Part:
    conv = environment().get_template("v4.16/trap_to_c.j2").make_module()
    asm = tree[ENTRY_S]
    begin = _one_line(asm, f"ENTRY({TRAP_ASM})")
    end = _one_line(asm, f"ENDPROC({TRAP_ASM})")
    if end < begin:
        raise AnchorError(f"{ENTRY_S}: ENDPROC({TRAP_ASM}) comes before its ENTRY")
    entry = tree[HYP_ENTRY_S]
    if not any(re.match(rf"\s*b\.eq\s+{TRAP_ASM}\s*$", t) for t in entry.lines):
        raise AnchorError(f"{HYP_ENTRY_S}: cannot find the trap path's 'b.eq {TRAP_ASM}'")
    first = begin + 1
    while first < end and asm.lines[first].strip().startswith("//"):
        first += 1
    why_asm = _template_origin("trap_to_c.j2", "asm_body", "conversion to C: asm_body()")
    rows = [Line(t, why_asm) for t in str(conv.asm_body()).split("\n")]
    edits = [Edit(ENTRY_S, first, end, rows, why_asm)]
    removable = {ENTRY_S: set(range(first, end))}
    why_c = _template_origin("trap_to_c.j2", "c_handler", "conversion to C: c_handler()")
    sw = tree[T.HYP_C]
    run = sw.with_leading_comment(sw.function(RUN_FUNCTIONS[target.name][0]))
    rows = [Line(t, why_c) for t in str(conv.c_handler()).split("\n")] + [Line("", why_c)]
    edits.append(Edit(T.HYP_C, run.start, run.start, rows, why_c))
    return Part("conversion", _collect(tree, edits, removable))


def _one_line(cf: CFile, text: str) -> int:
    found = [i for i, t in enumerate(cf.lines) if t.strip() == text]
    if len(found) != 1:
        what = "cannot find" if not found else f"found {len(found)} times:"
        raise AnchorError(f"{cf.path}: {what} the assembly trap handler '{text}'")
    return found[0]


# -- collecting and checking ---------------------------------------------------


def _collect(tree: Tree, edits: list[Edit], removable: dict[str, set[int]]) -> list[FileChange]:
    by_file: dict[str, list[Edit]] = {}
    for e in edits:
        by_file.setdefault(e.path, []).append(e)
    changes = []
    for rel in sorted(by_file):
        try:
            change = apply_edits(rel, tree[rel].text, by_file[rel])
        except OverlapError as exc:
            raise AnchorError(str(exc)) from None
        allowed = removable.get(rel, set())
        for index in sorted(change.removed):
            if index not in allowed:
                raise AnchorError(
                    f"{rel}:{index + 1}: the patch would remove a line the baseline policy did not produce "
                    f"(fpdsl never deletes code its model does not know): {change.old[index].strip()}"
                )
        if change.hunks:
            changes.append(change)
    return changes
