"""The 6.1 host machinery, as Linux 6.1.y (Debian's 6.1.192) has it:

- el0_svc's fp_user_discard() (arch/arm64/kernel/syscall.c): clear
  TIF_SVE and sve_user_disable(), so EL0 SVE traps again after every
  syscall (KVM_RUN included);
- task_fpsimd_load(): the SVE registers for a task with TIF_SVE (a
  WARN_ON_ONCE() if its fp_type disagrees), FPSIMD otherwise;
- kernel_neon_begin()/kernel_neon_end(): get_cpu_fpsimd_context() holds
  softirqs off and fpsimd_context_busy from begin to end;
- may_use_simd(): not in hardirq, interrupts on, !fpsimd_context_busy.

The 2025 fix's backport to 6.1.y (6.1.135) brought host changes with it
(fp_type, to_save and saving by it, the fp_type warnings, interrupts masked
in fpsimd_save_and_flush_cpu_state()): 6.1.134's host is Host61Prefix
below; this is the host after it."""

from __future__ import annotations

from typing import Any

from fpdsl.model.hosts.v6 import Host6


class Host61(Host6):
    def syscall(self, task) -> None:
        """fp_user_discard(): TIF_SVE cleared, EL0 SVE trapped."""
        task.sve_live = False
        if not self.config.sve:
            return
        task.sve = False
        self.sve_user_disable("fp_user_discard()")

    def task_fpsimd_load(self, task, origin: Any) -> None:
        if self.config.sve and task.fp_type != ("sve" if task.sve else "fpsimd"):
            self.violate(
                "kernel-rules",
                f"task_fpsimd_load(): {task.name} has TIF_SVE {'set' if task.sve else 'clear'} but its saved "
                f"state is {task.fp_type.upper()} (WARN_ON_ONCE(fp_type != ...))",
                origin,
            )
        super().task_fpsimd_load(task, origin)

    def kernel_neon_begin(self, origin: Any) -> None:
        """kernel_neon_begin(): BUG_ON(!may_use_simd()); get_cpu_fpsimd_context()
        (local_bh_disable(), fpsimd_context_busy); fpsimd_save();
        fpsimd_flush_cpu_state(). The context is held until kernel_neon_end()."""
        c = self.c
        self.check_may_use_simd(origin)
        c.bh += 1
        c.neon_busy = True
        if self.current() is not None:
            self.fpsimd_save(origin)
        self.flush_cpu_state(origin)

    def release_neon_context(self, origin: Any) -> None:
        """put_cpu_fpsimd_context(): local_bh_enable()."""
        self.bh_enable(origin)


class Host61Prefix(Host61):
    """6.1.134, the last 6.1.y before the 2025 series' backport (6.1.135):
    no fp_type, no to_save. fpsimd_save() saves the SVE registers exactly
    when current has TIF_SVE, which is why that KVM sets the vcpu thread's
    TIF_SVE to vcpu_has_sve() when it binds the guest's state;
    fpsimd_bind_state_to_cpu() takes no type."""

    def fpsimd_save(self, origin: Any) -> None:
        self._warn_unless_softirq_safe("fpsimd_save()", origin)
        cur = self.current()
        if cur is None or cur.foreign or self.c.bound is None:
            return
        sve = self.config.sve and cur.sve
        target = "guest" if self.c.bound == "guest" else f"task:{self.c.bound}"
        self.save_regs(target, origin, with_sve=sve)

    def _bind(self, target: str, origin: Any) -> None:
        super()._bind(target, origin)
        self.c.to_save = "current"  # there is no other kind

    def task_fpsimd_load(self, task, origin: Any) -> None:
        Host6.task_fpsimd_load(self, task, origin)  # by TIF_SVE (v4.16's); no fp_type to check
