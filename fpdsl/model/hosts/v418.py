"""The v4.18 host machinery: the 2018 series' fpsimd_save() (save into
whatever state is bound to the CPU, unless TIF_FOREIGN_FPSTATE),
fpsimd_bind_state_to_cpu() for KVM, fpsimd_flush_cpu_state() setting
current's TIF_FOREIGN_FPSTATE, and the WARN_ON(!in_softirq() &&
!irqs_disabled()) of fpsimd_save() and the bind. Everything else is v4.16's."""

from __future__ import annotations

from typing import Any

from fpdsl.model.hosts.v416 import Host416


class Host418(Host416):
    def fpsimd_save(self, origin: Any) -> None:
        """fpsimd_save(): unless current has TIF_FOREIGN_FPSTATE, save the
        registers into whatever state is bound to this CPU."""
        self._warn_unless_softirq_safe("fpsimd_save()", origin)
        cur = self.current()
        if cur is None or cur.foreign:
            return
        bound = self.c.bound
        if bound is None:
            return
        if bound == "guest":
            self.save_regs("guest", origin)
        else:
            self.save_regs(f"task:{bound}", origin, with_sve=self.config.sve and cur.sve)

    def _flushed(self) -> None:
        """fpsimd_flush_cpu_state() also sets current's TIF_FOREIGN_FPSTATE."""
        cur = self.current()
        if cur is not None:
            cur.foreign = True

    def _warn_unless_softirq_safe(self, what: str, origin: Any) -> None:
        """WARN_ON(!in_softirq() && !irqs_disabled()): a softirq's
        kernel_neon_begin() must not run in the middle."""
        c = self.c
        if c.bh == 0 and not c.in_softirq and c.irq == 0:
            self.violate(
                "kernel-rules",
                f"{what} called with softirqs and interrupts enabled (WARN_ON(!in_softirq() && !irqs_disabled()))",
                origin,
            )

    def bind(self, target: str, origin: Any) -> None:
        """fpsimd_bind_state_to_cpu() / fpsimd_bind_task_to_cpu()."""
        self._warn_unless_softirq_safe("fpsimd_bind_state_to_cpu()", origin)
        self._bind(target, origin)

    def _switch_save(self, cur, origin: Any) -> None:
        self.fpsimd_save(origin)

    def _neon_save(self, cur, origin: Any) -> None:
        self.fpsimd_save(origin)
