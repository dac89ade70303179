"""The host side of the model: register save/restore, the per-CPU binding,
thread flags, interrupt/softirq/preemption state, kernel-mode NEON, and the
primitives KVM's hooks are made of. Behaviour follows arch/arm64/kernel/
fpsimd.c of the configured kernel (v4.16, or v4.18 where the host machinery
gained fpsimd_save()/fpsimd_bind_state_to_cpu() and fpsimd_flush_cpu_state()
started setting TIF_FOREIGN_FPSTATE)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fpdsl.model.records import Op, Violation
from fpdsl.model.state import World
from fpdsl.model.values import GUEST, KERNEL, VCPU_THREAD, ZERO, Value, kernel_owner, owner_name, show


@dataclass(frozen=True)
class ModelConfig:
    kernel: str = "v4.16"  # host machinery version: v4.16 or v4.18
    cpus: int = 1
    tasks: int = 1  # competing tasks besides the vcpu thread
    runs: int | None = 1  # KVM_RUN calls (None: unbounded, not counted in the state)
    exits: int | None = 2  # guest exits per KVM_RUN (None: unbounded, not counted)
    sve: bool = True  # system_supports_sve()
    guest_sve: bool = False  # 6.x: vcpu_has_sve(): the guest's state has SVE bits
    symmetry: bool = True
    dead_values: bool = False  # the explorer may forget contents nothing can read (fpdsl.model.canon.Forget)

    def task_names(self) -> list[str]:
        return [VCPU_THREAD] + [f"B{i + 1}" for i in range(self.tasks)]


class Hooks(Protocol):
    """KVM's side, supplied by a policy: run hook `name` on machine `m`."""

    def has(self, name: str) -> bool: ...

    def run(self, name: str, m: Machine) -> None: ...


