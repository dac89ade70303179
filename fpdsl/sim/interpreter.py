"""Run a checked policy's hooks on the reference model. Hooks are compiled
once into Python closures; every primitive passes the policy line that
caused it to the model, so traces and costs point back at the source."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from fpdsl.lang import ast
from fpdsl.lang.liveness import trap_set_before_guest, written_first
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.model.machine import Machine
from fpdsl.model.values import VCPU_THREAD


class PolicyLine(NamedTuple):
    """The origin of an operation: a statement of a policy file."""

    path: str
    line: int
    column: int
    hook: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


Action = Callable[[Machine], None]
Test = Callable[[Machine], bool]


def _thread_flag(flag: str) -> str:
    return "foreign" if flag == "TIF_FOREIGN_FPSTATE" else "sve"


class PolicyHooks:
    """Implements the model's Hooks protocol for a resolved policy."""

    def __init__(self, resolved: ResolvedPolicy) -> None:
        self.resolved = resolved
        self.flag_index = resolved.flag_index()
        # Two compilations: with the "line" records traces show, and without
        # them for the explorer, which records nothing (a wrapper per
        # statement is a fifth of its time).
        self._compiled: dict[bool, dict[str, list[Action]]] = {True: {}, False: {}}
        # (primitive, argument) pairs any hook can call: what the explorer's
        # dead-value rules need to know about the policy.
        self.primitives: set[tuple[str, str | None]] = set()
        # Flags the load hook assigns before reading them: dead while the
        # vcpu is not loaded (load is the first hook to run after put).
        load = resolved.hooks.get("load")
        self.written_first_by_load: tuple[int, ...] = tuple(
            sorted(self.flag_index[f] for f in written_first(load)) if load is not None else ()
        )
        # Whether the guest's FP trap is set again before the guest runs
        # after a load: then its value is dead while the vcpu is unloaded.
        self.trap_set_before_guest = trap_set_before_guest(resolved.hooks, [f.name for f in resolved.flags])
        for name, hook in resolved.hooks.items():
            lines = _lines_of(hook, resolved)
            for traced in (True, False):
                self._compiled[traced][name] = [self._stmt(s, hook.name, hook.policy, lines, traced) for s in hook.body]

    def has(self, name: str) -> bool:
        return name in self._compiled[True]

    def run(self, name: str, m: Machine) -> None:
        for action in self._compiled[m.record][name]:
            action(m)

    # ---- compilation ----------------------------------------------------

    def _stmt(self, stmt: ast.Stmt, hook: str, path: str, lines: list[str], trace: bool) -> Action:
        text = lines[stmt.span.line - 1].strip() if 0 < stmt.span.line <= len(lines) else ""
        origin = PolicyLine(path, stmt.span.line, stmt.span.column, hook, text)
        action = self._compile(stmt, hook, path, lines, origin, trace)
        if not trace:
            return action

        def traced(m: Machine) -> None:
            if m.record:
                m.op("line", hook, None, origin)
            action(m)

        return traced

    def _compile(
        self, stmt: ast.Stmt, hook: str, path: str, lines: list[str], origin: PolicyLine, trace: bool
    ) -> Action:
        if isinstance(stmt, ast.Pass):
            return lambda m: None
        if isinstance(stmt, ast.Assign):
            index, value = self.flag_index[stmt.flag], stmt.value

            def assign(m: Machine) -> None:
                m.world.vcpu.flags[index] = value

            return assign
        if isinstance(stmt, ast.If):
            test = self._expr(stmt.cond)
            then = [self._stmt(s, hook, path, lines, trace) for s in stmt.then]
            orelse = [self._stmt(s, hook, path, lines, trace) for s in stmt.orelse]

            def branch(m: Machine) -> None:
                for action in then if test(m) else orelse:
                    action(m)

            return branch
        if isinstance(stmt, ast.Assertion):
            return _assertion(stmt.macro, self._expr(stmt.cond), origin)
        self.primitives.add((stmt.name, stmt.args[0].name if stmt.args else None))
        return _primitive(stmt, origin)

    def _expr(self, expr: ast.Expr) -> Test:
        if isinstance(expr, ast.BoolLit):
            value = expr.value
            return lambda m: value
        if isinstance(expr, ast.FlagRef):
            index = self.flag_index[expr.name]
            return lambda m: m.world.vcpu.flags[index]
        if isinstance(expr, ast.Not):
            inner = self._expr(expr.operand)
            return lambda m: not inner(m)
        if isinstance(expr, ast.BinOp):
            left, right = self._expr(expr.left), self._expr(expr.right)
            if expr.op == "&&":
                return lambda m: left(m) and right(m)
            return lambda m: left(m) or right(m)
        return _predicate(expr)


