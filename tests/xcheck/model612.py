#!/usr/bin/env python3
"""Independent transcription of the fpdsl 6.12 model (host machinery of Linux
6.12.118 / 6.12.0 plus KVM's hooks), written from the kernel source, not from
fpdsl's host code.  Self-contained: no fpdsl import.

Shared abstraction (from fpdsl's docs / runloop.py): values are (owner, version)
tokens, every read must be the reader's last write; events user_fp, user_sve,
syscall, ret_to_user, kneon_begin/use/end (a task's own kernel-mode NEON,
its values owned by "B1.k"), ioctl, enter, guest_fp, exit, exit_irq, resume, to_user,
irq, switch; properties lost-state / leaked-state / kernel-rules /
preemptibility; lost/leaked states are not expanded; canonical key collapses
stale versions.

Kernel sources transcribed (Debian 6.12.118, arch/arm64):
  kernel/entry-common.c  el0_svc, fpsimd_syscall_enter/exit (6.12.118);
                         6.12.0: fp_user_discard() in el0_svc
  kernel/fpsimd.c        task_fpsimd_load, fpsimd_save_user_state (6.12.0: +
                         !in_syscall()), fpsimd_bind_task_to_cpu,
                         fpsimd_bind_state_to_cpu, fpsimd_restore_current_state,
                         fpsimd_thread_switch, fpsimd_flush_cpu_state,
                         fpsimd_flush_task_state, fpsimd_save_and_flush_cpu_state,
                         kernel_neon_begin/end, do_sve_acc/sve_init_regs/sve_alloc,
                         fpsimd_to_sve/sve_to_fpsimd, fpsimd_kvm_prepare (6.12.0),
                         fpsimd_load_kernel_state/fpsimd_save_kernel_state
                         (TIF_KERNEL_FPSTATE, kernel_fpsimd_state/_cpu)
  include/asm/simd.h     may_use_simd
  kvm/fpsimd.c           kvm_arch_vcpu_load_fp/ctxflush/ctxsync/put_fp
  kvm/hyp/include/hyp/switch.h kvm_hyp_handle_fpsimd (+ 6.12.0 host save)
  kvm/hyp/vhe/switch.c   __activate_cptr_traps, __deactivate_traps ->
                         kvm_reset_cptr_el2 (CPACR = FPEN|ZEN_EL1EN: EL0 SVE traps)
"""

from __future__ import annotations

import sys

ZERO = ("0", 0)
KVAL = ("K", 0)
A, G = "A", "G"
PROPS = ("lost-state", "leaked-state", "kernel-rules", "preemptibility")
CORRUPT = {"lost-state", "leaked-state"}


class Cfg:
    def __init__(self, kernel="v6.12", cpus=1, tasks=1, runs=1, exits=2, sve=True, guest_sve=False):
        self.kernel, self.cpus, self.tasks, self.runs, self.exits = kernel, cpus, tasks, runs, exits
        self.sve, self.guest_sve = sve, guest_sve

    def names(self):
        return [A] + [f"B{i + 1}" for i in range(self.tasks)]


# ---------------------------------------------------------------- state
class S:
    """Whole world as plain dicts; clone() deep-copies."""

    def __init__(self):
        self.vers = {}
        self.cpus = []  # dicts
        self.tasks = {}  # name -> dict
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
    return dict(
        v=ZERO,
        z=ZERO,
        st=None,
        to_save="current",
        zen=False,
        irq=0,
        bh=0,
        preempt=0,
        softirq_pending=False,
        irq_pending=False,
        curr=None,
        in_softirq=False,
    )


def new_task():
    # uw.fpsimd_state V (fv); sve_state V part (sv) and high bits (sz)
    return dict(
        fv=ZERO,
        sv=ZERO,
        sz=ZERO,
        foreign=True,
        tif_sve=False,
        fpsimd_cpu=None,
        pc="kernel",
        cpu=None,
        fp_type="fpsimd",
        sve_live=False,
        kfp=False,  # TIF_KERNEL_FPSTATE
        kst=ZERO,  # thread.kernel_fpsimd_state
        kcpu=None,  # thread.kernel_fpsimd_cpu
    )


