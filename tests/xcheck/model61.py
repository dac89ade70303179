#!/usr/bin/env python3
"""Independent transcription of the fpdsl 6.1 models (host machinery of Linux
6.1.192 as Debian ships it, and of 6.1.134, the last 6.1.y before the 2025
KVM FPSIMD series was backported in 6.1.135, plus KVM's hooks of each),
written from the kernel source, not from fpdsl's host code.  Self-contained:
no fpdsl import.

Shared abstraction (from fpdsl's docs / runloop.py, as in
tests/xcheck/model612.py): values are (owner, version) tokens, every read must
be the reader's last write; events user_fp, user_sve, syscall, ret_to_user,
ioctl, enter, guest_fp, exit, exit_irq, resume, to_user, irq, switch;
properties lost-state / leaked-state / kernel-rules / preemptibility;
lost/leaked states are not expanded; the canonical key collapses stale
versions and is laid out like fpdsl's exact key.

Kernel sources transcribed (Debian 6.1.192-3, arch/arm64):
  kernel/syscall.c       do_el0_svc -> fp_user_discard(): clear TIF_SVE,
                         sve_user_disable() (no SME)
  kernel/fpsimd.c        get/put_cpu_fpsimd_context (local_bh + fpsimd_context_busy,
                         WARN_ONs), __get/__put_cpu_fpsimd_context,
                         have_cpu_fpsimd_context, task_fpsimd_load (by TIF_SVE,
                         WARN_ON_ONCE on fp_type), fpsimd_save (to_save, *fp_type),
                         fpsimd_thread_switch, fpsimd_bind_task_to_cpu,
                         fpsimd_bind_state_to_cpu, fpsimd_restore_current_state,
                         fpsimd_flush_task_state, fpsimd_flush_cpu_state,
                         fpsimd_save_and_flush_cpu_state (local_irq_save, F1/F2),
                         kernel_neon_begin/end, do_sve_acc/sve_alloc/sve_init_regs,
                         fpsimd_to_sve
  include/asm/simd.h     may_use_simd(): !in_hardirq && !irqs_disabled && !fpsimd_context_busy
  kvm/fpsimd.c           kvm_arch_vcpu_load_fp/ctxflush/ctxsync/put_fp
  kvm/arm.c              kvm_arch_vcpu_ioctl_run: ctxflush with IRQs off, ctxsync
                         before local_irq_enable()
  kvm/hyp/include/hyp/switch.h  kvm_hyp_handle_fpsimd (6.1.134: + host save)
  kvm/hyp/vhe/switch.c   __activate_traps (FPEN unless guest owns the regs),
                         __deactivate_traps (CPACR_EL1_DEFAULT: ZEN_EL0EN clear)
6.1.134 (reconstructed pre-image, /work/notes/raw61/pre-6.1.134 and
net-6.1.134-to-6.1.192.diff): no fp_type, no to_save (fpsimd_save by TIF_SVE
of current), fpsimd_save_and_flush_cpu_state without local_irq_save, KVM with
FP_STATE_HOST_OWNED / HOST_SVE_ENABLED / TIF_SVE management.
"""

from __future__ import annotations

import sys

ZERO = ("0", 0)
KVAL = ("K", 0)
A, G = "A", "G"
PROPS = ("lost-state", "leaked-state", "kernel-rules", "preemptibility")
CORRUPT = {"lost-state", "leaked-state"}


class Cfg:
    def __init__(self, kernel="v6.1", cpus=1, tasks=1, runs=1, exits=2, sve=True, guest_sve=False):
        self.kernel, self.cpus, self.tasks, self.runs, self.exits = kernel, cpus, tasks, runs, exits
        self.sve, self.guest_sve = sve, guest_sve
        self.typed = kernel == "v6.1"  # fp_type / to_save exist (6.1.135 on)

    def names(self):
        return [A] + [f"B{i + 1}" for i in range(self.tasks)]


# ---------------------------------------------------------------- state
class S:
    """Whole world as plain dicts; clone() deep-copies."""

    def __init__(self):
        self.vers = {}
        self.cpus = []
        self.tasks = {}
        self.vcpu = {}
        self.runs = 0
        self.exits = 0

    def clone(self):
        s = S.__new__(S)
        s.vers = dict(self.vers)
        s.cpus = [dict(c) for c in self.cpus]
        s.tasks = {n: dict(t) for n, t in self.tasks.items()}
        s.vcpu = dict(self.vcpu)
        s.vcpu["flags"] = dict(self.vcpu["flags"])
        s.runs, s.exits = self.runs, self.exits
        return s


