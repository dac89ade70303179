"""The 6.12 host machinery, in two releases:

- `v6.12` follows Debian's 6.12.117 (6.12.118 changed nothing here), which
  carries the 2025 series: el0_svc calls fpsimd_syscall_enter() (zero the
  live SVE high bits if TIF_SVE; set the binding's to_save to
  FP_STATE_FPSIMD, so a save during the syscall lazily discards SVE) and,
  after the return-to-user work, fpsimd_syscall_exit() (to_save back to
  FP_STATE_CURRENT);
- `v6.12.0` follows v6.12 as released: el0_svc's fp_user_discard() zeroes
  the live SVE high bits of a TIF_SVE task and leaves TIF_SVE and EL0 SVE
  enabled ("arm64/sve: Leave SVE enabled on syscall if we don't context
  switch", v6.2); a save while current is in a syscall (in_syscall()) is
  FPSIMD only.

Both: task_fpsimd_load() goes by the saved state's fp_type (FP_STATE_FPSIMD:
TIF_SVE cleared; FP_STATE_SVE: TIF_SVE set and the SVE registers loaded);
get_cpu_fpsimd_context() is local_bh_disable() alone (no
fpsimd_context_busy); may_use_simd() is "not in hardirq, interrupts on";
kernel_neon_begin() saves the user state and unbinds within one
bh-disabled section. Task-context kernel-mode NEON stays preemptible
(v6.8, "arm64: fpsimd: Preserve/restore kernel mode NEON at context
switch"): kernel_neon_begin() outside a softirq sets TIF_KERNEL_FPSTATE;
fpsimd_thread_switch() saves such a task's registers into its
kernel_fpsimd_state (fpsimd_save_kernel_state(), which binds that state to
the CPU) and, switching to one, unbinds the CPU and reloads it
(fpsimd_flush_cpu_state() then fpsimd_load_kernel_state(): the order of
"arm64/fpsimd: Avoid erroneous elide of user state reload", v6.10); a
softirq's kernel-mode NEON over it saves and reloads it the same way
(kernel_neon_begin()/kernel_neon_end() in_serving_softirq())."""

from __future__ import annotations

from typing import Any

from fpdsl.model.hosts.v6 import Host6
from fpdsl.model.values import ZERO, kernel_binding


