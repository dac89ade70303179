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
bh-disabled section, and task-context kernel-mode NEON stays preemptible
(TIF_KERNEL_FPSTATE: its state is saved at context switch; the model's
kernel-mode NEON is the softirq's, which never sets it)."""

from __future__ import annotations

from typing import Any

from fpdsl.model.hosts.v6 import Host6
from fpdsl.model.values import ZERO


class Host6120(Host6):
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

    def task_fpsimd_load(self, task, origin: Any) -> None:
        """task_fpsimd_load(): by fp_type; TIF_SVE follows it."""
        if self.config.sve:
            task.sve = task.fp_type == "sve"
        self.load_regs(f"task:{task.name}", origin, with_sve=self.config.sve and task.sve)

    def may_use_simd(self) -> bool:
        return self.c.irq == 0

    def kernel_neon_begin(self, origin: Any) -> None:
        """kernel_neon_begin(): BUG_ON(!may_use_simd()); in one bh-disabled
        section, fpsimd_save_user_state() and fpsimd_flush_cpu_state()."""
        c = self.c
        self.check_may_use_simd(origin)
        c.bh += 1
        if self.current() is not None:
            self.fpsimd_save(origin)
        self.flush_cpu_state(origin)
        c.bh -= 1

    def kernel_neon_end(self, origin: Any) -> None:
        """kernel_neon_end(): nothing left to release (clear TIF_KERNEL_FPSTATE)."""


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