def new_cpu():
    return {
        "v": ZERO,  # V0-V31
        "z": ZERO,  # Z high bits (+P/FFR)
        "st": None,  # fpsimd_last_state.st owner: None, task name or G
        "to_save": "current",  # fpsimd_last_state.to_save (6.1.192 only)
        "busy": False,  # fpsimd_context_busy
        "zen": False,  # CPACR_EL1.ZEN_EL0EN
        "irq": 0,
        "bh": 0,
        "preempt": 0,
        "softirq_pending": False,
        "irq_pending": False,
        "curr": None,
        "in_softirq": False,
    }


def new_task():
    return {
        "fv": ZERO,  # thread.uw.fpsimd_state vregs
        "sv": ZERO,  # thread.sve_state, V part
        "sz": ZERO,  # thread.sve_state, high bits
        "foreign": True,  # TIF_FOREIGN_FPSTATE
        "tif_sve": False,  # TIF_SVE
        "fpsimd_cpu": None,  # thread.fpsimd_cpu (None: NR_CPUS)
        "pc": "kernel",
        "cpu": None,
        "fp_type": "fpsimd",  # thread.fp_type (6.1.192 only)
        "sve_live": False,
    }


def initial(cfg, flags):
    s = S()
    s.cpus = [new_cpu() for _ in range(cfg.cpus)]
    for n in cfg.names():
        t = new_task()
        s.tasks[n] = t
        s.vers[n] = 1
        t["fv"] = (n, 1)
    s.vers[G] = 1
    s.vcpu = {"gv": (G, 1), "gz": (G, 1) if cfg.guest_sve else ZERO, "trap": True, "flags": dict(flags), "loaded": None}
    a = s.tasks[A]
    a.update(cpu=0, foreign=False, fpsimd_cpu=0, pc="user", fv=ZERO)
    s.cpus[0].update(curr=A, v=(A, 1), st=A)
    return s


