"""Sites of the v4.18-v4.20 layout (target v4.18).

KVM's FPSIMD handling is the functions of arch/arm64/kvm/fpsimd.c
(kvm_arch_vcpu_load_fp(), _ctxsync_fp(), _put_fp()) and the hyp's
update_fp_enabled() and __hyp_switch_fpsimd(). A hook that differs from the
baseline's is merged into its function's body (fpdsl/emit/merge.py): only
the code the baseline's hook compiles to may change; the tree's guards, SVE
bookkeeping and AArch32 state stay. Code with no such function (the enter
hook, the exit hook's code after local_irq_enable()) goes into new arm64
functions in the same file, which virt/kvm/arm/arm.c calls: arm.c is also
built for 32-bit arm, which gets empty stubs in its asm/kvm_host.h."""

from __future__ import annotations

import re

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.emit import targets as T
from fpdsl.emit.codegen import Lowering
from fpdsl.emit.edits import Line, Origin
from fpdsl.emit.identifiers import object_macros, refuse_bad_fields, struct_members
from fpdsl.emit.merge import merge
from fpdsl.emit.sites import RUN, SiteBuilder
from fpdsl.lang import ast
from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import ResolvedPolicy, load_policy
from fpdsl.resources import resource_dir

ARM32_KVM_HOST_H = "arch/arm/include/asm/kvm_host.h"
FUNCTIONS = {
    "load": "kvm_arch_vcpu_load_fp",
    "exit": "kvm_arch_vcpu_ctxsync_fp",
    "put": "kvm_arch_vcpu_put_fp",
}
# New functions: hook -> (name, the existing function it follows).
NEW_FUNCTIONS = {
    "enter": ("kvm_arch_vcpu_ctxflush_fp", "kvm_arch_vcpu_load_fp"),
    "exit": ("kvm_arch_vcpu_exit_fp", "kvm_arch_vcpu_ctxsync_fp"),
}
TRAP_FUNCTION = "__hyp_switch_fpsimd"
DECISION_FUNCTION = "update_fp_enabled"