def initial(cfg, flags):
    s = S()
    s.cpus = [new_cpu() for _ in range(cfg.cpus)]
    for n in cfg.names():
        t = new_task()
        s.tasks[n] = t
        s.vers[n] = 1
        t["fv"] = (n, 1)
    s.vers[G] = 1
    s.vcpu = dict(gv=(G, 1), gz=(G, 1) if cfg.guest_sve else ZERO, trap=True, flags=dict(flags), loaded=None)
    a = s.tasks[A]
    a.update(cpu=0, foreign=False, fpsimd_cpu=0, pc="user", fv=ZERO)
    c = s.cpus[0]
    c.update(curr=A, v=(A, 1), st=A)
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

    # ---- thread flags of current (idle / kthread: TIF_FOREIGN always set, no TIF_SVE)
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

    def preemptible(self):
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

    get_cpu_fpsimd_context = local_bh_disable
    put_cpu_fpsimd_context = local_bh_enable

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
        # crypto_simd_usable() -> may_use_simd(): !in_hardirq() && !irqs_disabled()
        if c["irq"] == 0:
            self.kernel_neon_begin()
            c["v"], c["z"] = KVAL, ZERO  # AdvSIMD writes zero the Z high bits
            self.kernel_neon_end()
        c["in_softirq"] = False

    # ---- fpsimd.c
    def in_syscall(self):
        t = self.cur()
        return t is not None and t["pc"] != "user"

    def fpsimd_save_user_state(self):
        if self.preemptible():
            self.violate("kernel-rules", "fpsimd_save_user_state() preemptible (WARN_ON)")
        if self.foreign():
            return
        c = self.c
        last = c["st"]
        if last is None:
            self.violate("kernel-rules", "save with current live but nothing bound")
            return
        if self.cfg.kernel == "v6.12.0":
            sve = (c["to_save"] == "current" and self.tif_sve() and not self.in_syscall()) or c["to_save"] == "sve"
        else:
            sve = (c["to_save"] == "current" and self.tif_sve()) or c["to_save"] == "sve"
        if isinstance(last, tuple):  # a task's kernel_fpsimd_state (to_save FP_STATE_FPSIMD)
            self.store_check(last[1] + ".k", c["v"])
            self.s.tasks[last[1]]["kst"] = c["v"]
            return
        if last == G:
            self.store_check(G, c["v"])
            self.s.vcpu["gv"] = c["v"]
            if sve:
                self.store_check(G, c["z"])
                self.s.vcpu["gz"] = c["z"]
            return
        t = self.s.tasks[last]
        if sve:
            self.store_check(last, c["v"])
            self.store_check(last, c["z"])
            t["sv"], t["sz"], t["fp_type"] = c["v"], c["z"], "sve"
        else:
            self.store_check(last, c["v"])
            t["fv"], t["fp_type"] = c["v"], "fpsimd"

    def fpsimd_flush_cpu_state(self):
        self.c["st"] = None
        self.set_foreign(True)

    def sve_user_enable(self):
        self.c["zen"] = True

    def sve_user_disable(self):
        self.c["zen"] = False

    def fpsimd_bind_task_to_cpu(self):
        c = self.c
        c["st"] = c["curr"]
        c["to_save"] = "current"
        self.cur()["fpsimd_cpu"] = self.ci
        if self.cfg.sve:
            if self.tif_sve():
                self.sve_user_enable()
            else:
                self.sve_user_disable()

    def task_fpsimd_load(self):
        t = self.cur()
        c = self.c
        if t["kfp"]:
            self.violate("kernel-rules", "task_fpsimd_load() with TIF_KERNEL_FPSTATE (WARN_ON)")
        restore_sve = False
        if self.cfg.sve:
            if t["fp_type"] == "fpsimd":
                if t["tif_sve"]:
                    t["tif_sve"] = False
                    self.sve_user_disable()
            else:
                was = t["tif_sve"]
                t["tif_sve"] = True
                if not was:
                    self.violate(
                        "kernel-rules",
                        "task_fpsimd_load: FP_STATE_SVE without TIF_SVE (WARN_ON_ONCE)",
                        t is None or c["curr"],
                    )
                else:
                    self.sve_user_enable()
                restore_sve = True
        if restore_sve:
            c["v"], c["z"] = t["sv"], t["sz"]
        else:
            c["v"], c["z"] = t["fv"], ZERO

    def fpsimd_restore_current_state(self):
        self.get_cpu_fpsimd_context()
        t = self.cur()
        if t["foreign"]:
            t["foreign"] = False
            self.task_fpsimd_load()
            self.fpsimd_bind_task_to_cpu()
        self.put_cpu_fpsimd_context()

    def fpsimd_load_kernel_state(self, name):
        t, c = self.s.tasks[name], self.c
        if c["st"] == ("kernel", name) and t["kcpu"] == self.ci:
            return
        c["v"], c["z"] = t["kst"], ZERO  # fpsimd_load_state(): FPSIMD only

    def fpsimd_save_kernel_state(self, name):
        t, c = self.s.tasks[name], self.c
        self.store_check(name + ".k", c["v"])
        t["kst"] = c["v"]
        if not c["in_softirq"] and c["bh"] == 0 and c["irq"] == 0:
            self.violate("kernel-rules", "fpsimd_bind_state_to_cpu() with softirqs and IRQs on")
        c["st"], c["to_save"] = ("kernel", name), "fpsimd"
        t["kcpu"] = self.ci

    def fpsimd_thread_switch(self, nxt):
        # WARN_ON_ONCE(!irqs_disabled()): __schedule() runs with IRQs off
        self.c["irq"] += 1
        cur = self.cur()
        if cur is not None and cur["kfp"]:
            self.fpsimd_save_kernel_state(self.c["curr"])
        else:
            self.fpsimd_save_user_state()
        if nxt is not None:
            t = self.s.tasks[nxt]
            if t["kfp"]:
                self.fpsimd_flush_cpu_state()
                self.fpsimd_load_kernel_state(nxt)
            else:
                wrong_task = self.c["st"] != nxt
                wrong_cpu = t["fpsimd_cpu"] != self.ci
                t["foreign"] = wrong_task or wrong_cpu
        self.c["irq"] -= 1

    def fpsimd_save_and_flush_cpu_state(self):
        if self.preemptible():
            self.violate("kernel-rules", "fpsimd_save_and_flush_cpu_state() preemptible")
        self.local_irq_save()
        self.fpsimd_save_user_state()
        self.fpsimd_flush_cpu_state()
        self.local_irq_restore()

    def fpsimd_bind_state_to_cpu_guest(self):
        c = self.c
        if not c["in_softirq"] and c["bh"] == 0 and c["irq"] == 0:
            self.violate("kernel-rules", "fpsimd_bind_state_to_cpu() with softirqs and IRQs on")
        c["st"] = G
        c["to_save"] = "sve" if self.cfg.guest_sve else "fpsimd"

    def kernel_neon_begin(self):
        c = self.c
        if not (c["irq"] == 0):
            self.violate("kernel-rules", "kernel_neon_begin() with !may_use_simd()")
        self.get_cpu_fpsimd_context()
        t = self.cur()
        if t is not None and t["kfp"]:
            if not c["in_softirq"]:
                self.violate("kernel-rules", "kernel_neon_begin() nested outside a softirq (BUG_ON)")
            self.fpsimd_save_kernel_state(c["curr"])
        else:
            self.fpsimd_save_user_state()
            if t is not None and not c["in_softirq"]:
                t["kfp"] = True
        self.fpsimd_flush_cpu_state()
        self.put_cpu_fpsimd_context()

    def kernel_neon_end(self):
        t = self.cur()
        if t is None:
            return
        if self.c["in_softirq"] and t["kfp"]:
            self.fpsimd_load_kernel_state(self.c["curr"])
        else:
            t["kfp"] = False

    def fpsimd_kvm_prepare(self):  # 6.12.0
        if not self.cfg.sve:
            return
        self.get_cpu_fpsimd_context()
        t = self.cur()
        if t["tif_sve"]:
            t["tif_sve"] = False
            t["fv"] = t["sv"]  # sve_to_fpsimd(current): memory copy of the V part
            t["fp_type"] = "fpsimd"
        self.put_cpu_fpsimd_context()

    def do_sve_acc(self):
        t = self.cur()
        # sve_alloc(current, true): memset the whole of sve_state
        t["sv"], t["sz"] = ZERO, ZERO
        self.get_cpu_fpsimd_context()
        if t["tif_sve"]:
            self.violate("kernel-rules", "do_sve_acc() with TIF_SVE set (WARN_ON)")
        t["tif_sve"] = True
        # sve_init_regs()
        if not t["foreign"]:
            self.c["z"] = ZERO  # sve_flush_live()
            self.fpsimd_bind_task_to_cpu()
        else:
            t["sv"] = t["fv"]  # fpsimd_to_sve()
            t["fp_type"] = "sve"
            t["fpsimd_cpu"] = None  # fpsimd_flush_task_state()
            t["foreign"] = True
        self.put_cpu_fpsimd_context()
        # exit_to_user_mode(): do_notify_resume()
        if t["foreign"]:
            self.fpsimd_restore_current_state()

    # ---- entry code
    def syscall_enter(self):
        if not self.cfg.sve:
            return
        if self.tif_sve():
            self.c["z"] = ZERO  # sve_flush_live()
        if self.cfg.kernel != "v6.12.0":
            self.c["to_save"] = "fpsimd"  # fpsimd_syscall_enter()

    def syscall_exit(self):
        if self.cfg.kernel != "v6.12.0" and self.cfg.sve:
            self.c["to_save"] = "current"  # fpsimd_syscall_exit()