def _lines_of(hook: ast.Hook, resolved: ResolvedPolicy) -> list[str]:
    for policy in resolved.chain:
        if policy.source.path == hook.policy:
            return policy.source.text.splitlines()
    return []


def _predicate(call: ast.Call) -> Test:
    name = call.name
    if name == "local_softirq_pending":
        return lambda m: m.c.softirq_pending
    if name == "may_use_simd":
        return lambda m: m.may_use_simd()
    if name == "test_thread_flag":
        attr = _thread_flag(call.args[0].name)
        return lambda m: getattr(m.world.tasks[VCPU_THREAD], attr)
    if name == "fp_trap_armed":
        return lambda m: m.world.vcpu.trap_armed
    if name == "system_supports_sve":
        return lambda m: m.config.sve
    if name == "irqs_disabled":
        return lambda m: m.c.irq > 0
    if name == "kernel_neon_busy":
        return lambda m: m.c.neon_busy
    if name == "sve_user_enabled":
        return lambda m: m.c.zen
    if name == "vcpu_has_sve":
        return lambda m: m.config.guest_sve
    if name == "has_vhe":
        return lambda m: True  # the 6.x models are VHE (fpdsl.model.hosts.v6)
    if name in ("system_supports_sme", "sme_user_enabled", "sme_state_live"):
        return lambda m: False  # the 6.x models have no SME
    raise ValueError(f"unchecked predicate {name}")


def _assertion(macro: str, test: Test, origin: PolicyLine) -> Action:
    what = "crashes the kernel" if macro == "BUG_ON" else "warns"
    message = f"{origin.text or macro}: the condition holds, and {macro}() {what}"

    def check(m: Machine) -> None:
        if test(m):
            m.violate("kernel-rules", message, origin)

    return check


def _primitive(call: ast.Call, origin: PolicyLine) -> Action:
    name = call.name
    arg = call.args[0].name if call.args else None
    if name == "fpsimd_save_state":
        return lambda m: m.save_state(m.storage(arg), origin)
    if name == "fpsimd_load_state":
        return lambda m: m.load_state(m.storage(arg), origin)
    if name == "fpsimd_save":
        return lambda m: m.fpsimd_save(origin)
    if name == "fpsimd_bind_state_to_cpu":
        target = "guest" if arg == "guest" else f"task:{VCPU_THREAD}"
        return lambda m: m.bind(target, origin)
    if name == "fpsimd_flush_cpu_state":
        return lambda m: m.flush_cpu_state(origin)
    if name == "sve_flush_cpu_state":
        return lambda m: m.sve_flush_cpu_state(origin)
    if name in ("sme_user_enable", "sme_user_disable", "isb"):
        return lambda m: None  # no SME in the model; system register writes take effect at once
    if name in ("fpsimd_save_and_flush_cpu_state", "fpsimd_kvm_prepare", "sve_user_enable", "sve_user_disable"):
        return lambda m: getattr(m, name)(origin)
    if name in ("set_thread_flag", "clear_thread_flag"):
        attr, value = _thread_flag(arg), name == "set_thread_flag"

        def thread_flag(m: Machine) -> None:
            setattr(m.world.tasks[VCPU_THREAD], attr, value)
            m.op("flag", f"{'set' if value else 'clear'} {arg}", None, origin)

        return thread_flag
    if name in ("arm_fp_trap", "disarm_fp_trap"):
        armed = name == "arm_fp_trap"

        def trap(m: Machine) -> None:
            m.world.vcpu.trap_armed = armed
            m.op("arm" if armed else "disarm", "guest FP trap", None, origin)

        return trap
    if name in ("set_kernel_neon_busy", "clear_kernel_neon_busy"):
        busy = name == "set_kernel_neon_busy"

        def neon_busy(m: Machine) -> None:
            m.c.neon_busy = busy

        return neon_busy
    simple = {
        "local_bh_disable": "bh_disable",
        "local_bh_enable": "bh_enable",
        "preempt_disable": "preempt_disable",
        "preempt_enable": "preempt_enable",
        "local_irq_disable": "irq_disable",
        "local_irq_enable": "irq_enable",
        "local_irq_save": "irq_disable",
        "local_irq_restore": "irq_enable",
        "kernel_neon_begin": "kernel_neon_begin",
        "kernel_neon_end": "kernel_neon_end",
    }
    method = simple[name]  # looked up on the machine: each kernel version has its own
    return lambda m: getattr(m, method)(origin)
