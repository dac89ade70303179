"""The v4.16 host machinery (arch/arm64/kernel/fpsimd.c and entry.S of
v4.16): task_fpsimd_save(), fpsimd_thread_switch(), kernel_neon_begin(),
fpsimd_restore_current_state(), sve_flush_cpu_state(), do_sve_acc(), and
el0_svc's sve_user_discard(). fpsimd_flush_cpu_state() is static and does
not set TIF_FOREIGN_FPSTATE (the seed thread's wrinkle)."""

from __future__ import annotations

from typing import Any

from fpdsl.model.machine import Machine
from fpdsl.model.values import ZERO


class Host416(Machine):
    # ---- arch/arm64/kernel/fpsimd.c -------------------------------------

    def task_save(self, task, origin: Any) -> None:
        """task_fpsimd_save(): current's live state into its task struct."""
        self.save_regs(f"task:{task.name}", origin, with_sve=self.config.sve and task.sve)

    def fpsimd_save(self, origin: Any) -> None:
        raise AssertionError("fpsimd_save() is v4.18's; the checker refuses it for v4.16")

    def flush_cpu_state(self, origin: Any) -> None:
        """fpsimd_flush_cpu_state(): forget the binding."""
        self.c.bound = None
        self.c.bound_sve = False
        self._flushed()
        self.op("invalidate", "cpu", None, origin)

    def _flushed(self) -> None:
        """What else forgetting the binding does (v4.16: nothing)."""

    def bind(self, target: str, origin: Any) -> None:
        """fpsimd_bind_task_to_cpu() (the v4.16 name: fpsimd_bind_to_cpu())."""
        self._bind(target, origin)

    def _bind(self, target: str, origin: Any) -> None:
        if target == "guest":
            self.c.bound, self.c.bound_sve = "guest", False
        else:
            task = self.world.tasks[target[5:]]
            self.c.bound, self.c.bound_sve = task.name, self.config.sve and task.sve
            task.last_cpu = self.cpu
        self.op("bind", target, None, origin)

    def sve_flush_cpu_state(self, origin: Any) -> None:
        """sve_flush_cpu_state(): invalidate the binding only if the bound
        state had SVE in use (KVM's FPSIMD-only switch destroys the SVE high
        bits, nothing else)."""
        if self.c.bound is not None and self.c.bound_sve:
            self.flush_cpu_state(origin)

    def restore_current_state(self, origin: Any = "fpsimd_restore_current_state()") -> None:
        """Return to user: reload current's state if TIF_FOREIGN_FPSTATE."""
        cur = self.current()
        if cur is None or not cur.foreign:
            return
        self.c.bh += 1  # local_bh_disable(); softirqs pending by now ran at interrupt exit
        self.task_fpsimd_load(cur, origin)
        self.bind(f"task:{cur.name}", origin)
        cur.foreign = False
        self.c.bh -= 1

    def task_fpsimd_load(self, task, origin: Any) -> None:
        """task_fpsimd_load(): the SVE registers too for a task with TIF_SVE."""
        self.load_regs(f"task:{task.name}", origin, with_sve=self.config.sve and task.sve)

    def _switch_save(self, cur, origin: Any) -> None:
        if not cur.foreign:
            self.task_save(cur, origin)

    def thread_switch(self, nxt: str | None, origin: Any = "fpsimd_thread_switch()") -> None:
        """fpsimd_thread_switch(): save prev's live state, then work out next's
        TIF_FOREIGN_FPSTATE from the binding."""
        cur = self.current()
        if cur is not None:
            self.c.irq += 1  # __switch_to() runs with interrupts off
            self._switch_save(cur, origin)
            self.c.irq -= 1
        if nxt is not None:
            self._switch_in(self.world.tasks[nxt], origin)

    def _switch_in(self, task, origin: Any) -> None:
        """Next's TIF_FOREIGN_FPSTATE: unless its own state is bound here."""
        task.foreign = not (self.c.bound == task.name and task.last_cpu == self.cpu)

    def may_use_simd(self) -> bool:
        c = self.c
        return c.irq == 0 and not c.neon_busy

    def _neon_save(self, cur, origin: Any) -> None:
        if not cur.foreign:  # test_and_set_thread_flag(TIF_FOREIGN_FPSTATE)
            cur.foreign = True
            self.task_save(cur, origin)

    def kernel_neon_begin(self, origin: Any) -> None:
        """kernel_neon_begin(): save current's live user state, invalidate the
        binding, mark NEON busy, disable preemption."""
        c = self.c
        self.check_may_use_simd(origin)
        c.bh += 1
        c.neon_busy = True
        cur = self.current()
        if cur is not None:
            self._neon_save(cur, origin)
        self.flush_cpu_state(origin)
        c.preempt += 1
        c.bh -= 1

    # ---- user space and el0_svc ------------------------------------------

    def user_fp(self, task) -> None:
        """User code reads its registers and writes new values: SVE code
        (TIF_SVE) all of Z, FPSIMD code the V registers, zeroing the high bits."""
        c = self.c
        self.check_read(task.name, c.v, "user space")
        if task.sve and self.config.sve:
            self.check_read(task.name, c.z, "user space", "SVE high bits")
            c.v = c.z = self.world.fresh(task.name)
        else:
            c.v = self.world.fresh(task.name)
            c.z = ZERO  # an FPSIMD write zeroes the SVE high bits
        self.op("write", task.name, c.v, "user space")

    @classmethod
    def user_sve_enabled(cls, config, world, task) -> bool:
        """The first SVE use of a task without TIF_SVE (it traps: do_sve_acc())."""
        return config.sve and not task.sve

    def user_sve(self, task) -> None:
        """do_sve_acc(): save the FPSIMD state, convert it to SVE (high bits
        zero), set TIF_SVE, reload on the way back; then the first SVE use."""
        origin = "do_sve_acc()"
        self.bh_disable(origin)
        if not task.foreign:
            self.task_save(task, origin)
        task.saved_z = ZERO
        task.last_cpu = None  # fpsimd_flush_task_state()
        task.foreign = True
        task.sve = True
        self.bh_enable(origin)
        self.restore_current_state()
        c = self.c
        self.check_read(task.name, c.v, "user space")
        c.v = c.z = self.world.fresh(task.name)
        self.op("write", task.name, c.v, "user space")

    def syscall(self, task) -> None:
        """el0_svc: sve_user_discard() clears TIF_SVE (the SVE high bits are
        not preserved across a syscall)."""
        task.sve = False
