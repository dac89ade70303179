"""Sites of the 6.x layouts (v6.1, v6.12): KVM's FPSIMD hooks are the
functions of arch/arm64/kvm/fpsimd.c, called from the run loop in
arch/arm64/kvm/arm.c. Every hook's code replaces the body of its function
(keeping the guards the policy does not speak of: BUG_ON/WARN_ON and the
`system_supports_fpsimd()` early return). The hyp trap handler and the
trap decision also cover SVE, SME, FPMR, pKVM and AArch32 state, so they
stay as they are and the policy must say what they do."""

from __future__ import annotations

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.emit import targets as T
from fpdsl.emit.anchors import Site
from fpdsl.emit.edits import Line
from fpdsl.emit.sites import RUN, SiteBuilder
from fpdsl.lang import ast

FUNCTIONS = {
    "load": "kvm_arch_vcpu_load_fp",
    "enter": "kvm_arch_vcpu_ctxflush_fp",
    "exit": "kvm_arch_vcpu_ctxsync_fp",
    "put": "kvm_arch_vcpu_put_fp",
}
GUARDS = ("BUG_ON", "WARN_ON", "WARN_ON_ONCE")

# What the 6.x hyp does, in the language: trap unless the guest owns the
# registers; on the trap, lift it, load the guest's state, own the registers.
TRAP_DECISION = ("if", ("not", ("flag", "FP_ENABLED")), (("call", "arm_fp_trap", ()),), ())
TRAP_HANDLER = (
    ("call", "disarm_fp_trap", ()),
    ("call", "fpsimd_load_state", ("guest",)),
    ("assign", "FP_ENABLED", True),
)


