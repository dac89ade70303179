"""Sites of the 6.x layouts (v6.1, v6.12): KVM's FPSIMD hooks are the
functions of arch/arm64/kvm/fpsimd.c, called from the run loop in
arch/arm64/kvm/arm.c. Every hook's code replaces the body of its function
(keeping the guards the policy does not speak of: BUG_ON/WARN_ON and the
`system_supports_fpsimd()` early return). The hyp trap handler and the
trap decision also cover SVE, SME, FPMR, pKVM and AArch32 state, so they
stay as they are and the policy must say what they do."""

from __future__ import annotations

from dataclasses import replace

from fpdsl.diagnostics import Diagnostic, FpdslError
from fpdsl.emit import targets as T
from fpdsl.emit.anchors import Site
from fpdsl.emit.ccode import same_code
from fpdsl.emit.edits import Line, Origin
from fpdsl.emit.merge import merge
from fpdsl.emit.needs6 import TreeNeeds
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
# 6.12 before the 2025 fix: the ownership enum as two flags, and the hyp
# saves the host's registers first when the host owns them.
TRAP_DECISION_HOST_SAVE = ("if", ("not", ("flag", "GUEST_OWNED")), (("call", "arm_fp_trap", ()),), ())
SAVE_HOST = ("if", ("flag", "HOST_OWNED"), (("call", "fpsimd_save_state", ("task",)),), ())
TRAP_HANDLER_HOST_SAVE = (
    ("call", "disarm_fp_trap", ()),
    SAVE_HOST,
    ("call", "fpsimd_load_state", ("guest",)),
    ("assign", "HOST_OWNED", False),
    ("assign", "GUEST_OWNED", True),
)
# A pair of writes of the two flags is one store to host_data fp_owner.
OWNERSHIP = {(True, False): "fp_owner_host", (False, True): "fp_owner_guest", (False, False): "fp_owner_free"}


