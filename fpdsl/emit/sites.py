"""Site builders: where a target puts each hook, and the edits that makes.
The base class holds what all targets share; each layout subclasses it."""

from __future__ import annotations

from pathlib import Path

from fpdsl.diagnostics import UsageError
from fpdsl.emit import targets as T
from fpdsl.emit.anchors import AnchorError, CFile
from fpdsl.emit.codegen import Lowering, environment
from fpdsl.emit.edits import Edit, Line, Origin
from fpdsl.fsutil import read_bounded
from fpdsl.lang import ast
from fpdsl.lang.loader import ResolvedPolicy

RUN = "kvm_arch_vcpu_ioctl_run"


class Tree:
    """The kernel files a plan reads, parsed once each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, CFile] = {}

    def __getitem__(self, rel: str) -> CFile:
        if rel not in self._files:
            path = self.root / rel
            if not path.exists() and not path.is_symlink():
                raise AnchorError(f"{rel}: no such file in the tree {self.root}")
            # Bounded, and only regular files: a FIFO would block, a device never ends.
            data = read_bounded(path, T.MAX_SOURCE_BYTES, what=f"tree file {rel}")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"{rel}: not UTF-8 text") from None
            self._files[rel] = CFile(rel, text)
        return self._files[rel]


class SiteBuilder:
    """What every target's site builder shares: the policy, the tree, the
    lowering, and the edits collected so far."""

    def __init__(self, policy: ResolvedPolicy, target: T.Target, tree: Tree) -> None:
        self.policy, self.target, self.tree = policy, target, tree
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
        self.lower._hook = hook  # the hook's own comment comes before its body
        lines = self.lower.comment(hook.doc, indent, hook.span.line - len(hook.doc)) if hook.doc else []
        return lines + self.lower.body(hook, stmts, context, indent, src)

    def _edit(self, rel: str, start: int, end: int, lines: list[Line], why: Origin, order: int = 0) -> None:
        self.edits.append(Edit(rel, start, end, lines, why, order))

    def _delete_statement(self, rel: str, node, why: Origin) -> None:
        cf = self.tree[rel]
        site = cf.with_leading_comment(node)
        end = site.end
        # Take a blank line with it when the statement stood alone.
        # (A block's first statement takes the blank line after it too:
        # no blank line right after an opening brace.)
        if site.start > 0 and cf.lines[site.start - 1].strip() in ("", "{") and cf.lines[end].strip() == "":
            end += 1
        self._edit(rel, site.start, end, [], why)

    def _origin_of(self, span, fallback: Origin) -> Origin:
        # The span belongs to whichever hook used it; find that hook's file.
        for hook in self.policy.hooks.values():
            if hook.span.line <= span.line <= hook.span.end_line:
                return Origin(hook.policy, span.line, fallback.why)
        return fallback

    def declare_locals(self, rel: str, function: str, wanted: dict) -> None:
        """Declare the locals a hook's code needs at the top of `function`,
        after its own declarations."""
        cf = self.tree[rel]
        line, had = cf.declarations_end(function)
        rows = []
        for decl, span in wanted.items():
            why = self._origin_of(span, Origin(self.policy.path, span.line, "local variable"))
            rows.append(Line(f"\t{decl}", why))
        if not had:
            rows.append(Line("", rows[0].origin))
        self._edit(rel, line, line, rows, rows[0].origin, order=-1)

    def _entry(self):
        """The run loop's guest_enter_irqoff() call (the 2018 layouts' arm.c)."""
        return self.tree[T.ARM_C].call(RUN, "guest_enter_irqoff")

    def _softirq_into_kernel_neon_begin(self) -> None:
        """The softirq hook at the top of kernel_neon_begin() (arch/arm64/kernel/fpsimd.c)."""
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