# ---------------------------------------------------------------- machine
class M:
    def __init__(self, s, cfg, hooks):
        self.s, self.cfg, self.hooks = s, cfg, hooks
        self.viol = []
        self.ci = 0

    @property
    def c(self):
        return self.s.cpus[self.ci]

    def cur(self):
        n = self.c["curr"]
        return None if n is None else self.s.tasks[n]

    def violate(self, prop, msg, subj=""):
        self.viol.append((prop, subj, msg))

    def fresh(self, owner):
        self.s.vers[owner] = self.s.vers.get(owner, 0) + 1
        return (owner, self.s.vers[owner])

    def read(self, who, val, what):
        if val[0] == who:
            if val[1] != self.s.vers.get(who, 0):
                self.violate("lost-state", f"{who} reads stale {val} from {what}", who)
        elif val[0] == "0":
            self.violate("lost-state", f"{who} reads zeroes from {what}", who)
        else:
            self.violate("lost-state", f"{who} reads {val} from {what}", who)
            self.violate("leaked-state", f"{who} reads {val[0]}'s data from {what}", who)

    def store_check(self, owner, val):
        if val[0] not in (owner, "0"):
            self.violate("leaked-state", f"{val} saved into {owner}'s storage", owner)

    # ---- current's thread flags (idle: TIF_FOREIGN_FPSTATE set, no TIF_SVE)
    def foreign(self):
        t = self.cur()
        return True if t is None else t["foreign"]

    def set_foreign(self, v):
        t = self.cur()
        if t is not None:
            t["foreign"] = v

    def tif_sve(self):
        t = self.cur()
        return False if t is None else t["tif_sve"]

    def set_tif_sve(self, v):
        t = self.cur()
        if t is not None:
            t["tif_sve"] = v

    def irqs_disabled(self):
        return self.c["irq"] > 0

    def preemptible(self):
        # preempt_count() == 0 (preempt + softirq counts) && !irqs_disabled()
        c = self.c
        return c["preempt"] == 0 and c["bh"] == 0 and c["irq"] == 0 and not c["in_softirq"]

    # ---- counts
    def preempt_disable(self):
        self.c["preempt"] += 1

    def preempt_enable(self):
        self.c["preempt"] -= 1
        if self.c["preempt"] < 0:
            self.violate("kernel-rules", "preempt count underflow")
            self.c["preempt"] = 0

    def local_irq_disable(self):
        self.c["irq"] += 1

    def local_irq_enable(self):
        c = self.c
        c["irq"] -= 1
        if c["irq"] < 0:
            self.violate("kernel-rules", "irq depth underflow")
            c["irq"] = 0
        if c["irq"] == 0 and c["irq_pending"]:
            c["irq_pending"] = False
            self.hardirq()

    local_irq_save = local_irq_disable
    local_irq_restore = local_irq_enable

    def local_bh_disable(self):
        self.c["bh"] += 1

    def local_bh_enable(self):
        c = self.c
        if c["irq"] > 0:
            self.violate("kernel-rules", "local_bh_enable() with IRQs disabled")
        c["bh"] -= 1
        if c["bh"] == 0 and c["softirq_pending"] and not c["in_softirq"] and c["irq"] == 0:
            c["softirq_pending"] = False
            self.do_softirq()

    # ---- fpsimd.c: the CPU FPSIMD context
    def _get_cpu_fpsimd_context_nobh(self):
        busy, self.c["busy"] = self.c["busy"], True
        if busy:
            self.violate("kernel-rules", "__get_cpu_fpsimd_context(): context already busy (WARN_ON)")

    def _put_cpu_fpsimd_context_nobh(self):
        busy, self.c["busy"] = self.c["busy"], False
        if not busy:
            self.violate("kernel-rules", "__put_cpu_fpsimd_context(): context not busy (WARN_ON)")

    def get_cpu_fpsimd_context(self):
        self.local_bh_disable()  # !CONFIG_PREEMPT_RT
        self._get_cpu_fpsimd_context_nobh()

    def put_cpu_fpsimd_context(self):
        self._put_cpu_fpsimd_context_nobh()
        self.local_bh_enable()

    def have_cpu_fpsimd_context(self):
        return not self.preemptible() and self.c["busy"]

    def may_use_simd(self):
        # !in_hardirq() (interrupt handlers are whole events here) && !irqs_disabled() && !fpsimd_context_busy
        return not self.irqs_disabled() and not self.c["busy"]

    # ---- softirq wanting kernel-mode NEON
    def hardirq(self):
        """An interrupt raising a softirq that wants kernel-mode NEON; irq_exit()
        runs it unless softirqs are masked or already being served."""
        c = self.c
        if c["bh"] == 0 and not c["in_softirq"]:
            self.do_softirq()
        else:
            c["softirq_pending"] = True

    def do_softirq(self):
        c = self.c
        c["in_softirq"] = True
        if self.may_use_simd():  # crypto_simd_usable()
            self.kernel_neon_begin()
            c["v"], c["z"] = KVAL, ZERO  # AdvSIMD writes zero the Z high bits
            self.kernel_neon_end()
        c["in_softirq"] = False

    # ---- fpsimd.c
    def fpsimd_save(self):
        if not self.have_cpu_fpsimd_context():
            self.violate("kernel-rules", "fpsimd_save() without the CPU FPSIMD context (WARN_ON)")
        if self.foreign():
            return
        c = self.c
        last = c["st"]
        if last is None:
            self.violate("kernel-rules", "fpsimd_save(): current live but fpsimd_last_state.st NULL")
            return
        if self.cfg.typed:
            save_sve = (c["to_save"] == "current" and self.tif_sve()) or c["to_save"] == "sve"
        else:
            save_sve = self.tif_sve()  # 6.1.134: if (test_thread_flag(TIF_SVE))
        if last == G:
            # last->st = &vcpu->arch.ctxt.fp_regs, last->sve_state = vcpu->arch.sve_state
            self.store_check(G, c["v"])
            self.s.vcpu["gv"] = c["v"]
            if save_sve:
                self.store_check(G, c["z"])
                self.s.vcpu["gz"] = c["z"]
            return  # *last->fp_type = vcpu->arch.fp_type: not part of the model
        t = self.s.tasks[last]
        self.store_check(last, c["v"])
        if save_sve:  # sve_save_state(last->sve_state ...)
            self.store_check(last, c["z"])
            t["sv"], t["sz"] = c["v"], c["z"]
            if self.cfg.typed:
                t["fp_type"] = "sve"
        else:  # fpsimd_save_state(last->st)
            t["fv"] = c["v"]
            if self.cfg.typed:
                t["fp_type"] = "fpsimd"

    def fpsimd_flush_cpu_state(self):
        self.c["st"] = None
        self.set_foreign(True)  # set_thread_flag(TIF_FOREIGN_FPSTATE)

    def fpsimd_flush_task_state(self, t):
        t["fpsimd_cpu"] = None
        t["foreign"] = True

    def fpsimd_bind_task_to_cpu(self):
        c = self.c
        c["st"] = c["curr"]
        if self.cfg.typed:
            c["to_save"] = "current"
        self.cur()["fpsimd_cpu"] = self.ci
        if self.cfg.sve:
            c["zen"] = self.tif_sve()  # sve_user_enable() / sve_user_disable()

    def fpsimd_bind_state_to_cpu_guest(self):
        c = self.c
        if not (c["in_softirq"] or c["bh"] > 0) and not self.irqs_disabled():
            self.violate("kernel-rules", "fpsimd_bind_state_to_cpu() with !in_softirq() && !irqs_disabled()")
        c["st"] = G
        if self.cfg.typed:
            c["to_save"] = "sve" if self.cfg.guest_sve else "fpsimd"

    def task_fpsimd_load(self):
        t = self.cur()
        c = self.c
        if not self.have_cpu_fpsimd_context():
            self.violate("kernel-rules", "task_fpsimd_load() without the CPU FPSIMD context (WARN_ON)")
        restore_sve = self.cfg.sve and t["tif_sve"]
        if self.cfg.typed and t["fp_type"] != ("sve" if restore_sve else "fpsimd"):
            self.violate("kernel-rules", "task_fpsimd_load(): fp_type disagrees with TIF_SVE (WARN_ON_ONCE)")
        if restore_sve:
            c["v"], c["z"] = t["sv"], t["sz"]  # sve_load_state(sve_pffr(&current->thread) ...)
        else:
            c["v"], c["z"] = t["fv"], ZERO  # fpsimd_load_state(&current->thread.uw.fpsimd_state)

    def fpsimd_restore_current_state(self):
        self.get_cpu_fpsimd_context()
        t = self.cur()
        if t["foreign"]:  # test_and_clear_thread_flag(TIF_FOREIGN_FPSTATE)
            t["foreign"] = False
            self.task_fpsimd_load()
            self.fpsimd_bind_task_to_cpu()
        self.put_cpu_fpsimd_context()

    def fpsimd_thread_switch(self, nxt):
        # called from __switch_to() inside __schedule(): preemption and IRQs off
        self.c["irq"] += 1
        self._get_cpu_fpsimd_context_nobh()
        self.fpsimd_save()
        if nxt is not None:
            t = self.s.tasks[nxt]
            wrong_task = self.c["st"] != nxt
            wrong_cpu = t["fpsimd_cpu"] != self.ci
            t["foreign"] = wrong_task or wrong_cpu
        self._put_cpu_fpsimd_context_nobh()
        self.c["irq"] -= 1

    def fpsimd_save_and_flush_cpu_state(self):
        if self.preemptible():
            self.violate("kernel-rules", "fpsimd_save_and_flush_cpu_state() preemptible (WARN_ON)")
        if self.cfg.typed:
            self.local_irq_save()
        self._get_cpu_fpsimd_context_nobh()
        self.fpsimd_save()
        self.fpsimd_flush_cpu_state()
        self._put_cpu_fpsimd_context_nobh()
        if self.cfg.typed:
            self.local_irq_restore()

    def kernel_neon_begin(self):
        if not self.may_use_simd():
            self.violate("kernel-rules", "kernel_neon_begin() with !may_use_simd() (BUG_ON)")
        self.get_cpu_fpsimd_context()
        self.fpsimd_save()
        self.fpsimd_flush_cpu_state()

    def kernel_neon_end(self):
        self.put_cpu_fpsimd_context()

    def do_sve_acc(self):
        t = self.cur()
        t["sv"], t["sz"] = ZERO, ZERO  # sve_alloc(current, true): memset / kzalloc
        self.get_cpu_fpsimd_context()
        if t["tif_sve"]:
            self.violate("kernel-rules", "do_sve_acc() with TIF_SVE set (WARN_ON)")
        t["tif_sve"] = True
        # sve_init_regs()
        if not t["foreign"]:
            self.c["z"] = ZERO  # sve_flush_live(true, vq_minus_one)
            self.fpsimd_bind_task_to_cpu()
        else:
            t["sv"] = t["fv"]  # fpsimd_to_sve(current)
            if self.cfg.typed:
                t["fp_type"] = "sve"
            self.fpsimd_flush_task_state(t)
        self.put_cpu_fpsimd_context()
        # ret_to_user -> do_notify_resume(): _TIF_FOREIGN_FPSTATE
        if t["foreign"]:
            self.fpsimd_restore_current_state()

    # ---- syscall.c
    def fp_user_discard(self):
        if not self.cfg.sve:
            return
        self.set_tif_sve(False)
        self.c["zen"] = False  # sve_user_disable()