class Machine:
    """A world plus the operations of one step, executing on one CPU."""

    def __init__(self, config: ModelConfig, hooks: Hooks, world: World, record: bool = True) -> None:
        self.config = config
        self.hooks = hooks
        self.world = world
        self.record = record
        self.ops: list[Op] = []
        self.violations: list[Violation] = []
        self.cpu = 0
        self.c = world.cpus[0]  # the Cpu of self.cpu (an attribute: read on every operation)

    def on_cpu(self, cpu: int) -> None:
        """Execute on CPU `cpu` from here on."""
        self.cpu = cpu
        self.c = self.world.cpus[cpu]

    # ---- recording ------------------------------------------------------

    def op(self, kind: str, target: str, value: Value | None, origin: Any) -> None:
        if self.record:
            self.ops.append(Op(kind, self.cpu, target, value, origin))

    def violate(self, prop: str, message: str, origin: Any, subject: str = "") -> None:
        self.violations.append(Violation(prop, message, origin, subject))

    # ---- helpers ----------------------------------------------------------

    def current(self):
        name = self.c.curr
        return None if name is None else self.world.tasks[name]

    def vcpu_thread(self):
        return self.world.tasks[VCPU_THREAD]

    def _storage_owner(self, target: str) -> str | None:
        if target == "guest":
            return GUEST
        if target.startswith("task:"):
            return target[5:]
        if target.startswith("kstate:"):
            return kernel_owner(target[7:])
        return None  # kvm_host_cpu_state: KVM's scratch copy, no owner

    def _check_store(self, target: str, value: Value, origin: Any, part: str = "FPSIMD") -> None:
        owner = self._storage_owner(target)
        if owner is None or value[0] in (owner, "0"):
            return
        self.violate(
            "leaked-state",
            f"{show(value)} ({owner_name(value[0])}'s {part} data) saved into {owner_name(owner)}'s storage ({target})",
            origin,
            owner,
        )

    def check_read(self, who: str, value: Value, origin: Any, part: str = "FPSIMD registers") -> None:
        """`who` reads `value`; it must be its own last write."""
        w = self.world
        if value[0] == who:
            if not w.is_current(value):
                self.violate(
                    "lost-state",
                    f"{owner_name(who)} reads {show(value)} from the {part}, but its last write was "
                    f"{who}#{w.versions.get(who, 0)}",
                    origin,
                    who,
                )
        elif value[0] == "0":
            self.violate(
                "lost-state",
                f"{owner_name(who)} reads zeroes from the {part}; its last write was {who}#{w.versions.get(who, 0)}",
                origin,
                who,
            )
        else:
            last = f"{who}#{w.versions.get(who, 0)}"
            self.violate(
                "lost-state",
                f"{owner_name(who)} reads {show(value)} from the {part}, not its last write {last}",
                origin,
                who,
            )
            self.violate(
                "leaked-state",
                f"{owner_name(who)} reads {show(value)} from the {part}: {owner_name(value[0])}'s data",
                origin,
                who,
            )
        self.op("read", who, value, origin)

    # ---- register save / restore ------------------------------------------

    def _storage_get(self, target: str) -> Value:
        w = self.world
        if target == "guest":
            return w.vcpu.saved_v
        if target.startswith("host:"):
            return w.cpus[int(target[5:])].host
        if target.startswith("kstate:"):
            return w.tasks[target[7:]].saved_k
        return w.tasks[target[5:]].saved_v

    def save_regs(self, target: str, origin: Any, with_sve: bool = False) -> None:
        """Store the registers into a saved state (FPSIMD part; SVE high bits
        too for a task with TIF_SVE)."""
        c = self.c
        self._check_store(target, c.v, origin)
        w = self.world
        if target == "guest":
            w.vcpu.saved_v = c.v
            if with_sve:
                self._check_store(target, c.z, origin, "SVE")
                w.vcpu.saved_z = c.z
        elif target.startswith("host:"):
            w.cpus[int(target[5:])].host = c.v
        elif target.startswith("kstate:"):  # 6.12: kernel_fpsimd_state, FPSIMD only
            w.tasks[target[7:]].saved_k = c.v
        else:
            task = w.tasks[target[5:]]
            task.saved_v = c.v
            if with_sve:
                self._check_store(target, c.z, origin, "SVE")
                task.saved_z = c.z
        self.op("save", target, c.v, origin)

    def load_regs(self, target: str, origin: Any, with_sve: bool = False) -> None:
        """Load a saved state; an FPSIMD-only load zeroes the SVE high bits."""
        c = self.c
        c.v = self._storage_get(target)
        if not with_sve:
            c.z = ZERO
        elif target == "guest":
            c.z = self.world.vcpu.saved_z
        else:
            c.z = self.world.tasks[target[5:]].saved_z
        self.op("restore", target, c.v, origin)

    def save_state(self, target: str, origin: Any) -> None:
        """A policy's fpsimd_save_state(): the FPSIMD registers (2018 KVM)."""
        self.save_regs(target, origin)

    def load_state(self, target: str, origin: Any) -> None:
        """A policy's fpsimd_load_state()."""
        self.load_regs(target, origin)

    def guest_uses_fp(self) -> None:
        """The guest reads its registers and writes new FPSIMD values."""
        c = self.c
        self.check_read(GUEST, c.v, "the guest")
        c.v = self.world.fresh(GUEST)
        c.z = ZERO
        self.op("write", GUEST, c.v, "the guest")

    def guest_exited(self) -> None:
        """What the world switch back to the host does to host state (2018: nothing modelled)."""

    def storage(self, name: str) -> str:
        """A policy's storage name (guest/host/task) as a target."""
        if name == "host":
            return f"host:{self.cpu}"
        if name == "task":
            return f"task:{VCPU_THREAD}"
        return "guest"

    # ---- host fpsimd machinery: each kernel version's module (fpdsl.model.hosts)

    def task_save(self, task, origin: Any) -> None:
        raise NotImplementedError

    def fpsimd_save(self, origin: Any) -> None:
        raise NotImplementedError

    def flush_cpu_state(self, origin: Any) -> None:
        raise NotImplementedError

    def bind(self, target: str, origin: Any) -> None:
        raise NotImplementedError

    def sve_flush_cpu_state(self, origin: Any) -> None:
        raise NotImplementedError

    # 6.12: task-context kernel-mode NEON is preemptible (TIF_KERNEL_FPSTATE):
    # a competing task in a syscall may begin, use and end it as events.
    task_kernel_neon = False

    def restore_current_state(self, origin: Any = "fpsimd_restore_current_state()") -> None:
        raise NotImplementedError

    def thread_switch(self, nxt: str | None, origin: Any = "fpsimd_thread_switch()") -> None:
        raise NotImplementedError

    def may_use_simd(self) -> bool:
        raise NotImplementedError

    def kernel_neon_begin(self, origin: Any) -> None:
        raise NotImplementedError

    def check_may_use_simd(self, origin: Any) -> None:
        """kernel_neon_begin()'s BUG_ON(!may_use_simd())."""
        if not self.may_use_simd():
            self.violate("kernel-rules", "kernel_neon_begin() called while may_use_simd() is false (BUG_ON)", origin)

    def kernel_neon_end(self, origin: Any) -> None:
        c = self.c
        if not c.neon_busy:
            self.violate("kernel-rules", "kernel_neon_end() without a matching kernel_neon_begin() (WARN_ON)", origin)
        c.neon_busy = False
        self.release_neon_context(origin)

    def release_neon_context(self, origin: Any) -> None:
        """What kernel_neon_end() gives back besides the busy flag (2018: preemption)."""
        self.preempt_enable(origin)

    # ---- user space and syscalls, as each version's entry code has them ----

    def user_fp(self, task) -> None:
        raise NotImplementedError

    @classmethod
    def user_sve_enabled(cls, config: ModelConfig, world: World, task) -> bool:
        """Whether a `user_sve` event exists for `task` (running on its CPU)."""
        raise NotImplementedError

    def user_sve(self, task) -> None:
        raise NotImplementedError

    def syscall(self, task) -> None:
        raise NotImplementedError

    def syscall_exit(self, task) -> None:
        """The end of a syscall, after the return-to-user work (6.12: fpsimd_syscall_exit())."""

    def use_kernel_neon(self, origin: Any) -> None:
        """A kernel-mode NEON user (crypto, checksum) clobbers the registers."""
        c = self.c
        c.v = self.world.fresh(KERNEL)
        c.z = ZERO
        self.op("clobber", "kernel-mode NEON", c.v, origin)

    # ---- interrupts, softirqs, preemption -------------------------------

    def preempt_disable(self, origin: Any) -> None:
        self.c.preempt += 1

    def preempt_enable(self, origin: Any) -> None:
        c = self.c
        if c.preempt == 0:
            self.violate("kernel-rules", "preempt_enable() without a matching preempt_disable()", origin)
            return
        c.preempt -= 1

    def bh_disable(self, origin: Any) -> None:
        self.c.bh += 1

    def bh_enable(self, origin: Any) -> None:
        c = self.c
        if c.irq > 0:
            self.violate(
                "kernel-rules",
                "local_bh_enable() called with interrupts disabled (lockdep: softirqs would run with IRQs off)",
                origin,
            )
        if c.bh == 0:
            self.violate("kernel-rules", "local_bh_enable() without a matching local_bh_disable()", origin)
            return
        c.bh -= 1
        if c.bh == 0 and c.irq == 0 and c.softirq_pending and not c.in_softirq:
            self.run_softirqs(origin)

    def irq_disable(self, origin: Any) -> None:
        self.c.irq += 1

    def irq_enable(self, origin: Any) -> None:
        c = self.c
        if c.irq == 0:
            self.violate("kernel-rules", "interrupts enabled without being disabled", origin)
            return
        c.irq -= 1
        if c.irq == 0 and c.irq_pending:
            c.irq_pending = False
            self.take_interrupt(origin)

    def take_interrupt(self, origin: Any) -> None:
        """A hardirq raises a softirq that wants kernel-mode NEON; it runs at
        interrupt exit unless softirqs are masked or already running."""
        c = self.c
        self.op("irq", "hardirq", None, origin)
        c.softirq_pending = True
        if c.bh == 0 and not c.in_softirq:
            self.run_softirqs(origin)

    def run_softirqs(self, origin: Any) -> None:
        c = self.c
        while c.softirq_pending:
            c.softirq_pending = False
            c.in_softirq = True
            c.bh += 1
            where = "softirq"
            if self.may_use_simd():
                if self.world.vcpu.loaded == self.cpu and self.hooks.has("softirq"):
                    self.hooks.run("softirq", self)
                if self.may_use_simd():
                    self.kernel_neon_begin(where)
                    self.use_kernel_neon(where)
                    self.kernel_neon_end(where)
                    self.op("softirq_neon", "softirq", None, origin)
                else:
                    self.op("softirq_fallbacks", "softirq", None, origin)
            else:
                self.op("softirq_fallbacks", "softirq", None, origin)
            c.bh -= 1
            c.in_softirq = False
