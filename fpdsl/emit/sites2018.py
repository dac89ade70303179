"""Sites of the 2018 layouts (v4.16, v4.18): hooks inline in
virt/kvm/arm/arm.c, the trap in hyp/switch.c; a hook that differs from the
target's baseline takes the place of the baseline's code."""

from __future__ import annotations

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.emit import targets as T
from fpdsl.emit.edits import Line, Origin
from fpdsl.emit.identifiers import refuse_bad_fields, struct_members
from fpdsl.emit.sites import RUN, SiteBuilder
from fpdsl.lang import ast


class Sites2018(SiteBuilder):
    # -- hooks ---------------------------------------------------------------

    def hook(self, name: str) -> None:
        getattr(self, f"_hook_{name}")()

    def _hook_load(self) -> None:
        self._vcpu_hook("load", "kvm_arch_vcpu_load", at_end=True)

    def _hook_put(self) -> None:
        self._vcpu_hook("put", "kvm_arch_vcpu_put", at_end=False)

    def _vcpu_hook(self, name: str, function: str, *, at_end: bool) -> None:
        """load/put: in place of v4.18's kvm_arch_vcpu_{load,put}_fp() call;
        in v4.16 at the end of kvm_arch_vcpu_load(), the start of _put()."""
        why, cf = self._why(name), self.tree[T.ARM_C]
        body = self._hook(name).body if self._hook(name) else ()
        if self.target.name == "v4.18":
            site = cf.site(cf.call(function, f"{function}_fp"))
            self._edit(T.ARM_C, site.start, site.end, self._render(name, body, "host", site.indent), why)
            return
        site = cf.body_end(function) if at_end else cf.body_start(function)
        lines = self._render(name, body, "host", "\t")
        if lines:
            lines = [Line("", why), *lines] if at_end else [*lines, Line("", why)]
            self._edit(T.ARM_C, site.start, site.start, lines, why)

    def _entry(self):
        return self.tree[T.ARM_C].call(RUN, "guest_enter_irqoff")

    def _hook_enter(self) -> None:
        why, cf = self._why("enter"), self.tree[T.ARM_C]
        site = cf.with_leading_comment(self._entry())
        body = self._hook("enter").body if self._hook("enter") else ()
        lines = self._render("enter", body, "host", site.indent)
        if lines:
            self._edit(T.ARM_C, site.start, site.start, [*lines, Line("", why)], why)
        if self.target.name == "v4.16":
            self._delete_statement(T.ARM_C, cf.call(RUN, "kvm_fpsimd_flush_cpu_state"), why)

    def _hook_exit(self) -> None:
        why, cf = self._why("exit"), self.tree[T.ARM_C]
        hook = self._hook("exit")
        irq_on = cf.call(RUN, "local_irq_enable", after=self._entry(), first=True)
        site = cf.site(irq_on)
        body = hook.body if hook else ()
        split = [i for i, s in enumerate(body) if isinstance(s, ast.Call) and s.name == "local_irq_enable"]
        if hook is not None and len(split) != 1:
            raise FpdslError(
                Diagnostic(
                    "the exit hook must call local_irq_enable() exactly once, at its top level: "
                    "that call is the run loop's own",
                    hook.name_span,
                    self.sources.get(hook.policy),
                )
            )
        before, after = (body[: split[0]], body[split[0] + 1 :]) if split else ((), ())
        lines = self._render("exit", before, "host", site.indent)
        if lines:
            self._edit(T.ARM_C, site.start, site.start, lines, why)
        lines = self.lower.body(hook, after, "host", site.indent, self.sources.get(hook.policy)) if after else []
        if lines:
            self._edit(T.ARM_C, site.end, site.end, [Line("", why), *lines], why)
        if self.target.name == "v4.16":
            hyp = self.tree[T.HYP_C]
            self._delete_statement(T.HYP_C, hyp.if_on("__kvm_vcpu_run", "fp_enabled"), why)
            self._delete_statement(T.HYP_C, hyp.assignment_to("__kvm_vcpu_run", "fp_enabled"), why)
            self._delete_statement(T.HYP_C, hyp.local_declaration("__kvm_vcpu_run", "fp_enabled"), why)
        else:
            self._delete_statement(T.ARM_C, cf.call(RUN, "kvm_arch_vcpu_ctxsync_fp"), why)

    def _hook_trap(self) -> None:
        why, cf = self._why("trap"), self.tree[T.HYP_C]
        site = cf.statements("__hyp_switch_fpsimd", keep_final_return=True, declarations=True)
        hook = self._hook("trap")
        lines = self._render("trap", hook.body if hook else (), "hyp", site.indent)
        self._edit(T.HYP_C, site.start, site.end, lines, why)

    def _hook_softirq(self) -> None:
        why, cf = self._why("softirq"), self.tree[T.FPSIMD_C]
        hook = self._hook("softirq")
        start, _ = cf.declarations_end("kernel_neon_begin")
        inner = self._render("softirq", hook.body if hook else (), "host", "\t\t")
        if not inner:
            return
        wrap = self.lower.env.get_template("common/softirq_hook.c.j2").make_module()
        head, tail = (str(wrap.head()).strip("\n").split("\n"), str(wrap.tail()).strip("\n").split("\n"))
        # A blank line after head()'s declaration, as kernel style wants.
        lines = [Line(t, why) for t in [*head, ""]] + inner + [Line(t, why) for t in tail]
        self._edit(T.FPSIMD_C, start, start, [*lines, Line("", why)], why)

    # -- what the hooks need -------------------------------------------------

    def trap_wiring(self) -> None:
        needs = self.lower.needs
        span = needs.trap or self._hook("trap").span
        why = Origin(self._hook("trap").policy, span.line, "guest FP trap state")
        cf = self.tree[T.HYP_C]
        text = str(self.lower.prims.trap_wiring()).split("\n")
        if self.target.name == "v4.16":
            site = cf.body_end("__activate_traps")
            lines = [Line(f"\t{t}" if t else "", why) for t in text]
            self._edit(T.HYP_C, site.start, site.start, [Line("", why), *lines], why)
        else:
            site = cf.statements("update_fp_enabled", keep_final_return=False, declarations=True)
            self._edit(T.HYP_C, site.start, site.end, [Line(f"\t{t}", why) for t in text], why)
        self._field("fp_untrapped", str(self.lower.prims.fp_untrapped_field()), why)

    def _field(self, name: str, decl: str, why: Origin) -> None:
        self._fields = getattr(self, "_fields", [])
        self._fields.append((name, decl, why))

    def requirements(self) -> None:
        needs = self.lower.needs
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
            refuse_bad_fields(self.policy, fields, members)
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
        if needs.neon_include is not None:
            cf = self.tree[T.ARM_C]
            if not cf.has_include("asm/neon.h"):
                why = self._origin_of(needs.neon_include, Origin(self.policy.path, 0, "kernel_neon_begin()"))
                at = cf.last_include("asm/") + 1
                self._edit(T.ARM_C, at, at, [Line("#include <asm/neon.h>", why)], why, order=-1)
        functions = {"load": "kvm_arch_vcpu_load", "put": "kvm_arch_vcpu_put", "enter": RUN, "exit": RUN}
        for hook_name, wanted in sorted(needs.locals.items()):
            if hook_name in functions:
                self.declare_locals(T.ARM_C, functions[hook_name], wanted)