# ---------------------------------------------------------------- KVM hooks
class Hooks61:
    """kvm_v6_1.fp = 6.1.192 arch/arm64/kvm/fpsimd.c (fp_state GUEST_OWNED <=> FP_ENABLED)."""

    name = "kvm_v6_1"
    kernel = "v6.1"
    flags = (("FP_ENABLED", False),)

    @staticmethod
    def load(m):  # kvm_arch_vcpu_load_fp()
        m.fpsimd_save_and_flush_cpu_state()
        m.s.vcpu["flags"]["FP_ENABLED"] = False  # fp_state = FP_STATE_FREE

    @staticmethod
    def enter(m):
        f = m.s.vcpu["flags"]
        if m.foreign():  # kvm_arch_vcpu_ctxflush_fp()
            f["FP_ENABLED"] = False
        m.s.vcpu["trap"] = not f["FP_ENABLED"]  # __activate_traps(): FPEN only if guest_owns_fp_regs()

    @staticmethod
    def trap(m):  # kvm_hyp_handle_fpsimd(): no host save
        m.s.vcpu["trap"] = False
        load_guest(m)
        m.s.vcpu["flags"]["FP_ENABLED"] = True

    @staticmethod
    def exit(m):  # kvm_arch_vcpu_ctxsync_fp(), then local_irq_enable()
        if not m.irqs_disabled():
            m.violate("kernel-rules", "kvm_arch_vcpu_ctxsync_fp() with IRQs on (WARN_ON_ONCE)")
        if m.s.vcpu["flags"]["FP_ENABLED"]:
            m.fpsimd_bind_state_to_cpu_guest()
            m.set_foreign(False)
        m.local_irq_enable()

    @staticmethod
    def put(m):  # kvm_arch_vcpu_put_fp()
        m.local_irq_save()
        if m.s.vcpu["flags"]["FP_ENABLED"]:
            m.fpsimd_save_and_flush_cpu_state()
        m.local_irq_restore()