class Sites6(SiteBuilder):
    def __init__(self, policy, target, tree) -> None:
        super().__init__(policy, target, tree)
        self.host_save = False  # the trap hook saves the host's state (6.12 before the 2025 fix)
        self.needs = TreeNeeds(self)

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
        host_save = self.target.name == "v6.12" and trap is not None and shape(trap.body) == TRAP_HANDLER_HOST_SAVE
        self.host_save = host_save
        if trap is None or (shape(trap.body) != TRAP_HANDLER and not host_save):
            self._refuse(
                trap or self._any_hook(),
                "the 6.x trap handler kvm_hyp_handle_fpsimd() lifts the trap, loads the guest's state and "
                "marks it guest-owned (before the 2025 fix, 6.12's first saved the host's registers when the "
                "host owned them); fpdsl keeps it (it also restores SVE, FPMR and AArch32 state), so the "
                "trap hook must say exactly that",
                "hook trap { disarm_fp_trap()  fpsimd_load_state(guest)  FP_ENABLED = true }; on v6.12 also "
                "hook trap { disarm_fp_trap()  if HOST_OWNED { fpsimd_save_state(task) }  "
                "fpsimd_load_state(guest)  HOST_OWNED = false  GUEST_OWNED = true }",
            )
        decision = TRAP_DECISION_HOST_SAVE if host_save else TRAP_DECISION
        flag = "GUEST_OWNED" if host_save else "FP_ENABLED"
        enter = self._hook("enter")
        if enter is None or not enter.body or shape(enter.body[-1]) != decision:
            self._refuse(
                enter or self._any_hook(),
                "in 6.x the hyp traps FP/SIMD exactly when the guest does not own the registers; "
                "the enter hook must end with that decision",
                f"end the enter hook with: if !{flag} {{ arm_fp_trap() }}",
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
        decls, guards, stmts = self._parts(function)
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
            # The comment right above the first statement is its own (a merge
            # may take it away with it).
            first = cf.with_leading_comment(stmts[0]).start
            stmt_site = Site(first, stmts[-1].end_point[0] + 1, "\t")
        else:
            line = body.end_point[0]
            stmt_site = Site(line, line, "\t")
        return decl_site, stmt_site

    def _parts(self, function: str) -> tuple[list, list, list]:
        """A kvm/fpsimd.c function's local declarations, leading guards and
        the statements after them (comments left out)."""
        cf = self.tree[T.KVM_FPSIMD_C]
        body = cf.function(function).child_by_field_name("body")
        children = [c for c in body.named_children if c.type != "comment"]
        stmts = [c for c in children if c.type != "declaration"]
        lead = 0
        while lead < len(stmts) and self._guard(cf, stmts[lead]):
            lead += 1
        return [c for c in children if c.type == "declaration"], stmts[:lead], stmts[lead:]

    def _unchecked(self, body: tuple, function: str) -> tuple:
        """The body without its leading assertions that the function's guards
        already make: the guards stay where they are (they are not the
        hook's site), so the assertion would be written twice."""
        cf = self.tree[T.KVM_FPSIMD_C]
        guards = {"".join(cf.text[g.start_byte : g.end_byte].split()) for g in self._parts(function)[1]}
        while body and isinstance(body[0], ast.Assertion):
            text = f"{body[0].macro}({self.lower.expr(body[0].cond, 'host')});"
            if "".join(text.split()) not in guards:
                break
            doc, body = body[0].doc, body[1:]
            if body and doc:  # its comment speaks of the hook: it stays
                body = (replace(body[0], doc=doc + body[0].doc), *body[1:])
        return body

    def _guard(self, cf, node) -> bool:
        text = cf.lines[node.start_point[0]].strip()
        if node.type == "expression_statement" and text.split("(")[0] in GUARDS:
            return True
        return (
            node.type == "if_statement"
            and "system_supports_fpsimd()" in text
            and "return" in cf.text[node.start_byte : node.end_byte].replace("\n", " ")
        )

    def hook(self, name: str, whole: bool = True) -> None:
        """The hook's code in its kvm/fpsimd.c function: `whole`, the body
        replaced; otherwise the policy's changes to the tree's code merged
        in statement by statement, the tree's comments staying with the
        statements they speak of (and going with the ones it removes)."""
        if name == "softirq":
            return
        if name == "trap":
            if self.host_save:
                save = self._hook("trap").body[1]
                self.needs.hyp_host_save(self._origin_of(save.then[0].span, self._why("trap")))
            return
        why = self._why(name)
        hook = self._hook(name)
        body = hook.body if hook else ()
        if name == "enter":
            body = body[:-1]  # the trap decision stays in the hyp
        if self.target.name == "v6.12":
            body = join_ownership(body)
        after: tuple = ()
        if name == "exit":
            split = [i for i, s in enumerate(body) if isinstance(s, ast.Call) and s.name == "local_irq_enable"]
            if hook is not None and len(split) != 1:
                self._refuse(hook, "the exit hook must call local_irq_enable() exactly once, at its top level", None)
            body, after = (body[: split[0]], body[split[0] + 1 :]) if split else ((), ())
        decl_site, site = self._body_site(FUNCTIONS[name])
        body = self._unchecked(body, FUNCTIONS[name])
        lines = self._render(name, body, "host", "\t") if whole else self._render_body(name, body)
        wanted = self.lower.needs.locals.pop(name, {})
        decls = [Line(f"\t{decl}", self._origin_of(span, why)) for decl, span in wanted.items()]
        if decls:
            decls.append(Line("", decls[0].origin))
        cf = self.tree[T.KVM_FPSIMD_C]
        have = [Line(t, why) for t in cf.lines[decl_site.start : decl_site.end] if t.strip()]
        if whole or not have:
            self._edit(T.KVM_FPSIMD_C, decl_site.start, decl_site.end, decls, why, order=-1)
        else:
            self.edits += merge(T.KVM_FPSIMD_C, cf.lines, decl_site.start, decl_site.end, have, decls[:-1])
        if not whole and same_code(cf.lines[site.start : site.end], (line.text for line in lines)):
            pass  # the tree's code already (braces and comments aside)
        elif whole or site.start == site.end:
            self._edit(T.KVM_FPSIMD_C, site.start, site.end, lines, why)
        else:
            base = [Line(t, why) for t in cf.lines[site.start : site.end]]
            self.edits += merge(T.KVM_FPSIMD_C, cf.lines, site.start, site.end, base, lines, drop_comments=True)
        self._requirements(body)
        if after:
            self._after_irq_enable(hook, after, why)

    def _render_body(self, name: str, stmts: tuple) -> list[Line]:
        """A hook's statements without the hook's own comment: the function
        is the hook, and a merge puts code between the tree's statements."""
        hook = self._hook(name)
        if hook is None:
            return []
        return self.lower.body(hook, stmts, "host", "\t", self.sources.get(hook.policy, self.policy.policy.source))

    def _requirements(self, body: tuple) -> None:
        """Definitions the hook's code uses that the tree may lack."""
        flags: dict = {}
        for stmt in ast.walk_stmts(body):
            if isinstance(stmt, ast.Call) and stmt.name == "fpsimd_kvm_prepare":
                self.needs.kvm_prepare(self._origin_of(stmt.span, self._why("load")))
            if isinstance(stmt, ast.Assign):
                flags.setdefault(stmt.flag, self._origin_of(stmt.span, self._why("load")))
        if self.target.name == "v6.12" and flags:
            declared = {f.name: f for f in self.policy.flags}
            wanted = {}
            for name, origin in flags.items():
                flag = declared.get(name)
                owner = next((p for p in self.policy.chain if flag in p.flags), None) if flag else None
                path = owner.source.path if owner else origin.path
                wanted[name] = Origin(path, flag.span.line if flag else origin.line, f"flag {name}")
            self.needs.vcpu_flags(wanted)

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


def join_ownership(stmts: tuple) -> tuple:
    """Each pair of adjacent writes of HOST_OWNED and GUEST_OWNED as one call
    fp_owner_host/_guest/_free (one store to the per-CPU enum); inside if
    statements too."""
    out: list = []
    i = 0
    while i < len(stmts):
        stmt = stmts[i]
        nxt = stmts[i + 1] if i + 1 < len(stmts) else None
        pair = (
            isinstance(stmt, ast.Assign)
            and isinstance(nxt, ast.Assign)
            and {stmt.flag, nxt.flag} == {"HOST_OWNED", "GUEST_OWNED"}
            and not nxt.doc
        )
        if pair:
            values = {stmt.flag: stmt.value, nxt.flag: nxt.value}
            joined = OWNERSHIP.get((values["HOST_OWNED"], values["GUEST_OWNED"]))
            if joined is not None:
                out.append(ast.Call(joined, (), stmt.span, stmt.doc))
                i += 2
                continue
        if isinstance(stmt, ast.If):
            stmt = replace(stmt, then=join_ownership(stmt.then), orelse=join_ownership(stmt.orelse))
        out.append(stmt)
        i += 1
    return tuple(out)
