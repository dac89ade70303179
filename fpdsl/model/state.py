"""The model's state: CPUs, tasks, the vcpu. Mutable for speed inside one
step; `key()` gives a hashable canonical form for the explorer, in which
stale versions collapse (only "is it its owner's last write?" matters for the
properties) and interchangeable CPUs and competing tasks are reduced."""

from __future__ import annotations

from fpdsl.model.canon import Forget, world_key
from fpdsl.model.values import ZERO, Value


class Cpu:
    __slots__ = (
        "v",  # FPSIMD registers V0-V31 (abstract value)
        "z",  # SVE high bits of Z0-Z31 (+P/FFR)
        "bound",  # fpsimd_last_state: None, "guest", a task name, or "k:" + a task name (6.12: its kernel_fpsimd_state)
        "bound_sve",  # fpsimd_last_state.sve_in_use (v4.16): the bound state had TIF_SVE
        "neon_busy",  # kernel_neon_busy
        "irq",  # interrupt-disable depth
        "bh",  # softirq-disable count
        "preempt",  # preempt count
        "softirq_pending",  # a softirq wanting kernel-mode NEON is pending
        "irq_pending",  # an interrupt arrived while interrupts were masked
        "curr",  # running task name or None (idle, a kernel thread)
        "host",  # kvm_host_cpu_state: KVM's per-CPU copy of the host registers
        "in_softirq",  # transient within a step
        "zen",  # 6.x: CPACR_EL1.ZEN_EL0EN, user SVE does not trap (per-CPU hardware state)
        "to_save",  # 6.x: fpsimd_last_state.to_save of the binding: "current", "fpsimd" or "sve"
    )

    def __init__(self) -> None:
        self.v: Value = ZERO
        self.z: Value = ZERO
        self.bound: str | None = None
        self.bound_sve = False
        self.neon_busy = False
        self.irq = 0
        self.bh = 0
        self.preempt = 0
        self.softirq_pending = False
        self.irq_pending = False
        self.curr: str | None = None
        self.host: Value = ZERO
        self.in_softirq = False
        self.zen = False
        self.to_save = "current"

    def clone(self) -> Cpu:
        c = Cpu.__new__(Cpu)
        c.v, c.z, c.bound, c.neon_busy, c.irq, c.bh = self.v, self.z, self.bound, self.neon_busy, self.irq, self.bh
        c.preempt, c.softirq_pending, c.irq_pending = self.preempt, self.softirq_pending, self.irq_pending
        c.curr, c.host, c.in_softirq, c.bound_sve = self.curr, self.host, self.in_softirq, self.bound_sve
        c.zen, c.to_save = self.zen, self.to_save
        return c


class Task:
    __slots__ = (
        "name",
        "saved_v",
        "saved_z",
        "foreign",
        "sve",
        "last_cpu",
        "pc",
        "cpu",
        "fp_type",
        "sve_live",
        "saved_sv",
        "kfp",
        "saved_k",
        "kcpu",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.saved_v: Value = ZERO  # thread.fpsimd_state
        self.saved_z: Value = ZERO  # thread.sve_state high bits
        self.foreign = True  # TIF_FOREIGN_FPSTATE
        self.sve = False  # TIF_SVE
        self.last_cpu: int | None = None  # fpsimd_state.cpu
        self.pc = "user"  # where the thread is: user, kernel, loop, guest, handle
        self.cpu: int | None = None  # CPU it runs on, None when not running
        self.fp_type = "fpsimd"  # 6.x thread.fp_type: the format of the saved state ("fpsimd" or "sve")
        self.sve_live = False  # 6.x: user code wrote SVE state since its last syscall and will read it back
        self.saved_sv: Value = ZERO  # 6.x: the V part of thread.sve_state (an SVE save writes it, not fpsimd_state)
        self.kfp = False  # 6.12: TIF_KERNEL_FPSTATE, in task-context kernel-mode NEON
        self.saved_k: Value = ZERO  # 6.12: thread.kernel_fpsimd_state
        self.kcpu: int | None = None  # 6.12: thread.kernel_fpsimd_cpu

    def clone(self) -> Task:
        t = Task.__new__(Task)
        t.name, t.saved_v, t.saved_z, t.foreign = self.name, self.saved_v, self.saved_z, self.foreign
        t.sve, t.last_cpu, t.pc, t.cpu = self.sve, self.last_cpu, self.pc, self.cpu
        t.fp_type, t.sve_live, t.saved_sv = self.fp_type, self.sve_live, self.saved_sv
        t.kfp, t.saved_k, t.kcpu = self.kfp, self.saved_k, self.kcpu
        return t


class Vcpu:
    __slots__ = ("saved_v", "saved_z", "trap_armed", "flags", "loaded")

    def __init__(self, flags: tuple[bool, ...]) -> None:
        self.saved_v: Value = ZERO  # vcpu->arch.ctxt fp_regs
        self.saved_z: Value = ZERO  # vcpu->arch.sve_state high bits (an SVE guest)
        self.trap_armed = True  # CPTR_EL2.TFP / CPACR_EL1.FPEN
        self.flags = list(flags)  # the policy's per-vcpu flags
        self.loaded: int | None = None  # CPU between kvm_arch_vcpu_load and _put

    def clone(self) -> Vcpu:
        v = Vcpu.__new__(Vcpu)
        v.saved_v, v.saved_z = self.saved_v, self.saved_z
        v.trap_armed = self.trap_armed
        v.flags = list(self.flags)
        v.loaded = self.loaded
        return v


class World:
    __slots__ = ("cpus", "tasks", "vcpu", "versions", "runs", "exits", "sve_types", "task_neon")

    def __init__(self, cpus: list[Cpu], tasks: dict[str, Task], vcpu: Vcpu) -> None:
        self.cpus = cpus
        self.tasks = tasks
        self.vcpu = vcpu
        self.versions: dict[str, int] = {}
        self.runs = 0  # KVM_RUN calls made
        self.exits = 0  # guest exits in the current KVM_RUN
        self.sve_types = False  # a 6.x world: EL0 SVE trap, fp_type and to_save are part of it (traces show them)
        self.task_neon = False  # a 6.12 world: tasks' kernel-mode NEON is preemptible state of their own

    def clone(self) -> World:
        w = World.__new__(World)
        w.cpus = [c.clone() for c in self.cpus]
        w.tasks = {n: t.clone() for n, t in self.tasks.items()}
        w.vcpu = self.vcpu.clone()
        w.versions = dict(self.versions)
        w.runs = self.runs
        w.exits = self.exits
        w.sve_types = self.sve_types
        w.task_neon = self.task_neon
        return w

    def fresh(self, owner: str) -> Value:
        version = self.versions.get(owner, 0) + 1
        self.versions[owner] = version
        return (owner, version)

    def is_current(self, value: Value) -> bool:
        return value[1] == self.versions.get(value[0], 0)

    def key(self, symmetry: bool = True, forget: Forget | None = None) -> tuple:
        """A hashable canonical form (see fpdsl.model.canon)."""
        return world_key(self, symmetry, forget)