class Hooks61134:
    """kvm_v6_1_134.fp = 6.1.134 arch/arm64/kvm/fpsimd.c + hyp switch.h (the pre-image of the 6.1.135 series)."""

    name = "kvm_v6_1_134"
    kernel = "v6.1.134"
    flags = (("HOST_OWNED", False), ("GUEST_OWNED", False), ("HOST_SVE_ENABLED", False))

    @staticmethod
    def load(m):  # kvm_arch_vcpu_load_fp()
        f = m.s.vcpu["flags"]
        if m.tif_sve():
            m.violate("kernel-rules", "kvm_arch_vcpu_load_fp() with TIF_SVE (BUG_ON)")
        f["HOST_OWNED"], f["GUEST_OWNED"] = True, False  # fp_state = FP_STATE_HOST_OWNED
        f["HOST_SVE_ENABLED"] = m.c["zen"]  # read_sysreg(cpacr_el1) & CPACR_EL1_ZEN_EL0EN

    @staticmethod
    def enter(m):
        f = m.s.vcpu["flags"]
        if m.foreign():  # kvm_arch_vcpu_ctxflush_fp(): FP_STATE_FREE
            f["HOST_OWNED"] = f["GUEST_OWNED"] = False
        m.s.vcpu["trap"] = not f["GUEST_OWNED"]

    @staticmethod
    def trap(m):  # kvm_hyp_handle_fpsimd()
        f = m.s.vcpu["flags"]
        m.s.vcpu["trap"] = False
        if f["HOST_OWNED"]:
            # __fpsimd_save_state(vcpu->arch.host_fpsimd_state): the KVM_RUN
            # caller's thread.uw.fpsimd_state (kvm_arch_vcpu_run_map_fp())
            m.store_check(A, m.c["v"])
            m.s.tasks[A]["fv"] = m.c["v"]
        load_guest(m)
        f["HOST_OWNED"], f["GUEST_OWNED"] = False, True

    @staticmethod
    def exit(m):  # kvm_arch_vcpu_ctxsync_fp(), then local_irq_enable()
        if not m.irqs_disabled():
            m.violate("kernel-rules", "kvm_arch_vcpu_ctxsync_fp() with IRQs on (WARN_ON_ONCE)")
        if m.s.vcpu["flags"]["GUEST_OWNED"]:
            m.fpsimd_bind_state_to_cpu_guest()
            m.set_foreign(False)
            m.set_tif_sve(m.cfg.guest_sve)  # update_thread_flag(TIF_SVE, vcpu_has_sve(vcpu))
        m.local_irq_enable()

    @staticmethod
    def put(m):  # kvm_arch_vcpu_put_fp()
        f = m.s.vcpu["flags"]
        m.local_irq_save()
        if f["GUEST_OWNED"]:
            m.fpsimd_save_and_flush_cpu_state()
        elif m.cfg.sve:  # has_vhe() && system_supports_sve()
            m.c["zen"] = f["HOST_SVE_ENABLED"]
        m.set_tif_sve(False)  # update_thread_flag(TIF_SVE, 0)
        m.local_irq_restore()