# ---------------------------------------------------------------- KVM hooks
class Hooks612:
    """kvm_v6_12.fp = 6.12.118 arch/arm64/kvm/fpsimd.c (fp_owner GUEST_OWNED <=> FP_ENABLED)."""

    name = "kvm_v6_12"
    kernel = "v6.12"
    flags = (("FP_ENABLED", False),)

    @staticmethod
    def load(m):  # kvm_arch_vcpu_load_fp()
        m.fpsimd_save_and_flush_cpu_state()
        m.s.vcpu["flags"]["FP_ENABLED"] = False  # fp_owner = FP_STATE_FREE

    @staticmethod
    def enter(m):
        f = m.s.vcpu["flags"]
        if m.foreign():  # kvm_arch_vcpu_ctxflush_fp()
            f["FP_ENABLED"] = False
        # __activate_cptr_traps(): FPEN only if guest_owns_fp_regs()
        m.s.vcpu["trap"] = not f["FP_ENABLED"]

    @staticmethod
    def trap(m):  # kvm_hyp_handle_fpsimd(): no host save (non-protected)
        m.s.vcpu["trap"] = False
        load_guest(m)
        m.s.vcpu["flags"]["FP_ENABLED"] = True

    @staticmethod
    def exit(m):  # kvm_arch_vcpu_ctxsync_fp(), then the run loop's local_irq_enable()
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