class Sites418(SiteBuilder):
    def __init__(self, policy: ResolvedPolicy, target: T.Target, tree) -> None:
        super().__init__(policy, target, tree)
        self.base = check_or_raise(load_policy(resource_dir("policies") / f"{target.baseline}.fp"))
        self.base_lower = Lowering(target.name, self.base.path, self.lower.env)
        # The baseline's trap state is FP_ENABLED itself: no fp_untrapped.
        prims = self.lower.env.get_template(f"{target.name}/primitives.c.j2")
        self.base_lower.prims = prims.make_module(vars={"baseline": True})
        self.functions = self.lower.env.get_template("v4.18/functions.c.j2").make_module()
        self.base_sources = {p.source.path: p.source for p in self.base.chain}
        self._kvm_fpsimd_code: list[Line] = []  # what the patch adds there, for its includes

    # -- hooks ---------------------------------------------------------------

    def hook(self, name: str) -> None:
        getattr(self, f"_hook_{name}")()

    def _hook_load(self) -> None:
        self._merge_hook("load", self._stmts("load"), self._base_stmts("load"))

    def _hook_put(self) -> None:
        self._merge_hook("put", self._stmts("put"), self._base_stmts("put"))

    def _hook_exit(self) -> None:
        before, after = self._split_exit(self.policy, self._hook("exit"))
        base_before, base_after = self._split_exit(self.base, self.base.hooks.get("exit"))
        if base_after:
            raise AssertionError("the v4.18 baseline has no code after local_irq_enable()")
        self._merge_hook("exit", before, base_before)
        if after:
            why = self._why("exit")
            irq_on = self.tree[T.ARM_C].call(RUN, "local_irq_enable", after=self._entry(), first=True)
            at = self.tree[T.ARM_C].site(irq_on)
            self._new_function("exit", after, why, call_at=at.end, call_indent=at.indent, blank_before=True, doc=False)

    def _hook_enter(self) -> None:
        why = self._why("enter")
        at, indent = self._entry_block()
        self._new_function("enter", self._stmts("enter"), why, call_at=at, call_indent=indent, blank_before=False)

    def _hook_trap(self) -> None:
        self._merge_hook("trap", self._stmts("trap"), self._base_stmts("trap"), T.HYP_C, TRAP_FUNCTION, "hyp")

    def _hook_softirq(self) -> None:
        first = len(self.edits)
        self._softirq_into_kernel_neon_begin()
        wanted = self.lower.needs.locals.pop("softirq", {})
        for edit in self.edits[first:] if wanted else []:
            # Locals go after the block's own `struct kvm_vcpu *vcpu` line.
            at = next(i for i, line in enumerate(edit.lines) if "struct kvm_vcpu *vcpu" in line.text) + 1
            why = edit.origin
            edit.lines[at:at] = [Line(f"\t\t{decl}", self._origin_of(span, why)) for decl, span in wanted.items()]
        cf = self.tree[T.FPSIMD_C]
        if len(self.edits) > first and not cf.has_include("linux/kvm_host.h"):
            # The hook's code reads the running vcpu: struct kvm_vcpu and
            # kvm_arm_get_running_vcpu() come with <linux/kvm_host.h>.
            why = self._why("softirq")
            at = cf.last_include("linux/") + 1
            self._edit(T.FPSIMD_C, at, at, [Line("#include <linux/kvm_host.h>", why)], why, order=-1)

    def trap_wiring(self) -> None:
        needs = self.lower.needs
        span = needs.trap or self._hook("trap").span
        why = Origin(self._hook("trap").policy, span.line, "guest FP trap state")
        text = str(self.lower.prims.trap_wiring()).split("\n")
        mine = [Line(f"\t{t}" if t else "", why) for t in text]
        hook = self.base.hooks["enter"]
        origin = Origin(hook.policy, hook.span.line, "hook enter, in update_fp_enabled()")
        base = [
            Line(f"\t{t}" if t else "", origin) for t in str(self.base_lower.prims.hyp_enter_baseline()).split("\n")
        ]
        self._merge_lines(T.HYP_C, DECISION_FUNCTION, base, mine)
        self._field("fp_untrapped", str(self.lower.prims.fp_untrapped_field()), why)

    def _field(self, name: str, decl: str, why: Origin) -> None:
        self._fields = getattr(self, "_fields", [])
        self._fields.append((name, decl, why))

    def requirements(self) -> None:
        """The vcpu fields, the kernel_neon_busy interface, the locals and
        the headers the emitted code needs."""
        needs = self.lower.needs
        needs.neon_include = None  # arm.c gets no arm64 code: see _includes()
        for flag, span in sorted(needs.flags.items()):
            decl = str(self.lower.prims.flag_field(flag))
            if decl:
                decl_span = next((f.span for f in self.policy.flags if f.name == flag), span)
                owner = next((p for p in self.policy.chain if any(f.name == flag for f in p.flags)), self.policy.policy)
                self._field(flag, decl, Origin(owner.source.path, decl_span.line, f"flag {flag}"))
        fields = getattr(self, "_fields", [])
        if fields:
            cf = self.tree[T.KVM_HOST_H]
            members = struct_members(cf.struct_body("kvm_vcpu_arch"), cf.text.encode("utf-8"))
            refuse_bad_fields(self.policy, fields, members, object_macros(cf.text))
            line = cf.struct_body("kvm_vcpu_arch").end_point[0]
            head = Line("", fields[0][2])
            note = Line(f"\t/* FPSIMD context handling state ({self.policy.name}) */", fields[0][2])
            rows = [Line(f"\t{decl}", why) for _, decl, why in sorted(fields)]
            self._edit(T.KVM_HOST_H, line, line, [head, note, *rows], fields[0][2])
        if needs.neon_busy is not None:
            why = Origin(self.policy.path, needs.neon_busy.line, "kernel_neon_busy interface")
            why = self._origin_of(needs.neon_busy, why)
            helpers = self.lower.env.get_template("common/neon_busy.c.j2").make_module()
            cf = self.tree[T.FPSIMD_C]
            at = cf.after_function("kernel_neon_end")
            body = [Line("", why)] + [Line(t, why) for t in str(helpers.definitions()).split("\n")]
            self._edit(T.FPSIMD_C, at, at, body, why)
            hdr = self.tree[T.FPSIMD_H]
            at = hdr.site(hdr.prototype("fpsimd_flush_task_state")).end
            self._edit(T.FPSIMD_H, at, at, [Line(t, why) for t in str(helpers.declarations()).split("\n")], why)
        functions = {"load": "kvm_arch_vcpu_load", "put": "kvm_arch_vcpu_put", "enter": RUN, "exit": RUN}
        for hook_name, wanted in sorted(needs.locals.items()):
            if hook_name in functions:
                self.declare_locals(T.ARM_C, functions[hook_name], wanted)
        self._includes()

    def _includes(self) -> None:
        """The headers arch/arm64/kvm/fpsimd.c lacks for the code added to it."""
        cf = self.tree[T.KVM_FPSIMD_C]
        headers = self.functions.headers
        wanted: dict[str, Origin] = {}
        for line in self._kvm_fpsimd_code:
            if line.origin is not None and line.origin.why == "comment":
                continue  # the words of a comment need no header
            for name in re.findall(r"\b\w+\b", line.text):
                header = headers.get(name)
                if header and not cf.has_include(header) and line.origin is not None:
                    wanted.setdefault(header, line.origin)
        for header in sorted(wanted):
            at = cf.last_include(header.split("/")[0] + "/") + 1
            why = wanted[header]
            self._edit(T.KVM_FPSIMD_C, at, at, [Line(f"#include <{header}>", why)], why, order=-1)

    # -- helpers -------------------------------------------------------------

    def _stmts(self, name: str) -> tuple:
        hook = self._hook(name)
        return hook.body if hook else ()

    def _base_stmts(self, name: str) -> tuple:
        hook = self.base.hooks.get(name)
        return hook.body if hook else ()

    def _split_exit(self, policy: ResolvedPolicy, hook: ast.Hook | None) -> tuple[tuple, tuple]:
        body = hook.body if hook else ()
        split = [i for i, s in enumerate(body) if isinstance(s, ast.Call) and s.name == "local_irq_enable"]
        if hook is not None and len(split) != 1:
            raise FpdslError(
                Diagnostic(
                    "the exit hook must call local_irq_enable() exactly once, at its top level: "
                    "that call is the run loop's own",
                    hook.name_span,
                    {p.source.path: p.source for p in policy.chain}.get(hook.policy),
                )
            )
        return (body[: split[0]], body[split[0] + 1 :]) if split else ((), ())

    def _render_base(self, name: str, stmts: tuple, context: str) -> list[Line]:
        hook = self.base.hooks.get(name)
        if hook is None or not stmts:
            return []
        lines = self.base_lower.body(hook, stmts, context, "\t", self.base_sources.get(hook.policy))
        self.base_lower.needs.locals.clear()
        return lines

    def _merge_hook(
        self,
        name: str,
        stmts: tuple,
        base_stmts: tuple,
        rel: str = T.KVM_FPSIMD_C,
        function: str | None = None,
        context: str = "host",
    ) -> None:
        function = function or FUNCTIONS[name]
        mine = self._render(name, stmts, context, "\t")
        base = self._render_base(name, base_stmts, context)
        self._merge_lines(rel, function, base, mine)
        self._declare(rel, function, self.lower.needs.locals.pop(name, {}), self._why(name))
        if rel == T.KVM_FPSIMD_C:
            self._kvm_fpsimd_code.extend(mine)

    def _merge_lines(self, rel: str, function: str, base: list[Line], mine: list[Line]) -> None:
        cf = self.tree[rel]
        body = cf.function(function).child_by_field_name("body")
        start, end = body.start_point[0] + 1, body.end_point[0]
        self.edits.extend(merge(rel, cf.lines, start, end, base, mine))

    def _declare(self, rel: str, function: str, wanted: dict, why: Origin) -> None:
        """Declare the locals the policy's code needs that `function` lacks."""
        if not wanted:
            return
        cf = self.tree[rel]
        body = cf.function(function).child_by_field_name("body")
        declared = {
            name
            for child in body.named_children
            if child.type == "declaration"
            for name in re.findall(r"(\w+)\s*(?:=|;|\[)", cf.text[child.start_byte : child.end_byte])
        }
        rows = []
        for decl, span in wanted.items():
            name = re.findall(r"(\w+)\s*(?:=|;|\[)", decl)
            if name and name[0] in declared:
                continue
            rows.append(Line(f"\t{decl}", self._origin_of(span, why)))
        if not rows:
            return
        line, had = cf.declarations_end(function)
        if not had:
            rows.append(Line("", rows[0].origin))
        self._edit(rel, line, line, rows, rows[0].origin, order=-1)

    def _entry_block(self) -> tuple[int, str]:
        """Where the run loop's "enter the guest" block starts: the comment
        and trace call right before guest_enter_irqoff()."""
        cf = self.tree[T.ARM_C]
        node = self._entry()
        first = node
        prev = node.prev_named_sibling
        while prev is not None and prev.end_point[0] == first.start_point[0] - 1:
            text = cf.text[prev.start_byte : prev.end_byte]
            if prev.type != "comment" and not text.startswith("trace_kvm_entry("):
                break
            first, prev = prev, prev.prev_named_sibling
        return first.start_point[0], cf.site(node).indent

    def _new_function(
        self,
        name: str,
        stmts: tuple,
        why: Origin,
        *,
        call_at: int,
        call_indent: str,
        blank_before: bool,
        doc: bool = True,
    ) -> None:
        """`stmts` of hook `name` as the body of a new arm64 function, with
        its prototype, its 32-bit arm stub and its call from arm.c; `doc`
        puts the hook's `##` comment first."""
        function, follows = NEW_FUNCTIONS[name]
        hook = self._hook(name)
        if doc:
            body = self._render(name, stmts, "host", "\t")
        else:
            body = self.lower.body(hook, stmts, "host", "\t", self.sources.get(hook.policy)) if stmts else []
        if not body:
            return
        wanted = self.lower.needs.locals.pop(name, {})
        decls = [Line(f"\t{decl}", self._origin_of(span, why)) for decl, span in wanted.items()]
        if decls:
            decls.append(Line("", decls[0].origin))
        fns = self.functions
        cf = self.tree[T.KVM_FPSIMD_C]
        at = cf.after_function(follows)
        text = [Line("", why)]
        text += [Line(t, why) for t in str(fns.doc(function)).split("\n")]
        text += [Line(t, why) for t in str(fns.head(function)).split("\n")]
        text += [*decls, *body, Line("}", why)]
        self._kvm_fpsimd_code.extend(body)
        self._edit(T.KVM_FPSIMD_C, at, at, text, why)
        hdr = self.tree[T.KVM_HOST_H]
        at = hdr.site(hdr.prototype(follows)).end
        self._edit(T.KVM_HOST_H, at, at, [Line(str(fns.prototype(function)), why)], why)
        arm = self.tree[ARM32_KVM_HOST_H]
        at = arm.site(arm.function(follows)).end
        self._edit(ARM32_KVM_HOST_H, at, at, [Line(str(fns.stub(function)), why)], why)
        call = Line(f"{call_indent}{fns.call(function)}", why)
        lines = [Line("", why), call] if blank_before else [call, Line("", why)]
        self._edit(T.ARM_C, call_at, call_at, lines, why)
