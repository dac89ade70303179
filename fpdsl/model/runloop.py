"""The environment: every event the kernel and the workload may produce, and
KVM's run loop as control points (primer section 3). `successors()` lists the
enabled events of a world; `step()` applies one, deterministically.

Control points of the vcpu thread A (its `pc`): user (in user space, vcpu not
loaded), loop (top of the run loop, at cond_resched()), guest (running the
guest, interrupts masked on the host), handle (handle_exit(), interrupts and
preemption on). A competing task is in user or kernel."""

from __future__ import annotations

from typing import NamedTuple

from fpdsl.model.hosts import HOSTS, host_machine
from fpdsl.model.machine import Hooks, Machine, ModelConfig
from fpdsl.model.records import Op, Violation
from fpdsl.model.state import Cpu, Task, Vcpu, World
from fpdsl.model.values import GUEST, VCPU_THREAD, ZERO, kernel_owner

# Events: (kind, actor, arg). actor is a task name or a CPU number.
Event = tuple


class StepResult(NamedTuple):
    world: World
    ops: list[Op]
    violations: list[Violation]


EVENT_WORDS = {
    "user_fp": "{a} uses FPSIMD in user space",
    "user_sve": "{a} starts using SVE in user space (SVE access trap)",
    "syscall": "{a} makes a syscall (SVE high bits discarded)",
    "ret_to_user": "{a} returns to user space",
    "kneon_begin": "{a} begins kernel-mode NEON in its syscall (kernel_neon_begin())",
    "kneon_use": "{a} uses its kernel-mode NEON registers",
    "kneon_end": "{a} ends kernel-mode NEON (kernel_neon_end())",
    "ioctl": "{a} calls ioctl(KVM_RUN)",
    "enter": "{a} enters the guest",
    "guest_fp": "the guest uses FPSIMD",
    "exit": "the guest exits to the host",
    "exit_irq": "a host interrupt (raising a kernel-NEON softirq) makes the guest exit",
    "resume": "handle_exit() done, back to the top of the run loop",
    "to_user": "the exit needs user space: vcpu_put(), return to user",
    "irq": "cpu{a}: an interrupt raises a softirq that wants kernel-mode NEON",
    "switch": "cpu{a}: context switch to {b}",
}


def describe(event: Event) -> str:
    kind, actor, arg = event
    b = "idle" if arg is None else arg
    return EVENT_WORDS[kind].format(a=actor, b=b)


def label(event: Event) -> str:
    """Compact, stable spelling used by scenario files and traces."""
    kind, actor, arg = event
    if kind == "switch":
        return f"cpu{actor}:switch:{'idle' if arg is None else arg}"
    if kind == "irq":
        return f"cpu{actor}:irq"
    return f"{actor}:{kind}"


def initial_world(config: ModelConfig, flags: tuple[bool, ...]) -> World:
    cpus = [Cpu() for _ in range(config.cpus)]
    tasks = {n: Task(n) for n in config.task_names()}
    w = World(cpus, tasks, Vcpu(flags))
    w.sve_types = config.kernel.startswith("v6")
    w.task_neon = HOSTS[config.kernel].task_kernel_neon
    for name, task in tasks.items():
        w.versions[name] = 1
        task.saved_v = (name, 1)
        task.pc = "kernel"  # runnable, about to return to user space
    w.versions[GUEST] = 1
    w.vcpu.saved_v = (GUEST, 1)
    if config.guest_sve:
        w.vcpu.saved_z = (GUEST, 1)  # an SVE guest's state: all of Z is its own
    # The vcpu thread runs on CPU 0 in user space with its state live.
    a = tasks[VCPU_THREAD]
    a.cpu, a.foreign, a.last_cpu, a.pc = 0, False, 0, "user"
    a.saved_v = ZERO
    cpus[0].curr, cpus[0].v, cpus[0].bound = VCPU_THREAD, (VCPU_THREAD, 1), VCPU_THREAD
    return w


PREEMPTIBLE = {"user", "kernel", "loop", "handle"}