def load_guest(m):
    c, v = m.c, m.s.vcpu
    if m.cfg.guest_sve:
        c["v"], c["z"] = v["gv"], v["gz"]  # __hyp_sve_restore_guest()
    else:
        c["v"], c["z"] = v["gv"], ZERO  # __fpsimd_restore_state()


# ---------------------------------------------------------------- events
PREEMPTIBLE = {"user", "kernel", "loop", "handle"}


def successors(s, cfg):
    ev = []
    for ci, c in enumerate(s.cpus):
        n = c["curr"]
        if n is not None:
            pc = s.tasks[n]["pc"]
            if pc == "user":
                ev.append(("user_fp", n, None))
                if cfg.sve:
                    ev.append(("user_sve", n, None))
                if n == A:
                    if cfg.runs is None or s.runs < cfg.runs:
                        ev.append(("ioctl", n, None))
                else:
                    ev.append(("syscall", n, None))
            elif pc == "kernel":
                ev.append(("ret_to_user", n, None))
            elif pc == "loop":
                ev.append(("enter", n, None))
            elif pc == "guest":
                ev += [("guest_fp", n, None), ("exit", n, None), ("exit_irq", n, None)]
            elif pc == "handle":
                if cfg.exits is None or s.exits < cfg.exits:
                    ev.append(("resume", n, None))
                ev.append(("to_user", n, None))
        if c["irq"] == 0 and not (n is not None and s.tasks[n]["pc"] == "guest"):
            ev.append(("irq", ci, None))
        ok = n is None or (s.tasks[n]["pc"] in PREEMPTIBLE and c["preempt"] == 0 and c["bh"] == 0 and c["irq"] == 0)
        if ok:
            for on, t in s.tasks.items():
                if t["cpu"] is None:
                    ev.append(("switch", ci, on))
            if n is not None:
                ev.append(("switch", ci, None))
    return ev


def vcpu_load(m):
    m.preempt_disable()
    m.s.vcpu["loaded"] = m.ci
    m.hooks.load(m)
    m.preempt_enable()


def vcpu_put(m, irqs_off):
    if irqs_off:
        m.c["irq"] += 1
    m.preempt_disable()
    m.hooks.put(m)
    m.s.vcpu["loaded"] = None
    m.preempt_enable()
    if irqs_off:
        m.c["irq"] -= 1


