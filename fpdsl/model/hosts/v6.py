"""What the 6.1 and 6.12 host machinery share (arch/arm64/kernel/fpsimd.c):
the saved state's type (thread.fp_type, the binding's fp_type and to_save),
the EL0 SVE access trap as per-CPU state of its own (CPACR_EL1.ZEN_EL0EN,
set by fpsimd_bind_task_to_cpu() from TIF_SVE, reset by the VHE world
switch), do_sve_acc()/sve_init_regs(), fpsimd_kvm_prepare() and
fpsimd_save_and_flush_cpu_state(); SVE guests (vcpu_has_sve()). The
versions differ in their syscall entry, task_fpsimd_load() and kernel-mode
NEON (fpdsl.model.hosts.v61, fpdsl.model.hosts.v612). The host runs with VHE,
the configuration whose CPACR_EL1 the hyp rewrites.

A task's user SVE state: `sve_live` says user code wrote SVE registers
since its last syscall and reads them back (the syscall ABI discards them);
it reads the SVE high bits only then. SVE code runs without trapping exactly
while the CPU's ZEN is enabled, whatever TIF_SVE says."""

from __future__ import annotations

from typing import Any

from fpdsl.model.hosts.v418 import Host418
from fpdsl.model.values import GUEST, ZERO


class Host6(Host418):
    # ---- saving and loading, by type ------------------------------------

    def save_regs(self, target: str, origin: Any, with_sve: bool = False) -> None:
        """A task's state has two homes: an FPSIMD save writes
        thread.uw.fpsimd_state (saved_v), an SVE save writes thread.sve_state
        (its V part saved_sv, the high bits saved_z) and leaves fpsimd_state's
        V registers stale."""
        if not (with_sve and target.startswith("task:")):
            super().save_regs(target, origin, with_sve)
            return
        c = self.c
        task = self.world.tasks[target[5:]]
        self._check_store(target, c.v, origin)
        self._check_store(target, c.z, origin, "SVE")
        task.saved_sv, task.saved_z = c.v, c.z
        self.op("save", target, c.v, origin)

    def load_regs(self, target: str, origin: Any, with_sve: bool = False) -> None:
        if not (with_sve and target.startswith("task:")):
            super().load_regs(target, origin, with_sve)
            return
        task = self.world.tasks[target[5:]]
        self.c.v, self.c.z = task.saved_sv, task.saved_z
        self.op("restore", target, self.c.v, origin)

    def fpsimd_save(self, origin: Any) -> None:
        """fpsimd_save() (6.1) / fpsimd_save_user_state() (6.12): unless
        TIF_FOREIGN_FPSTATE, save into the bound state, SVE registers when
        to_save says SVE or says "current" and current has TIF_SVE, and
        record in the bound state's fp_type what was saved."""
        self._warn_unless_softirq_safe("fpsimd_save()", origin)
        cur = self.current()
        if cur is None or cur.foreign:
            return
        c = self.c
        if c.bound is None:
            return
        sve = self.config.sve and self._saves_sve(cur)
        if c.bound == "guest":
            self.save_regs("guest", origin, with_sve=sve)
        else:
            self.save_regs(f"task:{c.bound}", origin, with_sve=sve)
            self.world.tasks[c.bound].fp_type = "sve" if sve else "fpsimd"

    def _saves_sve(self, cur) -> bool:
        c = self.c
        return c.to_save == "sve" or (c.to_save == "current" and cur.sve)

    def task_save(self, task, origin: Any) -> None:
        self.fpsimd_save(origin)

    def _bind(self, target: str, origin: Any) -> None:
        """fpsimd_bind_task_to_cpu(): to_save "current", and the EL0 SVE
        trap follows TIF_SVE (sve_user_enable()/sve_user_disable())."""
        c = self.c
        if target == "guest":
            # KVM's fpsimd_bind_state_to_cpu(): to_save = FP_STATE_SVE for
            # an SVE guest, FP_STATE_FPSIMD otherwise; the trap is untouched.
            c.bound, c.bound_sve = "guest", False
            c.to_save = "sve" if self.config.guest_sve else "fpsimd"
        else:
            task = self.world.tasks[target[5:]]
            c.bound, c.bound_sve = task.name, False
            c.to_save = "current"
            task.last_cpu = self.cpu
            if self.config.sve:
                self._set_zen(task.sve, origin)
        self.op("bind", target, None, origin)

    def _set_zen(self, enabled: bool, origin: Any) -> None:
        if self.c.zen != enabled:
            self.c.zen = enabled
            self.op("el0_sve", "EL0 SVE " + ("enabled" if enabled else "trapped"), None, origin)

    def sve_user_enable(self, origin: Any) -> None:
        self._set_zen(True, origin)

    def sve_user_disable(self, origin: Any) -> None:
        self._set_zen(False, origin)

    def sve_flush_cpu_state(self, origin: Any) -> None:
        raise AssertionError("sve_flush_cpu_state() is v4.16's; the checker refuses it")

    # ---- the kernel functions KVM calls ------------------------------------

    def fpsimd_kvm_prepare(self, origin: Any) -> None:
        """fpsimd_kvm_prepare(): if current has TIF_SVE, clear it and convert
        its saved state to FPSIMD (sve_to_fpsimd(): the memory copy only; the
        live registers and the EL0 SVE trap are left as they are)."""
        if not self.config.sve:
            return
        cur = self.current()
        if cur is not None and cur.sve:
            cur.sve = False
            cur.saved_v = cur.saved_sv  # sve_to_fpsimd(): whatever sve_state holds
            cur.fp_type = "fpsimd"
            self.op("flag", "clear TIF_SVE (fpsimd_kvm_prepare())", None, origin)

    def fpsimd_save_and_flush_cpu_state(self, origin: Any) -> None:
        """fpsimd_save_and_flush_cpu_state(): with interrupts masked, save
        the bound state and unbind it (current gets TIF_FOREIGN_FPSTATE)."""
        if self.c.preempt == 0 and self.c.irq == 0:
            self.violate(
                "kernel-rules", "fpsimd_save_and_flush_cpu_state() called preemptible (WARN_ON(preemptible()))", origin
            )
        self.c.irq += 1
        self.fpsimd_save(origin)
        self.flush_cpu_state(origin)
        self.c.irq -= 1

    def save_state(self, target: str, origin: Any) -> None:
        """The hyp's __fpsimd_save_state() (the host's FPSIMD registers into
        the task's state) or __hyp_sve_save_guest() for an SVE guest."""
        self.save_regs(target, origin, with_sve=target == "guest" and self.config.guest_sve)

    def load_state(self, target: str, origin: Any) -> None:
        """kvm_hyp_handle_fpsimd(): __hyp_sve_restore_guest() for an SVE
        guest, __fpsimd_restore_state() otherwise (SVE high bits zeroed)."""
        self.load_regs(target, origin, with_sve=target == "guest" and self.config.guest_sve)

    # ---- the guest ---------------------------------------------------------

    def guest_uses_fp(self) -> None:
        if not self.config.guest_sve:
            super().guest_uses_fp()
            return
        c = self.c
        self.check_read(GUEST, c.v, "the guest")
        self.check_read(GUEST, c.z, "the guest", "SVE high bits")
        c.v = c.z = self.world.fresh(GUEST)
        self.op("write", GUEST, c.v, "the guest")

    def guest_exited(self) -> None:
        """VHE __deactivate_traps(): CPACR_EL1 = CPACR_EL1_DEFAULT, so EL0
        SVE traps again whatever the host had."""
        if self.config.sve:
            self._set_zen(False, "__deactivate_traps()")

    # ---- user space ----------------------------------------------------------

    def user_fp(self, task) -> None:
        """FP code. While the task's SVE state is live its code is SVE code
        (user_sve()); otherwise an FPSIMD write zeroes the high bits."""
        if task.sve_live:
            self.user_sve(task)
            return
        c = self.c
        self.check_read(task.name, c.v, "user space")
        c.v = self.world.fresh(task.name)
        c.z = ZERO
        self.op("write", task.name, c.v, "user space")

    @classmethod
    def user_sve_enabled(cls, config, world, task) -> bool:
        """SVE code: it traps or not depending on the CPU's ZEN."""
        return config.sve

    def user_sve(self, task) -> None:
        """SVE code runs: trapped by ZEN into do_sve_acc() first if disabled."""
        if not self.c.zen:
            self.do_sve_acc(task)
        c = self.c
        self.check_read(task.name, c.v, "user space")
        if task.sve_live:
            self.check_read(task.name, c.z, "user space", "SVE high bits")
        c.v = c.z = self.world.fresh(task.name)
        task.sve_live = True
        self.op("write", task.name, c.v, "user space")

    def do_sve_acc(self, task) -> None:
        """do_sve_acc(): zero the saved SVE state (sve_alloc(current, true));
        set TIF_SVE (a warning if it was set: the access
        should not have trapped), then sve_init_regs(): live state: zero the
        SVE high bits and bind (ZEN enabled); otherwise convert the saved
        state to SVE (high bits zero, fp_type SVE) and flush the task's
        binding; back to user space through fpsimd_restore_current_state()."""
        origin = "do_sve_acc()"
        # sve_alloc(current, true): the task's sve_state is zeroed first,
        # whichever way sve_init_regs() then goes.
        task.saved_sv = task.saved_z = ZERO
        self.bh_disable(origin)
        if task.sve:
            self.violate("kernel-rules", "SVE access trapped with TIF_SVE set (do_sve_acc(): WARN_ON)", origin)
        task.sve = True
        if not task.foreign:
            self.c.z = ZERO  # sve_flush_live()
            self.bind(f"task:{task.name}", origin)
        else:
            task.saved_sv, task.saved_z = task.saved_v, ZERO  # fpsimd_to_sve()
            task.fp_type = "sve"
            task.last_cpu = None  # fpsimd_flush_task_state()
            task.foreign = True
        self.bh_enable(origin)
        self.restore_current_state()