def successors(world: World, config: ModelConfig) -> list[Event]:
    events: list[Event] = []
    task_neon = world.task_neon
    for cpu_index, cpu in enumerate(world.cpus):
        name = cpu.curr
        if name is not None:
            task = world.tasks[name]
            pc = task.pc
            if pc == "user":
                events.append(("user_fp", name, None))
                if HOSTS[config.kernel].user_sve_enabled(config, world, task):
                    events.append(("user_sve", name, None))
                if name == VCPU_THREAD:
                    if config.runs is None or world.runs < config.runs:
                        events.append(("ioctl", name, None))
                else:
                    events.append(("syscall", name, None))
            elif pc == "kernel":
                # Kernel-mode NEON in the task's syscall: before 6.12 it runs with
                # preemption off and changes the state exactly as an "irq" on this
                # CPU does, so it is not a separate event; on 6.12 it is
                # preemptible, so its beginning, uses and end are.
                if task.kfp:
                    events.append(("kneon_use", name, None))
                    events.append(("kneon_end", name, None))
                else:
                    events.append(("ret_to_user", name, None))
                    if task_neon:
                        events.append(("kneon_begin", name, None))
            elif pc == "loop":
                events.append(("enter", name, None))
            elif pc == "guest":
                events.append(("guest_fp", name, None))
                events.append(("exit", name, None))
                events.append(("exit_irq", name, None))
            elif pc == "handle":
                if config.exits is None or world.exits < config.exits:
                    events.append(("resume", name, None))
                events.append(("to_user", name, None))
        if cpu.irq == 0 and not (name is not None and world.tasks[name].pc == "guest"):
            events.append(("irq", cpu_index, None))
        # Preemption: the running context is preemptible and someone else is runnable.
        # local_bh_disable() raises the preempt count in the kernel: no switch with
        # softirqs masked.
        running_ok = name is None or (
            world.tasks[name].pc in PREEMPTIBLE and cpu.preempt == 0 and cpu.bh == 0 and cpu.irq == 0
        )
        if running_ok:
            for other in world.tasks.values():
                if other.cpu is None:
                    events.append(("switch", cpu_index, other.name))
            if name is not None:
                events.append(("switch", cpu_index, None))
    return events


def step(world: World, event: Event, config: ModelConfig, hooks: Hooks, record: bool = True) -> StepResult:
    """Apply one event to a copy of `world`."""
    w = world.clone()
    m = host_machine(config, hooks, w, record)
    kind, actor, arg = event
    m.on_cpu(actor if kind in ("irq", "switch") else w.tasks[actor].cpu)
    _APPLY[kind](m, actor, arg)
    _check_preemptible(m)
    return StepResult(w, m.ops, m.violations)


# ---- event semantics ------------------------------------------------------


def _user_fp(m: Machine, name: str, _arg) -> None:
    m.user_fp(m.world.tasks[name])


def _user_sve(m: Machine, name: str, _arg) -> None:
    m.user_sve(m.world.tasks[name])


def _syscall(m: Machine, name: str, _arg) -> None:
    task = m.world.tasks[name]
    m.syscall(task)
    task.pc = "kernel"


def _ret_to_user(m: Machine, name: str, _arg) -> None:
    m.restore_current_state()
    m.syscall_exit(m.world.tasks[name])
    m.world.tasks[name].pc = "user"


def _kneon_begin(m: Machine, name: str, _arg) -> None:
    m.kernel_neon_begin("kernel_neon_begin()")
    _kneon_write(m, name)


def _kneon_write(m: Machine, name: str) -> None:
    c = m.c
    c.v = m.world.fresh(kernel_owner(name))
    c.z = ZERO  # writes to the V registers zero the rest of Z
    m.op("write", kernel_owner(name), c.v, "kernel-mode NEON")


def _kneon_use(m: Machine, name: str, _arg) -> None:
    m.check_read(kernel_owner(name), m.c.v, "kernel-mode NEON")
    _kneon_write(m, name)


def _kneon_end(m: Machine, name: str, _arg) -> None:
    m.check_read(kernel_owner(name), m.c.v, "kernel-mode NEON")
    m.kernel_neon_end("kernel_neon_end()")


def _ioctl(m: Machine, name: str, _arg) -> None:
    w = m.world
    a = w.tasks[name]
    m.syscall(a)  # KVM_RUN is a syscall: the version's entry code runs
    if m.config.runs is not None:
        w.runs += 1
    w.exits = 0
    m.op("kvm_run", "ioctl(KVM_RUN)", None, "kvm_arch_vcpu_ioctl_run()")
    _vcpu_load(m)
    a.pc = "loop"


def _vcpu_load(m: Machine) -> None:
    m.preempt_disable("vcpu_load()")
    m.world.vcpu.loaded = m.cpu
    if m.hooks.has("load"):
        m.hooks.run("load", m)
    m.preempt_enable("vcpu_load()")


def _vcpu_put(m: Machine, irqs_off: bool) -> None:
    if irqs_off:  # the sched-out preempt notifier runs inside schedule()
        m.c.irq += 1
    m.preempt_disable("vcpu_put()")
    if m.hooks.has("put"):
        m.hooks.run("put", m)
    m.world.vcpu.loaded = None
    m.preempt_enable("vcpu_put()")
    if irqs_off:
        m.c.irq -= 1