def user_sve(m, t, name):
    if not m.c["zen"]:
        m.do_sve_acc()  # EL0 SVE access trap
    m.read(name, m.c["v"], "V registers")
    if t["sve_live"]:
        m.read(name, m.c["z"], "SVE high bits")
    val = m.fresh(name)
    m.c["v"] = m.c["z"] = val
    t["sve_live"] = True


def syscall_entry(m, t):
    m.fp_user_discard()  # do_el0_svc()
    t["sve_live"] = False  # the SVE ABI: only the FPSIMD subset survives a syscall
    t["pc"] = "kernel"


def step(s, ev, cfg, hooks):
    s = s.clone()
    m = M(s, cfg, hooks)
    kind, actor, arg = ev
    m.ci = actor if kind in ("irq", "switch") else s.tasks[actor]["cpu"]
    if kind == "user_fp":
        t = s.tasks[actor]
        if t["sve_live"]:
            user_sve(m, t, actor)
        else:
            m.read(actor, m.c["v"], "V registers")
            m.c["v"] = m.fresh(actor)
            m.c["z"] = ZERO
    elif kind == "user_sve":
        user_sve(m, s.tasks[actor], actor)
    elif kind == "syscall":
        syscall_entry(m, s.tasks[actor])
    elif kind == "ret_to_user":
        m.fpsimd_restore_current_state()
        s.tasks[actor]["pc"] = "user"
    elif kind == "ioctl":
        syscall_entry(m, s.tasks[actor])
        if cfg.runs is not None:
            s.runs += 1
        s.exits = 0
        vcpu_load(m)
        s.tasks[actor]["pc"] = "loop"
    elif kind == "enter":
        m.preempt_disable()
        m.local_irq_disable()
        hooks.enter(m)
        s.tasks[actor]["pc"] = "guest"
    elif kind == "guest_fp":
        if s.vcpu["trap"]:
            hooks.trap(m)
        c = m.c
        m.read(G, c["v"], "V registers")
        if cfg.guest_sve:
            m.read(G, c["z"], "SVE high bits")
        val = m.fresh(G)
        c["v"] = val
        c["z"] = val if cfg.guest_sve else ZERO
    elif kind in ("exit", "exit_irq"):
        if cfg.exits is not None:
            s.exits += 1
        m.c["zen"] = False  # VHE __deactivate_traps(): CPACR_EL1_DEFAULT
        if kind == "exit_irq":
            m.c["irq_pending"] = True
        hooks.exit(m)
        m.preempt_enable()
        s.tasks[actor]["pc"] = "handle"
    elif kind == "resume":
        s.tasks[actor]["pc"] = "loop"
    elif kind == "to_user":
        vcpu_put(m, False)
        m.fpsimd_restore_current_state()
        s.tasks[actor]["pc"] = "user"
        s.exits = 0
    elif kind == "irq":
        m.hardirq()
        t = m.cur()
        if t is not None and t["pc"] == "user":
            m.fpsimd_restore_current_state()
    elif kind == "switch":
        c = m.c
        prev = c["curr"]
        if prev is not None and s.vcpu["loaded"] == m.ci and s.tasks[prev]["pc"] in ("loop", "handle"):
            vcpu_put(m, True)  # kvm_sched_out preempt notifier
        m.fpsimd_thread_switch(arg)
        if prev is not None:
            s.tasks[prev]["cpu"] = None
        c["curr"] = arg
        if arg is not None:
            t = s.tasks[arg]
            t["cpu"] = m.ci
            if t["pc"] in ("loop", "handle"):
                vcpu_load(m)  # kvm_sched_in
            elif t["pc"] == "user":
                m.fpsimd_restore_current_state()
    a = s.tasks[A]
    if a["cpu"] is not None and a["pc"] in ("loop", "handle"):
        c = s.cpus[a["cpu"]]
        if c["preempt"] or c["bh"] or c["irq"]:
            m.violate("preemptibility", "run loop not preemptible")
    return s, m.viol


# ---------------------------------------------------------------- canonical key
def canon(val, vers):
    o, v = val
    if o in ("0", "K"):
        return o
    return o if v == vers.get(o, 0) else o + "~"