class Hooks6120:
    """kvm_v6_12_0.fp = v6.12 arch/arm64/kvm/fpsimd.c + hyp switch.h before the 2025 fix."""

    name = "kvm_v6_12_0"
    kernel = "v6.12.0"
    # HOST_SME_ENABLED: the SME blocks of load and put never run (no SME:
    # system_supports_sme() is false), so it stays clear.
    flags = (("HOST_OWNED", False), ("GUEST_OWNED", False), ("HOST_SVE_ENABLED", False), ("HOST_SME_ENABLED", False))

    @staticmethod
    def load(m):
        f = m.s.vcpu["flags"]
        m.fpsimd_kvm_prepare()
        f["HOST_OWNED"], f["GUEST_OWNED"] = True, False
        f["HOST_SVE_ENABLED"] = m.c["zen"]  # read_sysreg(cpacr_el1) & ZEN_EL0EN

    @staticmethod
    def enter(m):
        f = m.s.vcpu["flags"]
        if m.foreign():
            f["HOST_OWNED"] = f["GUEST_OWNED"] = False
        m.s.vcpu["trap"] = not f["GUEST_OWNED"]

    @staticmethod
    def trap(m):
        f = m.s.vcpu["flags"]
        m.s.vcpu["trap"] = False
        if f["HOST_OWNED"]:
            # kvm_hyp_save_fpsimd_host(): __fpsimd_save_state(host_data fpsimd_state
            # = &current->thread.uw.fpsimd_state)
            a = m.cur()
            m.store_check(m.c["curr"], m.c["v"])
            a["fv"] = m.c["v"]
        load_guest(m)
        f["HOST_OWNED"], f["GUEST_OWNED"] = False, True

    @staticmethod
    def exit(m):
        if m.s.vcpu["flags"]["GUEST_OWNED"]:
            m.fpsimd_bind_state_to_cpu_guest()
            m.set_foreign(False)
        m.local_irq_enable()

    @staticmethod
    def put(m):
        f = m.s.vcpu["flags"]
        m.local_irq_save()
        if f["GUEST_OWNED"]:
            m.fpsimd_save_and_flush_cpu_state()
        elif m.cfg.sve:  # has_vhe() && system_supports_sve()
            m.c["zen"] = f["HOST_SVE_ENABLED"]
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
                if s.tasks[n]["kfp"]:
                    ev += [("kneon_use", n, None), ("kneon_end", n, None)]
                else:
                    ev += [("ret_to_user", n, None), ("kneon_begin", n, None)]
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
        m.syscall_enter()
        s.tasks[actor]["sve_live"] = False
        s.tasks[actor]["pc"] = "kernel"
    elif kind == "ret_to_user":
        m.fpsimd_restore_current_state()
        m.syscall_exit()
        s.tasks[actor]["pc"] = "user"
    elif kind == "kneon_begin":
        m.kernel_neon_begin()
        m.c["v"], m.c["z"] = m.fresh(actor + ".k"), ZERO
    elif kind == "kneon_use":
        m.read(actor + ".k", m.c["v"], "V registers")
        m.c["v"], m.c["z"] = m.fresh(actor + ".k"), ZERO
    elif kind == "kneon_end":
        m.read(actor + ".k", m.c["v"], "V registers")
        m.kernel_neon_end()
    elif kind == "ioctl":
        m.syscall_enter()
        s.tasks[actor]["sve_live"] = False
        s.tasks[actor]["pc"] = "kernel"
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
        m.c["zen"] = False  # VHE __deactivate_traps() -> kvm_reset_cptr_el2()
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
        m.syscall_exit()
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
            vcpu_put(m, True)
        m.fpsimd_thread_switch(arg)
        if prev is not None:
            s.tasks[prev]["cpu"] = None
        c["curr"] = arg
        if arg is not None:
            t = s.tasks[arg]
            t["cpu"] = m.ci
            if t["pc"] in ("loop", "handle"):
                vcpu_load(m)
            elif t["pc"] == "user":
                m.fpsimd_restore_current_state()
    # preemptibility of the run loop
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
    """Laid out like fpdsl's exact key (1 CPU, 1 other task: no permutation)
    so the two state sets can be compared directly; fields fpdsl has that
    6.12 never changes are given their constant value (bound_sve False,
    kernel_neon_busy False, KVM host context '0')."""
    vs = s.vers
    out = []
    for c in s.cpus:
        st = c["st"]
        st = "k:" + st[1] if isinstance(st, tuple) else {None: "", G: "guest"}.get(st, st)
        out += (
            canon(c["v"], vs),
            canon(c["z"], vs),
            st,
            False,
            False,
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
            t["kfp"],
            canon(t["kst"], vs),
            -1 if t["kcpu"] is None else t["kcpu"],
        )
    v = s.vcpu
    out += [canon(v["gv"], vs), canon(v["gz"], vs), v["trap"]]
    out += [v["flags"][f] for f in flag_names]
    out += (-1 if v["loaded"] is None else v["loaded"], s.runs, s.exits)
    return tuple(out)


def explore(hooks, cfg, max_states=5_000_000):
    if cfg.cpus != 1 or cfg.tasks != 1:
        raise SystemExit("only the default bound (1 CPU, 1 task) is canonicalised here")
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


HOOKS = {"kvm_v6_12": Hooks612, "kvm_v6_12_0": Hooks6120}


def states_and_counterexamples(policy: str, guest_sve: bool) -> tuple[set, dict]:
    """The canonical states reached and, per (property, victim), the
    shortest counterexample's events, at the default bound."""
    hooks = HOOKS[policy]
    parent, ces = explore(hooks, Cfg(kernel=hooks.kernel, guest_sve=guest_sve))
    return set(parent), {k: p for k, (p, _msg) in ces.items()}


def main(argv):
    for name in argv[1:] or ["kvm_v6_12", "kvm_v6_12_0"]:
        for guest_sve in (False, True):
            states, ces = states_and_counterexamples(name, guest_sve)
            print(f"{name} guest_sve={guest_sve} states={len(states)}")
            for (prop, subj), events in sorted(ces.items()):
                print(f"   {prop:<15} {subj:<3} len={len(events)}: " + " ".join(f"{e[1]}:{e[0]}" for e in events))


if __name__ == "__main__":
    main(sys.argv)
