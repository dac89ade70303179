"""Turn a checked policy into edits of a kernel tree: compare each hook with
the baseline policy the tree already implements, and for each hook that
differs put the policy's code at the hook's site and take the baseline's
code out. Nothing here writes files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fpdsl.diagnostics import Diagnostic, FpdslError, UsageError
from fpdsl.emit import targets as T
from fpdsl.emit.anchors import AnchorError, CFile
from fpdsl.emit.codegen import TRAP_PRIMITIVES, Lowering, environment
from fpdsl.emit.edits import Edit, FileChange, Line, Origin, OverlapError, apply_edits
from fpdsl.lang import ast
from fpdsl.lang.checker import check_or_raise
from fpdsl.lang.loader import ResolvedPolicy, load_policy
from fpdsl.lang.vocabulary import HOOKS, KERNEL_VERSIONS, PRIMITIVES
from fpdsl.resources import resource_dir

RUN = "kvm_arch_vcpu_ioctl_run"


@dataclass
class Emission:
    policy: ResolvedPolicy
    target: T.Target
    baseline: str
    hooks: list[str]  # the hooks whose code changed, in HOOKS order
    changes: list[FileChange] = field(default_factory=list)
    wiring: bool = False


def baseline_policy(target: T.Target) -> ResolvedPolicy:
    return check_or_raise(load_policy(resource_dir("policies") / f"{target.baseline}.fp"))


def shape(node):
    """A hook body without positions and comments, for comparison."""
    if isinstance(node, tuple):
        return tuple(shape(n) for n in node)
    if isinstance(node, ast.Call):
        return ("call", node.name, tuple(a.name for a in node.args))
    if isinstance(node, ast.Assign):
        return ("assign", node.flag, node.value)
    if isinstance(node, ast.Pass):
        return ("pass",)
    if isinstance(node, ast.If):
        return ("if", shape(node.cond), shape(node.then), shape(node.orelse))
    if isinstance(node, ast.BoolLit):
        return ("bool", node.value)
    if isinstance(node, ast.FlagRef):
        return ("flag", node.name)
    if isinstance(node, ast.Not):
        return ("not", shape(node.operand))
    if isinstance(node, ast.BinOp):
        return (node.op, shape(node.left), shape(node.right))
    raise TypeError(node)


def _body(policy: ResolvedPolicy, hook: str) -> tuple:
    h = policy.hooks.get(hook)
    return shape(h.body) if h else ()


def _uses(hook: ast.Hook | None, names: tuple[str, ...]) -> bool:
    if hook is None:
        return False
    for stmt in ast.walk_stmts(hook.body):
        if isinstance(stmt, ast.Call) and stmt.name in names:
            return True
        if isinstance(stmt, ast.If):
            if any(isinstance(e, ast.Call) and e.name in names for e in ast.walk_expr(stmt.cond)):
                return True
    return False


class Tree:
    """The kernel files a plan reads, parsed once each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, CFile] = {}

    def __getitem__(self, rel: str) -> CFile:
        if rel not in self._files:
            path = self.root / rel
            if not path.is_file():
                raise AnchorError(f"{rel}: no such file in the tree {self.root}")
            try:
                text = path.read_bytes().decode("utf-8")
            except OSError as exc:
                raise UsageError(f"{rel}: cannot read: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise UsageError(f"{rel}: not UTF-8 text") from None
            self._files[rel] = CFile(rel, text)
        return self._files[rel]


def plan(policy: ResolvedPolicy, tree_dir: Path, target: T.Target) -> Emission:
    base = baseline_policy(target)
    _check_versions(policy, target)
    changed = [h for h in HOOKS if _body(policy, h) != _body(base, h)]
    uses_trap = any(_uses(policy.hooks.get(h), TRAP_PRIMITIVES) for h in changed)
    wiring = uses_trap or "enter" in changed or "trap" in changed
    if wiring:
        # The trap state is carried by one vcpu field: whoever arms it, the
        # entry path and the trap handler must both speak of it.
        changed = [h for h in HOOKS if h in changed or h in ("enter", "trap")]
        if "trap" not in policy.hooks:
            hook = policy.hooks.get("enter") or next(iter(policy.hooks.values()))
            raise FpdslError(
                Diagnostic(
                    "the policy traps the guest's FP/SIMD accesses but has no trap hook to handle them",
                    hook.name_span,
                    policy.policy.source,
                    "add 'hook trap { disarm_fp_trap() ... }'",
                )
            )
    emission = Emission(policy, target, base.name, changed, wiring=wiring)
    if not changed:
        return emission
    tree = Tree(tree_dir)
    builder = _Builder(policy, base, target, tree)
    for hook in changed:
        builder.hook(hook)
    if wiring:
        builder.trap_wiring()
    builder.requirements()
    by_file: dict[str, list[Edit]] = {}
    for e in builder.edits:
        by_file.setdefault(e.path, []).append(e)
    for rel in sorted(by_file):
        try:
            emission.changes.append(apply_edits(rel, tree[rel].text, by_file[rel]))
        except OverlapError as exc:
            raise AnchorError(str(exc)) from None
    return emission


def _check_versions(policy: ResolvedPolicy, target: T.Target) -> None:
    rank = KERNEL_VERSIONS.index(target.kernel)
    for hook in policy.hooks.values():
        for stmt in ast.walk_stmts(hook.body):
            if not isinstance(stmt, ast.Call) or stmt.name not in PRIMITIVES:
                continue
            prim = PRIMITIVES[stmt.name]
            since = KERNEL_VERSIONS.index(prim.since) if prim.since else 0
            until = KERNEL_VERSIONS.index(prim.until) if prim.until else len(KERNEL_VERSIONS)
            if not since <= rank <= until:
                when = f"since {prim.since}" if prim.since else f"until {prim.until}"
                src = load_policy(hook.policy).policy.source if hook.policy != policy.path else policy.policy.source
                raise FpdslError(
                    Diagnostic(
                        f"{stmt.name}() exists {when}: it has no meaning for target {target.name}",
                        stmt.span,
                        src,
                        f"emit this policy for a {prim.since or prim.until} tree, or write a variant for {target.name}",
                    )
                )


class _Builder:
    def __init__(self, policy: ResolvedPolicy, base: ResolvedPolicy, target: T.Target, tree: Tree) -> None:
        self.policy, self.base, self.target, self.tree = policy, base, target, tree
        self.lower = Lowering(target.name, policy.path, environment())
        self.edits: list[Edit] = []
        self.sources = {p.source.path: p.source for p in policy.chain}

    # -- helpers -------------------------------------------------------------

    def _hook(self, name: str) -> ast.Hook | None:
        return self.policy.hooks.get(name)

    def _why(self, name: str) -> Origin:
        hook = self._hook(name)
        if hook is None:
            return Origin(self.policy.path, self.policy.policy.name_span.line, f"no {name} hook")
        return Origin(hook.policy, hook.span.line, f"hook {name}")

    def _render(self, name: str, stmts: tuple, context: str, indent: str) -> list[Line]:
        hook = self._hook(name)
        if hook is None:
            return []
        src = self.sources.get(hook.policy, self.policy.policy.source)
        lines = self.lower.comment(hook.doc, indent, hook.span.line - len(hook.doc)) if hook.doc else []
        return lines + self.lower.body(hook, stmts, context, indent, src)

    def _edit(self, rel: str, start: int, end: int, lines: list[Line], why: Origin, order: int = 0) -> None:
        self.edits.append(Edit(rel, start, end, lines, why, order))

    def _delete_statement(self, rel: str, node, why: Origin) -> None:
        cf = self.tree[rel]
        site = cf.with_leading_comment(node)
        end = site.end
        # Take a blank line with it when the statement stood alone.
        if site.start > 0 and cf.lines[site.start - 1].strip() == "" and cf.lines[end].strip() == "":
            end += 1
        self._edit(rel, site.start, end, [], why)

    # -- hooks ---------------------------------------------------------------

    def hook(self, name: str) -> None:
        getattr(self, f"_hook_{name}")()

    def _hook_load(self) -> None:
        why, cf = self._why("load"), self.tree[T.ARM_C]
        body = self._hook("load").body if self._hook("load") else ()
        if self.target.name == "v4.18":
            site = cf.site(cf.call("kvm_arch_vcpu_load", "kvm_arch_vcpu_load_fp"))
            self._edit(T.ARM_C, site.start, site.end, self._render("load", body, "host", site.indent), why)
            return
        site = cf.body_end("kvm_arch_vcpu_load")
        lines = self._render("load", body, "host", "\t")
        if lines:
            self._edit(T.ARM_C, site.start, site.start, [Line("", why), *lines], why)

    def _hook_put(self) -> None:
        why, cf = self._why("put"), self.tree[T.ARM_C]
        body = self._hook("put").body if self._hook("put") else ()
        if self.target.name == "v4.18":
            site = cf.site(cf.call("kvm_arch_vcpu_put", "kvm_arch_vcpu_put_fp"))
            self._edit(T.ARM_C, site.start, site.end, self._render("put", body, "host", site.indent), why)
            return
        site = cf.body_start("kvm_arch_vcpu_put")
        lines = self._render("put", body, "host", "\t")
        if lines:
            self._edit(T.ARM_C, site.start, site.start, [*lines, Line("", why)], why)

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
        inner = self._render("softirq", hook.body if hook else (), "host", "\t\t\t")
        if not inner:
            return
        wrap = self.lower.env.get_template("common/softirq_hook.c.j2").make_module()
        head, tail = (str(wrap.head()).strip("\n").split("\n"), str(wrap.tail()).strip("\n").split("\n"))
        lines = [Line(t, why) for t in head] + inner + [Line(t, why) for t in tail]
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
        for hook_name, span in sorted(needs.irq_flags.items()):
            function = {"load": "kvm_arch_vcpu_load", "put": "kvm_arch_vcpu_put", "enter": RUN, "exit": RUN}.get(
                hook_name
            )
            if function is None:
                continue
            cf = self.tree[T.ARM_C]
            why = self._origin_of(span, Origin(self.policy.path, span.line, "local_irq_save()"))
            line, had = cf.declarations_end(function)
            rows = [Line("\tunsigned long flags;", why)] + ([] if had else [Line("", why)])
            self._edit(T.ARM_C, line, line, rows, why, order=-1)

    def _origin_of(self, span, fallback: Origin) -> Origin:
        # The span belongs to whichever hook used it; find that hook's file.
        for hook in self.policy.hooks.values():
            if hook.span.line <= span.line <= hook.span.end_line:
                return Origin(hook.policy, span.line, fallback.why)
        return fallback
