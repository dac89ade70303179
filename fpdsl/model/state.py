"""The model's state: CPUs, tasks, the vcpu. Mutable for speed inside one
step; `key()` gives a hashable canonical form for the explorer, in which
stale versions collapse (only "is it its owner's last write?" matters for the
properties) and interchangeable CPUs and competing tasks are reduced."""

from __future__ import annotations

from itertools import permutations

from fpdsl.model.values import KERNEL, ZERO, Value


class Cpu:
    __slots__ = (
        "v",  # FPSIMD registers V0-V31 (abstract value)
        "z",  # SVE high bits of Z0-Z31 (+P/FFR)
        "bound",  # fpsimd_last_state: None, "guest" or a task name
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

    def clone(self) -> Cpu:
        c = Cpu.__new__(Cpu)
        c.v, c.z, c.bound, c.neon_busy, c.irq, c.bh = self.v, self.z, self.bound, self.neon_busy, self.irq, self.bh
        c.preempt, c.softirq_pending, c.irq_pending = self.preempt, self.softirq_pending, self.irq_pending
        c.curr, c.host, c.in_softirq, c.bound_sve = self.curr, self.host, self.in_softirq, self.bound_sve
        return c


class Task:
    __slots__ = ("name", "saved_v", "saved_z", "foreign", "sve", "last_cpu", "pc", "cpu")

    def __init__(self, name: str) -> None:
        self.name = name
        self.saved_v: Value = ZERO  # thread.fpsimd_state
        self.saved_z: Value = ZERO  # thread.sve_state high bits
        self.foreign = True  # TIF_FOREIGN_FPSTATE
        self.sve = False  # TIF_SVE
        self.last_cpu: int | None = None  # fpsimd_state.cpu
        self.pc = "user"  # where the thread is: user, kernel, loop, guest, handle
        self.cpu: int | None = None  # CPU it runs on, None when not running

    def clone(self) -> Task:
        t = Task.__new__(Task)
        t.name, t.saved_v, t.saved_z, t.foreign = self.name, self.saved_v, self.saved_z, self.foreign
        t.sve, t.last_cpu, t.pc, t.cpu = self.sve, self.last_cpu, self.pc, self.cpu
        return t


class Vcpu:
    __slots__ = ("saved_v", "trap_armed", "flags", "loaded")

    def __init__(self, flags: tuple[bool, ...]) -> None:
        self.saved_v: Value = ZERO  # vcpu->arch.ctxt fp_regs
        self.trap_armed = True  # CPTR_EL2.TFP / CPACR_EL1.FPEN
        self.flags = list(flags)  # the policy's per-vcpu flags
        self.loaded: int | None = None  # CPU between kvm_arch_vcpu_load and _put

    def clone(self) -> Vcpu:
        v = Vcpu.__new__(Vcpu)
        v.saved_v = self.saved_v
        v.trap_armed = self.trap_armed
        v.flags = list(self.flags)
        v.loaded = self.loaded
        return v


_IDENTITY = {n: tuple(range(n)) for n in range(1, 9)}


class World:
    __slots__ = ("cpus", "tasks", "vcpu", "versions", "runs", "exits")

    def __init__(self, cpus: list[Cpu], tasks: dict[str, Task], vcpu: Vcpu) -> None:
        self.cpus = cpus
        self.tasks = tasks
        self.vcpu = vcpu
        self.versions: dict[str, int] = {}
        self.runs = 0  # KVM_RUN calls made
        self.exits = 0  # guest exits in the current KVM_RUN

    def clone(self) -> World:
        w = World.__new__(World)
        w.cpus = [c.clone() for c in self.cpus]
        w.tasks = {n: t.clone() for n, t in self.tasks.items()}
        w.vcpu = self.vcpu.clone()
        w.versions = dict(self.versions)
        w.runs = self.runs
        w.exits = self.exits
        return w

    def fresh(self, owner: str) -> Value:
        version = self.versions.get(owner, 0) + 1
        self.versions[owner] = version
        return (owner, version)

    def is_current(self, value: Value) -> bool:
        return value[1] == self.versions.get(value[0], 0)

    # ---- canonical form -------------------------------------------------

    def _canon_values(self, tmap: dict[str, str]) -> dict:
        """Every value's canonical form: owner renamed, version collapsed to
        1 (its owner's last write) or 0 (stale); kernel scratch and zeroes
        carry no version."""
        versions = self.versions
        cache: dict = {}

        def canon(value: Value) -> tuple[str, int]:
            got = cache.get(value)
            if got is None:
                owner = value[0]
                if owner == "0" or owner == KERNEL:
                    got = (owner, 0)
                else:
                    got = (tmap.get(owner, owner), 1 if value[1] == versions.get(owner, 0) else 0)
                cache[value] = got
            return got

        return canon

    def _key_under(self, cperm: tuple[int, ...], tmap: dict[str, str]) -> tuple:
        """The key with CPU i renamed cperm[i] and competing task n renamed tmap[n]."""
        canon = self._canon_values(tmap)
        ncpu = len(cperm)
        order = [0] * ncpu
        for old, new in enumerate(cperm):
            order[new] = old
        cpus = tuple(
            (
                canon(c.v),
                canon(c.z),
                tmap.get(c.bound, c.bound or ""),
                c.bound_sve,
                c.neon_busy,
                c.irq,
                c.bh,
                c.preempt,
                c.softirq_pending,
                c.irq_pending,
                tmap.get(c.curr, c.curr or ""),
                canon(c.host),
            )
            for c in (self.cpus[i] for i in order)
        )
        names = sorted(self.tasks, key=lambda n: tmap.get(n, n)) if tmap else list(self.tasks)
        tasks = []
        for name in names:
            t = self.tasks[name]
            tasks.append(
                (
                    canon(t.saved_v),
                    canon(t.saved_z),
                    t.foreign,
                    t.sve,
                    -1 if t.last_cpu is None else cperm[t.last_cpu],
                    t.pc,
                    -1 if t.cpu is None else cperm[t.cpu],
                )
            )
        v = self.vcpu
        return (
            cpus,
            tuple(tasks),
            (canon(v.saved_v), v.trap_armed, tuple(v.flags), -1 if v.loaded is None else cperm[v.loaded]),
            self.runs,
            self.exits,
        )

    def key(self, symmetry: bool = True) -> tuple:
        ncpu = len(self.cpus)
        others = [n for n in self.tasks if n != "A"]
        if symmetry and len(others) > 1:
            return self._key_renaming_tasks(others)
        # No task renaming: a flat tuple (cheap to build, hash and compare) that
        # carries exactly what _key_under does, so it identifies the same states.
        versions = self.versions
        cpu_parts = [_cpu_part(c, versions) for c in self.cpus]
        if not symmetry or ncpu == 1:
            return self._flat_key(cpu_parts, _IDENTITY[ncpu], versions)
        # The CPU parts do not depend on the renaming, so when they all differ
        # sorting them fixes the permutation; ties need the rest of the key.
        order = sorted(range(ncpu), key=cpu_parts.__getitem__)
        if all(cpu_parts[order[i]] != cpu_parts[order[i + 1]] for i in range(ncpu - 1)):
            return self._flat_key(cpu_parts, _inverse(order), versions)
        best = None
        for cperm in permutations(range(ncpu)):
            k = self._flat_key(cpu_parts, cperm, versions)
            if best is None or k < best:
                best = k
        return best

    def _flat_key(self, cpu_parts: list[tuple], cperm: tuple[int, ...], versions: dict[str, int]) -> tuple:
        """The key with CPU i renamed cperm[i]; competing tasks keep their names."""
        out: list = []
        for old in _inverse(cperm):
            out.extend(cpu_parts[old])
        for t in self.tasks.values():
            out.append(_canon(t.saved_v, versions))
            out.append(_canon(t.saved_z, versions))
            out.append(t.foreign)
            out.append(t.sve)
            out.append(-1 if t.last_cpu is None else cperm[t.last_cpu])
            out.append(t.pc)
            out.append(-1 if t.cpu is None else cperm[t.cpu])
        v = self.vcpu
        out.append(_canon(v.saved_v, versions))
        out.append(v.trap_armed)
        out.extend(v.flags)
        out.append(-1 if v.loaded is None else cperm[v.loaded])
        out.append(self.runs)
        out.append(self.exits)
        return tuple(out)

    def _key_renaming_tasks(self, others: list[str]) -> tuple:
        """Several competing tasks: the least key over CPU and task renamings."""
        best = None
        for cperm in permutations(range(len(self.cpus))):
            for tperm in permutations(others):
                k = self._key_under(cperm, dict(zip(others, tperm, strict=True)))
                if best is None or k < best:
                    best = k
        return best


def _inverse(perm: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


# Canonical value tokens: the owner alone for its last write, owner + "~" for a
# stale one; zeroes and kernel scratch carry no version.
_STALE: dict[str, str] = {}


def _canon(value: Value, versions: dict[str, int]) -> str:
    owner = value[0]
    if owner == "0" or owner == KERNEL or value[1] == versions.get(owner, 0):
        return owner
    stale = _STALE.get(owner)
    if stale is None:
        stale = _STALE[owner] = owner + "~"
    return stale


def _cpu_part(c: Cpu, versions: dict[str, int]) -> tuple:
    return (
        _canon(c.v, versions),
        _canon(c.z, versions),
        c.bound or "",
        c.bound_sve,
        c.neon_busy,
        c.irq,
        c.bh,
        c.preempt,
        c.softirq_pending,
        c.irq_pending,
        c.curr or "",
        _canon(c.host, versions),
    )