def _enter(m: Machine, name: str, _arg) -> None:
    origin = "kvm_arch_vcpu_ioctl_run()"
    m.preempt_disable(origin)
    m.irq_disable(origin)
    if m.hooks.has("enter"):
        m.hooks.run("enter", m)
    m.world.tasks[name].pc = "guest"


def _guest_fp(m: Machine, name: str, _arg) -> None:
    v = m.world.vcpu
    if v.trap_armed:
        m.op("trap", "guest FP/SIMD access trap", None, "hyp")
        if m.hooks.has("trap"):
            m.hooks.run("trap", m)
        if v.trap_armed:
            m.violate("kernel-rules", "the trap hook left the FP trap armed: the guest would trap forever", "hyp")
            return
    m.guest_uses_fp()


def _exit(m: Machine, name: str, irq: bool) -> None:
    w = m.world
    if m.config.exits is not None:
        w.exits += 1
    m.op("exits", "guest exit", None, "kvm_arch_vcpu_ioctl_run()")
    m.guest_exited()
    if irq:
        m.c.irq_pending = True
    depth = m.c.irq
    if m.hooks.has("exit"):
        m.hooks.run("exit", m)
    else:
        m.irq_enable("local_irq_enable()")
    if m.c.irq >= depth:
        m.violate("kernel-rules", "the exit hook left interrupts disabled", "exit hook")
        m.c.irq = 0
        m.c.irq_pending = False
    m.preempt_enable("kvm_arch_vcpu_ioctl_run()")
    w.tasks[name].pc = "handle"


def _exit_irq(m: Machine, name: str, _arg) -> None:
    _exit(m, name, True)


def _exit_plain(m: Machine, name: str, _arg) -> None:
    _exit(m, name, False)


def _resume(m: Machine, name: str, _arg) -> None:
    m.world.tasks[name].pc = "loop"


def _to_user(m: Machine, name: str, _arg) -> None:
    m.op("exits_to_user", "exit to user space", None, "kvm_arch_vcpu_ioctl_run()")
    _vcpu_put(m, irqs_off=False)
    m.restore_current_state()
    m.syscall_exit(m.world.tasks[name])
    m.world.tasks[name].pc = "user"
    m.world.exits = 0


def _irq(m: Machine, cpu: int, _arg) -> None:
    m.take_interrupt("interrupt")
    cur = m.current()
    if cur is not None and cur.pc == "user":
        m.restore_current_state()  # the interrupt returns to user space


def _switch(m: Machine, cpu: int, nxt: str | None) -> None:
    w = m.world
    c = m.c
    prev = c.curr
    if prev == VCPU_THREAD:
        m.op("preemptions", "vcpu thread preempted", None, "schedule()")
    if prev is not None and w.vcpu.loaded == cpu and w.tasks[prev].pc in ("loop", "handle"):
        _vcpu_put(m, irqs_off=True)
    m.thread_switch(nxt)
    if prev is not None:
        w.tasks[prev].cpu = None
    c.curr = nxt
    if nxt is None:
        return
    task = w.tasks[nxt]
    task.cpu = cpu
    if task.pc in ("loop", "handle"):
        _vcpu_load(m)  # the sched-in preempt notifier
    elif task.pc == "user":
        m.restore_current_state()  # it was preempted in user space: back there


def _check_preemptible(m: Machine) -> None:
    a = m.world.tasks[VCPU_THREAD]
    if a.cpu is None or a.pc not in ("loop", "handle"):
        return
    c = m.world.cpus[a.cpu]
    where = "cond_resched()" if a.pc == "loop" else "handle_exit()"
    problems = []
    if c.preempt:
        problems.append(f"preemption disabled (preempt count {c.preempt})")
    if c.bh:
        problems.append("softirqs masked")
    if c.irq:
        problems.append("interrupts disabled")
    if problems:
        m.violate("preemptibility", f"the run loop reaches {where} with " + " and ".join(problems), where)


_APPLY = {
    "user_fp": _user_fp,
    "user_sve": _user_sve,
    "syscall": _syscall,
    "ret_to_user": _ret_to_user,
    "kneon_begin": _kneon_begin,
    "kneon_use": _kneon_use,
    "kneon_end": _kneon_end,
    "ioctl": _ioctl,
    "enter": _enter,
    "guest_fp": _guest_fp,
    "exit": _exit_plain,
    "exit_irq": _exit_irq,
    "resume": _resume,
    "to_user": _to_user,
    "irq": _irq,
    "switch": _switch,
}