class Host6120(Host6):
    task_kernel_neon = True

    # v6.12 as released discards SVE lazily by asking whether current is in
    # a syscall (in_syscall(): for the vcpu thread, all of KVM_RUN).
    in_syscall_discard = True

    def _saves_sve(self, cur) -> bool:
        """fpsimd_save_user_state(): SVE if to_save is SVE, or is "current"
        and current has TIF_SVE (6.12.0: and is not in a syscall)."""
        c = self.c
        if c.to_save == "sve":
            return True
        in_syscall = self.in_syscall_discard and cur.pc in ("kernel", "loop", "handle")
        return c.to_save == "current" and cur.sve and not in_syscall

    def syscall(self, task) -> None:
        """fp_user_discard() (v6.2-v6.12): the live SVE high bits of a TIF_SVE
        task are zeroed (sve_flush_live()); TIF_SVE and ZEN stay."""
        task.sve_live = False
        if self.config.sve and task.sve:
            self.c.z = ZERO

    def may_use_simd(self) -> bool:
        return self.c.irq == 0

    def task_fpsimd_load(self, task, origin: Any) -> None:
        """task_fpsimd_load(): by fp_type; TIF_SVE follows it.
        WARN_ON(test_thread_flag(TIF_KERNEL_FPSTATE))."""
        if task.kfp:
            self.violate("kernel-rules", "user state loaded in kernel-mode NEON (task_fpsimd_load(): WARN_ON)", origin)
        if self.config.sve:
            task.sve = task.fp_type == "sve"
        self.load_regs(f"task:{task.name}", origin, with_sve=self.config.sve and task.sve)

    def kernel_neon_begin(self, origin: Any) -> None:
        """kernel_neon_begin(): BUG_ON(!may_use_simd()); in one bh-disabled
        section: over task-context kernel-mode NEON (a softirq only),
        fpsimd_save_kernel_state(); otherwise fpsimd_save_user_state() and,
        outside a softirq, TIF_KERNEL_FPSTATE; then fpsimd_flush_cpu_state()."""
        c = self.c
        self.check_may_use_simd(origin)
        c.bh += 1
        cur = self.current()
        if cur is not None and cur.kfp:
            if not c.in_softirq:
                self.violate(
                    "kernel-rules",
                    "kernel_neon_begin() nested in task-context kernel-mode NEON (BUG_ON(!in_serving_softirq()))",
                    origin,
                )
            self.save_kernel_state(cur, origin)
        elif cur is not None:
            self.fpsimd_save(origin)
            if not c.in_softirq:
                cur.kfp = True
                self.op("flag", "set TIF_KERNEL_FPSTATE", None, origin)
        self.flush_cpu_state(origin)
        c.bh -= 1

    def kernel_neon_end(self, origin: Any) -> None:
        """kernel_neon_end(): in a softirq over task-context kernel-mode NEON,
        fpsimd_load_kernel_state(current); otherwise clear TIF_KERNEL_FPSTATE."""
        cur = self.current()
        if cur is None:
            return
        if self.c.in_softirq and cur.kfp:
            self.load_kernel_state(cur, origin)
        elif cur.kfp:
            cur.kfp = False
            self.op("flag", "clear TIF_KERNEL_FPSTATE", None, origin)

    def save_kernel_state(self, task, origin: Any) -> None:
        """fpsimd_save_kernel_state(): the registers into the task's
        kernel_fpsimd_state, that state bound to the CPU (to_save
        FP_STATE_FPSIMD), kernel_fpsimd_cpu = this CPU."""
        self.save_regs(f"kstate:{task.name}", origin)
        self.bind(f"kstate:{task.name}", origin)
        task.kcpu = self.cpu

    def load_kernel_state(self, task, origin: Any) -> None:
        """fpsimd_load_kernel_state(): elided while this CPU still holds the
        task's latest kernel-mode state (bound here, kernel_fpsimd_cpu here)."""
        if self.c.bound == kernel_binding(task.name) and task.kcpu == self.cpu:
            return
        self.load_regs(f"kstate:{task.name}", origin)

    def _bind(self, target: str, origin: Any) -> None:
        if not target.startswith("kstate:"):
            super()._bind(target, origin)
            return
        # fpsimd_bind_state_to_cpu(): *last = *state; the EL0 SVE trap is untouched.
        c = self.c
        c.bound, c.bound_sve, c.to_save = kernel_binding(target[7:]), False, "fpsimd"
        self.op("bind", target, None, origin)

    def fpsimd_save(self, origin: Any) -> None:
        """A save with a task's kernel-mode state bound writes that state
        (to_save FP_STATE_FPSIMD)."""
        bound = self.c.bound
        if bound is None or not bound.startswith(kernel_binding("")):
            super().fpsimd_save(origin)
            return
        self._warn_unless_softirq_safe("fpsimd_save()", origin)
        cur = self.current()
        if cur is not None and not cur.foreign:
            self.save_regs(f"kstate:{bound[2:]}", origin)

    def _switch_save(self, cur, origin: Any) -> None:
        """fpsimd_thread_switch(): prev's kernel-mode state if it has
        TIF_KERNEL_FPSTATE, its user state otherwise."""
        if cur.kfp:
            self.save_kernel_state(cur, origin)
        else:
            self.fpsimd_save(origin)

    def _switch_in(self, task, origin: Any) -> None:
        """A next with TIF_KERNEL_FPSTATE: its TIF_FOREIGN_FPSTATE stays set
        from kernel_neon_begin(); its kernel-mode state is reloaded."""
        if task.kfp:
            self.switch_to_kernel_neon(task, origin)
        else:
            super()._switch_in(task, origin)

    def switch_to_kernel_neon(self, task, origin: Any) -> None:
        """fpsimd_flush_cpu_state() (prev gets TIF_FOREIGN_FPSTATE), then
        fpsimd_load_kernel_state(next)."""
        self.flush_cpu_state(origin)
        self.load_kernel_state(task, origin)


class Host612(Host6120):
    in_syscall_discard = False

    def syscall(self, task) -> None:
        """fpsimd_syscall_enter(): zero the live SVE high bits of a TIF_SVE
        task; to_save = FP_STATE_FPSIMD."""
        super().syscall(task)
        if self.config.sve:
            self.c.to_save = "fpsimd"

    def syscall_exit(self, task) -> None:
        """fpsimd_syscall_exit(): to_save = FP_STATE_CURRENT."""
        if self.config.sve:
            self.c.to_save = "current"
