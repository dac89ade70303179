"""Sites of the v4.15-v4.17 layouts (targets v4.16, v4.17).

virt/kvm/arm/arm.c is built for 32-bit ARM too, so the policy's host code
goes into arm64 functions (as v4.18 later did: kvm_arch_vcpu_load_fp() and
friends) appended to arch/arm64/kvm/guest.c, the arm64-only host file that
already handles the guest's register state and is in kvm.o for every arm64
KVM config (a new file would need a MAINTAINERS change to pass
checkpatch); declared in arm64's asm/kvm_host.h, stubbed in arm's, and only
called from arm.c. The hyp side
stays in hyp/switch.c: the trap hook fills __hyp_switch_fpsimd() (the C
handler the series' conversion patch introduces), the trap wiring goes at
the end of __activate_traps(), and the exit hook takes the eager save out
of the run function(s) (4.17 has two: kvm_vcpu_run_vhe() and
__kvm_vcpu_run_nvhe()).

Every edit that removes lines says which lines it may remove: only code the
baseline policy compiled to (plan416 checks it)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tree_sitter import Node

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.emit import targets as T
from fpdsl.emit.anchors import AnchorError, CFile
from fpdsl.emit.codegen import Lowering, layout_environment
from fpdsl.emit.edits import Edit, Line, Origin
from fpdsl.emit.identifiers import object_macros, refuse_bad_fields, struct_members
from fpdsl.emit.merge import merge
from fpdsl.emit.sites import RUN, SiteBuilder, Tree
from fpdsl.lang import ast
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.resources import resource_dir

ARM_KVM_HOST_H = "arch/arm/include/asm/kvm_host.h"
STATE_HELPER = "ctxt_fpsimd"
ENTRY_S = "arch/arm64/kvm/hyp/entry.S"
HYP_ENTRY_S = "arch/arm64/kvm/hyp/hyp-entry.S"
TRAP_C = "__hyp_switch_fpsimd"
TRAP_ASM = "__fpsimd_guest_restore"
HOST_CTXT = "host_ctxt"  # the handler's local for KVM's per-CPU host context

# The run function(s) holding the eager FPSIMD save, per layout.
TEMPLATE = "guest_fp.c.j2"
RUN_FUNCTIONS = {"v4.16": ("__kvm_vcpu_run",), "v4.17": ("kvm_vcpu_run_vhe", "__kvm_vcpu_run_nvhe")}
# The host functions, in file order: hook name (exit split at the run
# loop's local_irq_enable()) -> where arm.c calls it.
HOST_HOOKS = ("load", "put", "enter", "exit", "exit_irqs_on")
EAGER_SAVES = ("__fpsimd_save_state", "__fpsimd_restore_state")


class Sites416(SiteBuilder):
    """The KVM patch of a v4.16/v4.17 series, against the tree as the
    series' earlier patches leave it."""

    def __init__(self, policy: ResolvedPolicy, target: T.Target, tree: Tree, baseline: ResolvedPolicy) -> None:
        # Not SiteBuilder.__init__: both layouts render through the v4.16
        # templates, told the layout.
        self.policy, self.target, self.tree = policy, target, tree
        self.edits: list[Edit] = []
        self.sources = {p.source.path: p.source for p in policy.chain}
        folder, env = layout_environment(target.name)
        self.lower = Lowering(folder, policy.path, env)
        # The baseline (eager) renders without the policy's trap state.
        self.base_lower = Lowering(folder, baseline.path, env)
        self.base_lower.prims = env.get_template(f"{folder}/primitives.c.j2").make_module(vars={"baseline": True})
        self.kvm_file = env.get_template(f"{folder}/{TEMPLATE}").make_module()
        self.baseline = baseline
        self.removable: dict[str, set[int]] = {}
        self.bodies: dict[str, list[Line]] = {}  # host function -> its body
        self._fields: list[tuple[str, str, Origin]] = []

    # -- what removed lines are attributed to ---------------------------------

    def baseline_why(self, name: str) -> Origin:
        hook = self.baseline.hooks.get(name)
        line = hook.span.line if hook else self.baseline.policy.name_span.line
        return Origin(self.baseline.path, line, f"hook {name}")

    def allow(self, rel: str, lines: Iterable[int]) -> None:
        self.removable.setdefault(rel, set()).update(lines)

    def _remove(self, rel: str, node: Node, why: Origin) -> None:
        before = len(self.edits)
        self._delete_statement(rel, node, why)
        for e in self.edits[before:]:
            self.allow(rel, range(e.start, e.end))

    # -- rendering the host hooks --------------------------------------------

    def render_host(self, changed: list[str]) -> None:
        for name in ("load", "put", "enter"):
            hook = self._hook(name)
            if name in changed and hook is not None:
                self.bodies[name] = self._render(name, hook.body, "host", "\t")
        hook = self._hook("exit")
        if "exit" in changed and hook is not None:
            before, after = self._split_exit(hook)
            self.bodies["exit"] = self._render("exit", before, "host", "\t")
            src = self.sources.get(hook.policy)
            self.bodies["exit_irqs_on"] = self.lower.body(hook, after, "host", "\t", src) if after else []
        self.bodies = {k: v for k, v in self.bodies.items() if v}
        # The scaffolding of each function (its head, declaration, stub and
        # call) comes from the hook it holds.
        self.origins = {k: self._why("exit" if k == "exit_irqs_on" else k) for k in self.bodies}

    def _split_exit(self, hook: ast.Hook) -> tuple[tuple, tuple]:
        body = hook.body
        split = [i for i, s in enumerate(body) if isinstance(s, ast.Call) and s.name == "local_irq_enable"]
        if len(split) != 1:
            raise FpdslError(
                Diagnostic(
                    "the exit hook must call local_irq_enable() exactly once, at its top level: "
                    "that call is the run loop's own",
                    hook.name_span,
                    self.sources.get(hook.policy),
                )
            )
        return body[: split[0]], body[split[0] + 1 :]

    def host_text(self) -> str:
        return "\n".join(line.text for lines in self.bodies.values() for line in lines)

    # -- the KVM patch's edits -------------------------------------------------

    def kvm_edits(self, changed: list[str], wiring: bool) -> None:
        self._calls()
        if "enter" in changed:
            cf = self.tree[T.ARM_C]
            self._remove(T.ARM_C, cf.call(RUN, "kvm_fpsimd_flush_cpu_state"), self.baseline_why("enter"))
        if "exit" in changed:
            for function in RUN_FUNCTIONS[self.target.name]:
                self._eager_save(function)
        if "trap" in changed:
            self._trap()
        if wiring:
            self._trap_wiring()
        self._fields_and_declarations()
        if self.bodies:
            self._guest_c()

    def _calls(self) -> None:
        cf = self.tree[T.ARM_C]
        for name in self.bodies:
            why = self.origins[name]
            call = str(self.kvm_file.call(name))
            if name == "load":
                at, indent = cf.body_end("kvm_arch_vcpu_load").start, "\t"
            elif name == "put":
                at, indent = cf.body_start("kvm_arch_vcpu_put").start, "\t"
            elif name == "enter":
                site = cf.site(cf.call(RUN, "guest_enter_irqoff"))
                at, indent = site.start, site.indent
            else:
                irq_on = cf.call(RUN, "local_irq_enable", after=cf.call(RUN, "guest_enter_irqoff"), first=True)
                site = cf.with_leading_comment(irq_on) if name == "exit" else cf.site(irq_on)
                at, indent = (site.start if name == "exit" else site.end), site.indent
            rows = [Line(f"{indent}{call}", why)]
            if name == "exit":
                rows.append(Line("", why))
            self._edit(T.ARM_C, at, at, rows, why)

    def _eager_save(self, function: str) -> None:
        """Take the eager save of the guest's registers out of a run
        function, keeping whatever else the `if (fp_enabled)` block does
        (4.17: __fpsimd_save_fpexc32())."""
        why, cf = self.baseline_why("exit"), self.tree[T.HYP_C]
        block = cf.if_on(function, "fp_enabled")
        body = block.child_by_field_name("consequence")
        stmts = [n for n in body.named_children if n.type != "comment"] if body.type == "compound_statement" else [body]
        kept = [n for n in stmts if _callee(n) not in EAGER_SAVES]
        if not kept:
            self._remove(T.HYP_C, block, why)
            self._remove(T.HYP_C, cf.assignment_to(function, "fp_enabled"), why)
            self._remove(T.HYP_C, cf.local_declaration(function, "fp_enabled"), why)
            return
        site = cf.site(block)
        indent = site.indent
        inner = [cf.lines[i] for n in kept for i in range(n.start_point[0], n.end_point[0] + 1)]
        head = f"{indent}if (fp_enabled)" + (" {" if len(kept) > 1 else "")
        rows = [Line(head, why), *(Line(t, why) for t in inner)]
        if len(kept) > 1:
            rows.append(Line(f"{indent}}}", why))
        self._edit(T.HYP_C, site.start, site.end, rows, why)
        keep_lines = {i for n in kept for i in range(n.start_point[0], n.end_point[0] + 1)}
        self.allow(T.HYP_C, set(range(site.start, site.end)) - keep_lines)

    def _trap(self) -> None:
        """The policy's trap hook merged into __hyp_switch_fpsimd() (the
        4.17 handler, or the series' conversion of 4.16's assembly): what
        the policy changes relative to the baseline's trap hook, and
        nothing else, so the handler's own lines (its host_ctxt local, its
        blank lines, the AArch32 FPEXC32_EL2 part) stay as they are."""
        why, cf = self.baseline_why("trap"), self.tree[T.HYP_C]
        body = cf.function(TRAP_C).child_by_field_name("body")
        start, end = body.start_point[0] + 1, body.end_point[0]
        hook = self._hook("trap")
        mine = self._render("trap", hook.body if hook else (), "hyp", "\t")
        wanted = self.lower.needs.locals.pop("trap", {})
        base_hook = self.baseline.hooks.get("trap")
        base = []
        if base_hook is not None:
            base = self.base_lower.body(base_hook, base_hook.body, "hyp", "\t", None)
        edits = merge(T.HYP_C, cf.lines, start, end, base, mine)
        for e in edits:
            self.allow(T.HYP_C, range(e.start, e.end))
        self.edits.extend(edits)
        try:
            declared = cf.local_declaration(TRAP_C, HOST_CTXT)
        except AnchorError:
            declared = None
        if declared is not None and not any(HOST_CTXT in d for d in wanted):
            self._remove(T.HYP_C, declared, why)  # the policy no longer saves to the host context
        wanted = {d: s for d, s in wanted.items() if declared is None or HOST_CTXT not in d}
        if wanted:
            self.declare_locals(T.HYP_C, TRAP_C, wanted)

    def _trap_wiring(self) -> None:
        needs = self.lower.needs
        span = needs.trap or self._hook("trap").span
        why = Origin(self._hook("trap").policy, span.line, "guest FP trap state")
        cf = self.tree[T.HYP_C]
        text = str(self.lower.prims.trap_wiring()).split("\n")
        site = cf.body_end("__activate_traps")
        lines = [Line(f"\t{t}" if t else "", why) for t in text]
        self._edit(T.HYP_C, site.start, site.start, [Line("", why), *lines], why)
        self._fields.append(("fp_untrapped", str(self.lower.prims.fp_untrapped_field()), why))

    def _fields_and_declarations(self) -> None:
        needs = self.lower.needs
        for flag, span in sorted(needs.flags.items()):
            decl = str(self.lower.prims.flag_field(flag))
            decl_span = next((f.span for f in self.policy.flags if f.name == flag), span)
            owner = next((p for p in self.policy.chain if any(f.name == flag for f in p.flags)), self.policy.policy)
            self._fields.append((flag, decl, Origin(owner.source.path, decl_span.line, f"flag {flag}")))
        if self._fields:
            cf = self.tree[T.KVM_HOST_H]
            members = struct_members(cf.struct_body("kvm_vcpu_arch"), cf.text.encode("utf-8"))
            refuse_bad_fields(self.policy, self._fields, members, object_macros(cf.text))
            line = cf.struct_body("kvm_vcpu_arch").end_point[0]
            first = self._fields[0][2]
            rows = [Line("", first), Line(f"\t/* FPSIMD context handling state ({self.policy.name}) */", first)]
            rows += [Line(f"\t{decl}", why) for _, decl, why in sorted(self._fields)]
            self._edit(T.KVM_HOST_H, line, line, rows, first)
        if not self.bodies:
            return
        first = self._file_origin("declaration")
        cf = self.tree[T.KVM_HOST_H]
        at = cf.after_function("kvm_fpsimd_flush_cpu_state")
        rows = [Line("", first), Line(f"/* Guest FP/SIMD context handling: {T.GUEST_C} */", first)]
        rows += [Line(str(self.kvm_file.declaration(h)), self.origins[h]) for h in self.bodies]
        self._edit(T.KVM_HOST_H, at, at, rows, first)
        arm = self.tree[ARM_KVM_HOST_H]
        at = arm.after_function("kvm_fpsimd_flush_cpu_state")
        rows = [Line(str(self.kvm_file.stub(h)), self.origins[h]) for h in self.bodies]
        self._edit(ARM_KVM_HOST_H, at, at, rows, first)

    # -- the host functions, at the end of guest.c --------------------------

    def _file_origin(self, macro: str) -> Origin:
        text = (resource_dir("templates") / "v4.16" / TEMPLATE).read_text().split("\n")
        line = next((i + 1 for i, t in enumerate(text) if f"macro {macro}(" in t), 1)
        return Origin(f"templates/v4.16/{TEMPLATE}", line, f"{macro}()")

    def _guest_c(self) -> None:
        """One function per host hook with code at the end of guest.c (and
        the state helper if the code uses it), and the #includes guest.c
        lacks for them after its own."""
        cf = self.tree[T.GUEST_C]
        text = self.host_text()
        helper = f"{STATE_HELPER}(" in text
        names = [str(self.kvm_file.function_name(h)) for h in self.bodies] + ([STATE_HELPER] if helper else [])
        taken = [n for n in names if re.search(rf"\b{n}\b", cf.text)]
        if taken:
            raise AnchorError(f"{T.GUEST_C}: already has {', '.join(taken)}: the policy's functions would clash")
        rows: list[Line] = []
        if helper:
            why = self._file_origin("state_helper")
            rows += [Line("", why), *(Line(t, why) for t in str(self.kvm_file.state_helper()).split("\n"))]
        for name, body in self.bodies.items():
            why = self.origins[name]
            rows.append(Line("", why))
            rows += [Line(t, why) for t in str(self.kvm_file.opening(name)).split("\n")]
            hook = "exit" if name == "exit_irqs_on" else name
            wanted = self.lower.needs.locals.get(hook, {})
            decls = [d for d in wanted if _declares_used(d, body)]
            if decls:
                rows += [Line(f"\t{d}", why) for d in decls] + [Line("", why)]
            rows += body
            rows.append(Line(str(self.kvm_file.closing()), why))
        end = len(cf.lines) - 1 if cf.lines[-1] == "" else len(cf.lines)
        self._edit(T.GUEST_C, end, end, rows, rows[0].origin)
        self._guest_c_includes(cf, text, helper)

    def _guest_c_includes(self, cf: CFile, text: str, helper: bool) -> None:
        wanted: dict[str, Origin] = {}
        if helper:  # struct fpsimd_state / struct user_fpsimd_state
            wanted["asm/fpsimd.h"] = self._file_origin("state_helper")
        for line in (row for lines in self.bodies.values() for row in lines):
            if line.origin is not None and line.origin.why == "comment":
                continue  # a comment that names a call needs no header
            for call in re.findall(r"\b(\w+)\(", line.text):
                header = str(self.kvm_file.header_of(call))
                if header and line.origin is not None:
                    wanted.setdefault(header, line.origin)
        missing = sorted((h for h in wanted if not cf.has_include(h)), key=lambda h: (h.startswith("asm/"), h))
        if not missing:
            return
        at = cf.last_include("") + 1
        self._edit(T.GUEST_C, at, at, [Line(f"#include <{h}>", wanted[h]) for h in missing], wanted[missing[0]])


def _callee(node: Node) -> str | None:
    if node.type != "expression_statement" or not node.named_children:
        return None
    expr = node.named_children[0]
    if expr.type != "call_expression":
        return None
    fn = expr.child_by_field_name("function")
    return fn.text.decode() if fn is not None else None


def _declares_used(decl: str, body: list[Line]) -> bool:
    name = re.findall(r"(\w+)\s*;?\s*$", decl)
    return bool(name) and any(re.search(rf"\b{name[0]}\b", line.text) for line in body)


__all__ = ["Sites416", "Edit", "RUN_FUNCTIONS", "TRAP_C", "TRAP_ASM", "ENTRY_S", "HYP_ENTRY_S"]