class Sites6(SiteBuilder):
    def check_fixed(self, shape) -> None:
        """Refuse a policy whose trap decision or trap handler is not the
        one the 6.x hyp implements."""
        trap = self._hook("trap")
        if any(f.name == "FP_HOST" for f in self.policy.flags):
            flag = next(f for f in self.policy.flags if f.name == "FP_HOST")
            owner = next(p for p in self.policy.chain if flag in p.flags)
            raise FpdslError(
                Diagnostic(
                    f"cannot emit for {self.target.name}: the 6.x hyp never saves host state, so there is no "
                    "FP_HOST: kvm_arch_vcpu_load_fp() saves and unbinds it (fpsimd_save_and_flush_cpu_state())",
                    flag.span,
                    owner.source,
                    f"policies/kvm_{self.target.name.replace('.', '_')}.fp is this design as {self.target.name} has it",
                )
            )
        if trap is None or shape(trap.body) != TRAP_HANDLER:
            self._refuse(
                trap or self._any_hook(),
                "the 6.x trap handler kvm_hyp_handle_fpsimd() lifts the trap, loads the guest's state and "
                "marks it guest-owned; fpdsl keeps it (it also restores SVE, FPMR and AArch32 state), so the "
                "trap hook must say exactly that",
                "hook trap { disarm_fp_trap()  fpsimd_load_state(guest)  FP_ENABLED = true }",
            )
        enter = self._hook("enter")
        if enter is None or not enter.body or shape(enter.body[-1]) != TRAP_DECISION:
            self._refuse(
                enter or self._any_hook(),
                "in 6.x the hyp traps FP/SIMD exactly when the guest does not own the registers; "
                "the enter hook must end with that decision",
                "end the enter hook with: if !FP_ENABLED { arm_fp_trap() }",
            )
        for name, hook in self.policy.hooks.items():
            if name in ("trap", "softirq") or hook is None:
                continue
            body = hook.body[:-1] if name == "enter" else hook.body
            for stmt in ast.walk_stmts(body):
                if isinstance(stmt, ast.Call) and stmt.name in ("arm_fp_trap", "disarm_fp_trap"):
                    self._refuse_at(stmt.span, hook, f"{stmt.name}() has no meaning in the 6.x {name} path")
        if self._hook("softirq") is not None:
            self._refuse(
                self._hook("softirq"),
                "6.x has no site for a softirq hook: kernel_neon_begin() saves whatever state is bound",
                None,
            )

    def _any_hook(self) -> ast.Hook:
        return next(iter(self.policy.hooks.values()))

    def _refuse(self, hook: ast.Hook, message: str, hint: str | None) -> None:
        raise FpdslError(
            Diagnostic(
                f"cannot emit for {self.target.name}: {message}",
                hook.name_span,
                self.sources.get(hook.policy, self.policy.policy.source),
                hint,
            )
        )

    def _refuse_at(self, span, hook: ast.Hook, message: str) -> None:
        raise FpdslError(
            Diagnostic(
                f"cannot emit for {self.target.name}: {message}",
                span,
                self.sources.get(hook.policy, self.policy.policy.source),
            )
        )

    # -- sites ---------------------------------------------------------------

    def _body_site(self, function: str) -> tuple[Site, Site]:
        """The local declarations of a kvm/fpsimd.c function, and its
        statements between the leading guards and any trailing WARN_ON."""
        cf = self.tree[T.KVM_FPSIMD_C]
        body = cf.function(function).child_by_field_name("body")
        children = [c for c in body.named_children if c.type != "comment"]
        decls = [c for c in children if c.type == "declaration"]
        stmts = [c for c in children if c.type != "declaration"]
        while stmts and self._guard(cf, stmts[0]):
            stmts = stmts[1:]
        while stmts and self._guard(cf, stmts[-1]):
            stmts = stmts[:-1]
        if decls:
            end = decls[-1].end_point[0] + 1
            end += cf.lines[end].strip() == ""  # the blank line after them
            decl_site = Site(decls[0].start_point[0], end, "\t")
        else:
            line = body.start_point[0] + 1
            decl_site = Site(line, line, "\t")
        if stmts:
            stmt_site = Site(stmts[0].start_point[0], stmts[-1].end_point[0] + 1, "\t")
        else:
            line = body.end_point[0]
            stmt_site = Site(line, line, "\t")
        return decl_site, stmt_site

    def _guard(self, cf, node) -> bool:
        text = cf.lines[node.start_point[0]].strip()
        if node.type == "expression_statement" and text.split("(")[0] in GUARDS:
            return True
        return (
            node.type == "if_statement"
            and "system_supports_fpsimd()" in text
            and "return" in cf.text[node.start_byte : node.end_byte].replace("\n", " ")
        )

    def hook(self, name: str) -> None:
        if name in ("trap", "softirq"):
            return
        why = self._why(name)
        hook = self._hook(name)
        body = hook.body if hook else ()
        if name == "enter":
            body = body[:-1]  # the trap decision stays in the hyp
        after: tuple = ()
        if name == "exit":
            split = [i for i, s in enumerate(body) if isinstance(s, ast.Call) and s.name == "local_irq_enable"]
            if hook is not None and len(split) != 1:
                self._refuse(hook, "the exit hook must call local_irq_enable() exactly once, at its top level", None)
            body, after = (body[: split[0]], body[split[0] + 1 :]) if split else ((), ())
        decl_site, site = self._body_site(FUNCTIONS[name])
        lines = self._render(name, body, "host", "\t")
        wanted = self.lower.needs.locals.pop(name, {})
        decls = [Line(f"\t{decl}", self._origin_of(span, why)) for decl, span in wanted.items()]
        if decls:
            decls.append(Line("", decls[0].origin))
        self._edit(T.KVM_FPSIMD_C, decl_site.start, decl_site.end, decls, why, order=-1)
        self._edit(T.KVM_FPSIMD_C, site.start, site.end, lines, why)
        if after:
            self._after_irq_enable(hook, after, why)

    def _after_irq_enable(self, hook: ast.Hook, after: tuple, why) -> None:
        cf = self.tree[T.ARM_C_6]
        sync = cf.call(RUN, "kvm_arch_vcpu_ctxsync_fp")
        irq_on = cf.call(RUN, "local_irq_enable", after=sync, first=True, sibling=True)
        site = cf.site(irq_on)
        lines = self.lower.body(hook, after, "host", site.indent, self.sources.get(hook.policy))
        if self.lower.needs.locals.get("exit"):
            self._refuse(hook, "code after local_irq_enable() in the run loop cannot declare locals", None)
        self._edit(T.ARM_C_6, site.end, site.end, [Line("", why), *lines], why)
        if self.lower.needs.neon_include is not None and not cf.has_include("asm/neon.h"):
            at = cf.last_include("asm/") + 1
            self._edit(T.ARM_C_6, at, at, [Line("#include <asm/neon.h>", why)], why, order=-1)