def key(s, flag_names):
    """Laid out like fpdsl's exact key (1 CPU, 1 other task: no permutation).
    Fields fpdsl has that 6.1 lacks get constants: bound_sve False, KVM host
    context '0'; neon_busy is fpsimd_context_busy (False between events)."""
    vs = s.vers
    out = []
    for c in s.cpus:
        st = {None: "", G: "guest"}.get(c["st"], c["st"])
        out += (
            canon(c["v"], vs),
            canon(c["z"], vs),
            st,
            False,
            c["busy"],
            c["irq"],
            c["bh"],
            c["preempt"],
            c["softirq_pending"],
            c["irq_pending"],
            c["curr"] or "",
            "0",
            c["zen"],
            c["to_save"],
        )
    for n in sorted(s.tasks):
        t = s.tasks[n]
        out += (
            canon(t["fv"], vs),
            canon(t["sz"], vs),
            t["foreign"],
            t["tif_sve"],
            -1 if t["fpsimd_cpu"] is None else t["fpsimd_cpu"],
            t["pc"],
            -1 if t["cpu"] is None else t["cpu"],
            t["fp_type"],
            t["sve_live"],
            canon(t["sv"], vs),
            False,  # TIF_KERNEL_FPSTATE: 6.1's kernel-mode NEON is not preemptible
            "0",
            -1,
        )
    v = s.vcpu
    out += [canon(v["gv"], vs), canon(v["gz"], vs), v["trap"]]
    out += [v["flags"][f] for f in flag_names]
    out += (-1 if v["loaded"] is None else v["loaded"], s.runs, s.exits)
    return tuple(out)


def explore(hooks, cfg, max_states=5_000_000, symmetry=True):
    """BFS as fpdsl's explorer. The key does no CPU/task renaming, so beyond
    1 CPU and 1 other task it equals fpdsl's key only with symmetry off."""
    if symmetry and (cfg.cpus != 1 or cfg.tasks != 1):
        raise SystemExit("only the default bound (1 CPU, 1 task) is canonicalised here; pass symmetry=False")
    fn = [f for f, _ in hooks.flags]
    init = initial(cfg, hooks.flags)
    k0 = key(init, fn)
    parent = {k0: None}
    frontier = [(k0, init)]
    ces = {}
    while frontier:
        nxt = []
        for k, s in frontier:
            for ev in successors(s, cfg):
                s2, viol = step(s, ev, cfg, hooks)
                k2 = key(s2, fn)
                corrupt = False
                for prop, subj, msg in viol:
                    corrupt = corrupt or prop in CORRUPT
                    if (prop, subj) not in ces:
                        ces[(prop, subj)] = (path(parent, k) + [ev], msg)
                if not corrupt and k2 not in parent:
                    parent[k2] = (k, ev)
                    nxt.append((k2, s2))
        frontier = nxt
        if len(parent) > max_states:
            break
    return parent, ces


def path(parent, k):
    out = []
    while parent[k] is not None:
        k, ev = parent[k]
        out.append(ev)
    return out[::-1]


HOOKS = {"kvm_v6_1": Hooks61, "kvm_v6_1_134": Hooks61134}


def run(policy: str, guest_sve: bool):
    hooks = HOOKS[policy]
    return explore(hooks, Cfg(kernel=hooks.kernel, guest_sve=guest_sve))


def states_and_counterexamples(policy: str, guest_sve: bool) -> tuple[set, dict]:
    """The canonical states reached and, per (property, victim), the
    shortest counterexample's events, at the default bound."""
    parent, ces = run(policy, guest_sve)
    return set(parent), {k: p for k, (p, _msg) in ces.items()}


def main(argv):
    for name in argv[1:] or ["kvm_v6_1", "kvm_v6_1_134"]:
        for guest_sve in (False, True):
            parent, ces = run(name, guest_sve)
            print(f"{name} guest_sve={guest_sve} states={len(parent)}")
            for (prop, subj), (events, msg) in sorted(ces.items()):
                evs = " ".join(f"{e[1]}:{e[0]}" + (f":{e[2]}" if e[0] == "switch" else "") for e in events)
                print(f"   {prop:<15} {subj:<3} len={len(events)}: {evs}\n      {msg}")


if __name__ == "__main__":
    main(sys.argv)
