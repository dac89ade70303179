"""Canonical keys of worlds, for the explorer's visited set.

Two worlds get the same key exactly when one can be turned into the other by
(a) renaming CPUs and competing tasks (they are interchangeable), (b) changing
versions without changing which values are their owner's last write (only
that matters to the properties), and, with `Forget` rules, (c) changing
contents that no future step can read. Every rule maps a world to one that
behaves the same in every future (same events enabled, same violations, same
operations up to the forgotten contents), so merging them keeps verdicts and
the length of every shortest counterexample.

The key is a flat tuple of strings, booleans and small integers: cheap to
build, hash and compare."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from typing import TYPE_CHECKING

from fpdsl.model.values import KERNEL, VCPU_THREAD, Value, kernel_binding, kernel_owner

if TYPE_CHECKING:
    from fpdsl.model.state import Cpu, World


@dataclass(frozen=True)
class Forget:
    """Dead-value rules: contents the key leaves out because nothing can read
    them before they are overwritten.

    - task_sve_bits: a task's saved SVE high bits while it lacks TIF_SVE. They
      are read only by a TIF_SVE reload (restore_current_state()), and the only
      way to regain TIF_SVE, do_sve_acc(), zeroes them first. Needs policies
      that never set TIF_SVE themselves.
    - cpu_sve_bits: every CPU's SVE high bits while no task has TIF_SVE. They
      are read only for a task with TIF_SVE running on that CPU with its state
      live there. A task gains TIF_SVE only in do_sve_acc(), which reloads the
      registers of its CPU; on any other CPU it starts foreign (its
      fpsimd_state.cpu is the first CPU) and becomes live only by a reload
      there. Needs policies that never set TIF_SVE, clear TIF_FOREIGN_FPSTATE
      or bind the vcpu thread's state to a CPU themselves.
    - bound_sve: a CPU's "bound state had TIF_SVE", read only by
      sve_flush_cpu_state(). Needs policies that never call it.
    - last_cpu: a task's fpsimd_state.cpu while no CPU is bound to the task. It
      is read only as `cpu.bound == task and task.last_cpu == cpu`, false
      whatever last_cpu is, and binding the task to a CPU rewrites it.
    - to_save (6.x): a CPU's fpsimd_last_state.to_save while nothing is bound
      there. Only a save reads it, and a save with nothing bound saves
      nothing; a state becomes bound only by a bind, which writes to_save.
    - fpsimd_typed_sve_state (6.12): a task's thread.sve_state (its V part
      and high bits) while its fp_type is FP_STATE_FPSIMD. task_fpsimd_load()
      reads sve_state only for FP_STATE_SVE, and fp_type becomes
      FP_STATE_SVE only by writing all of sve_state (an SVE save, or
      do_sve_acc()'s fpsimd_to_sve()). The one other reader is
      fpsimd_kvm_prepare()'s sve_to_fpsimd(), which copies the V part of
      current's sve_state whatever fp_type says; KVM's hooks run with the
      vcpu thread current, so the vcpu thread's V part is kept unless
      `vcpu_thread_sve_v` (policies that never call fpsimd_kvm_prepare()),
      or, with `prepare_needs_tif_sve`, while the vcpu thread lacks TIF_SVE:
      sve_to_fpsimd() runs only under test_and_clear_thread_flag(TIF_SVE),
      and a task gains TIF_SVE only in do_sve_acc(), whose sve_alloc(current,
      true) rewrites sve_state, or by task_fpsimd_load() of an FP_STATE_SVE
      state (TIF_SVE follows fp_type). Needs policies that never set TIF_SVE.
      Not 6.1: its task_fpsimd_load() goes by TIF_SVE.
    - sve_typed_fpsimd_state (6.12): a task's thread.uw.fpsimd_state while
      its fp_type is FP_STATE_SVE. task_fpsimd_load() then loads sve_state
      (and sets TIF_SVE), and fp_type leaves FP_STATE_SVE only by an FPSIMD
      save or fpsimd_kvm_prepare()'s sve_to_fpsimd(), both of which write
      fpsimd_state. The other reader, do_sve_acc()'s fpsimd_to_sve(), is on
      its TIF_FOREIGN_FPSTATE branch, which the model never takes: a task
      returns to user space only through fpsimd_restore_current_state(),
      and nothing makes a task foreign while it runs there (KVM's hooks run
      with the vcpu thread in the kernel). Needs policies that never load
      the task's state themselves. Not 6.1: its task_fpsimd_load() goes by
      TIF_SVE, which its syscalls clear.
    - task_kernel_state (6.12): a task's kernel_fpsimd_state while it lacks
      TIF_KERNEL_FPSTATE or is running, and its kernel_fpsimd_cpu while no
      CPU is bound to that state. Only fpsimd_load_kernel_state() reads
      them, for a task with the flag: at its switch-in, after the switch-out
      that saved it, and at the end of a softirq's kernel-mode NEON, after
      that softirq's save; kernel_neon_begin() sets the flag and writes
      fresh registers before any save. The only bind of the state,
      fpsimd_save_kernel_state(), rewrites kernel_fpsimd_cpu.
    - unloaded_flags: the policy's per-vcpu flags (by index) that its load
      hook assigns on every path before reading them, while the vcpu is not
      loaded. With the vcpu unloaded the next hook to run is load: put runs
      only for a loaded vcpu, softirq only on the CPU it is loaded on, and
      enter, trap and exit only with the vcpu thread running in the run
      loop or the guest, where its switch-in has run load. Nothing else
      reads the flags (fpdsl.lang.liveness).
    - unloaded_trap: the guest's FP trap while the vcpu is not loaded, for
      policies whose load, softirq and enter hooks set it on every path
      before the guest can next run (fpdsl.lang.liveness.
      trap_set_before_guest()) and that never test it: the guest's FP use
      is its only other reader.
    """

    task_sve_bits: bool = False
    cpu_sve_bits: bool = False
    bound_sve: bool = False
    last_cpu: bool = False
    to_save: bool = False
    fpsimd_typed_sve_state: bool = False
    vcpu_thread_sve_v: bool = False
    prepare_needs_tif_sve: bool = False
    sve_typed_fpsimd_state: bool = False
    task_kernel_state: bool = False
    unloaded_flags: tuple[int, ...] = ()
    unloaded_trap: bool = False


# Canonical value tokens: the owner alone for its last write, owner + "~" for a
# stale one; zeroes and kernel scratch carry no version.
class _Stale(dict):
    def __missing__(self, owner: str) -> str:
        self[owner] = owner + "~"
        return self[owner]


_STALE = _Stale()


def _canon(value: Value, versions: dict[str, int], tmap: dict[str, str]) -> str:
    owner, version = value
    # Zeroes are version 0 and never written, so they count as current.
    if version == versions.get(owner, 0) or owner == KERNEL:
        return tmap.get(owner, owner) if tmap else owner
    return _STALE[tmap.get(owner, owner) if tmap else owner]


def world_key(w: World, symmetry: bool = True, forget: Forget | None = None) -> tuple:
    others = [n for n in w.tasks if n != "A"]
    if not symmetry or len(others) <= 1:
        return _key_for_tasks(w, {}, symmetry, forget)
    best = None
    for tperm in permutations(others):
        tmap = dict(zip(others, tperm, strict=True))
        if w.task_neon:  # the tasks' kernel-mode NEON values and bindings rename with them
            tmap.update({kernel_owner(n): kernel_owner(p) for n, p in zip(others, tperm, strict=True)})
            tmap.update({kernel_binding(n): kernel_binding(p) for n, p in zip(others, tperm, strict=True)})
        k = _key_for_tasks(w, tmap, symmetry, forget)
        if best is None or k < best:
            best = k
    return best


_IDENTITY = {n: tuple(range(n)) for n in range(1, 9)}


def _key_for_tasks(w: World, tmap: dict[str, str], symmetry: bool, forget: Forget | None) -> tuple:
    """The least key over CPU renamings, competing task n renamed tmap[n]."""
    ncpu = len(w.cpus)
    versions = w.versions
    forget_bound_sve = forget is not None and forget.bound_sve
    forget_z = forget is not None and forget.cpu_sve_bits and not any(t.sve for t in w.tasks.values())
    forget_to_save = forget is not None and forget.to_save
    parts = [_cpu_part(c, versions, tmap, forget_bound_sve, forget_z, forget_to_save) for c in w.cpus]
    if not symmetry or ncpu == 1:
        return _flat_key(w, parts, _IDENTITY[ncpu], _IDENTITY[ncpu], tmap, forget)
    # The CPU parts do not depend on the CPU renaming, so when they all differ
    # sorting them fixes it; ties need the rest of the key.
    if ncpu == 2:
        if parts[0] != parts[1]:
            order = (0, 1) if parts[0] < parts[1] else (1, 0)
            return _flat_key(w, parts, order, order, tmap, forget)
    else:
        order = tuple(sorted(range(ncpu), key=parts.__getitem__))
        if all(parts[order[i]] != parts[order[i + 1]] for i in range(ncpu - 1)):
            return _flat_key(w, parts, order, _inverse(order), tmap, forget)
    best = None
    for cperm in permutations(range(ncpu)):
        k = _flat_key(w, parts, _inverse(cperm), cperm, tmap, forget)
        if best is None or k < best:
            best = k
    return best


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _cpu_part(
    c: Cpu, versions: dict[str, int], tmap: dict[str, str], forget_bound_sve: bool, forget_z: bool, forget_to_save: bool
) -> tuple:
    bound = c.bound or ""
    curr = c.curr or ""
    if tmap:
        bound, curr = tmap.get(bound, bound), tmap.get(curr, curr)
    return (
        _canon(c.v, versions, tmap),
        "0" if forget_z else _canon(c.z, versions, tmap),
        bound,
        False if forget_bound_sve else c.bound_sve,
        c.neon_busy,
        c.irq,
        c.bh,
        c.preempt,
        c.softirq_pending,
        c.irq_pending,
        curr,
        _canon(c.host, versions, tmap),
        c.zen,
        "current" if forget_to_save and c.bound is None else c.to_save,
    )


def _flat_key(
    w: World,
    parts: list[tuple],
    order: tuple[int, ...],
    cperm: tuple[int, ...],
    tmap: dict[str, str],
    forget: Forget | None,
) -> tuple:
    """The key with CPU i renamed cperm[i] (order is its inverse)."""
    versions = w.versions
    out: list = []
    for old in order:
        out += parts[old]
    names = sorted(w.tasks, key=lambda n: tmap.get(n, n)) if tmap else w.tasks
    forget_z = forget is not None and forget.task_sve_bits
    forget_typed = forget is not None and forget.fpsimd_typed_sve_state
    forget_typed_a = forget_typed and forget.vcpu_thread_sve_v
    forget_typed_a_unflagged = forget_typed and forget.prepare_needs_tif_sve
    forget_v = forget is not None and forget.sve_typed_fpsimd_state
    bound = {c.bound for c in w.cpus} if forget is not None and forget.last_cpu else None
    forget_k = forget is not None and forget.task_kernel_state
    bindings = {c.bound for c in w.cpus} if forget_k else None
    for name in names:
        t = w.tasks[name]
        last = t.last_cpu
        cpu = t.cpu
        dead_sve_state = forget_typed and t.fp_type == "fpsimd"
        dead_sve_v = dead_sve_state and (
            forget_typed_a or name != VCPU_THREAD or (forget_typed_a_unflagged and not t.sve)
        )
        out += (
            "0" if forget_v and t.fp_type == "sve" else _canon(t.saved_v, versions, tmap),
            "0" if dead_sve_state or (forget_z and not t.sve) else _canon(t.saved_z, versions, tmap),
            t.foreign,
            t.sve,
            -1 if last is None or (bound is not None and name not in bound) else cperm[last],
            t.pc,
            -1 if cpu is None else cperm[cpu],
            t.fp_type,
            t.sve_live,
            "0" if dead_sve_v else _canon(t.saved_sv, versions, tmap),
            t.kfp,
            "0" if forget_k and (not t.kfp or cpu is not None) else _canon(t.saved_k, versions, tmap),
            -1 if t.kcpu is None or (forget_k and kernel_binding(name) not in bindings) else cperm[t.kcpu],
        )
    v = w.vcpu
    out.append(_canon(v.saved_v, versions, tmap))
    out.append(_canon(v.saved_z, versions, tmap))
    out.append(True if v.loaded is None and forget is not None and forget.unloaded_trap else v.trap_armed)
    if v.loaded is None and forget is not None and forget.unloaded_flags:
        dead = forget.unloaded_flags
        out += [False if i in dead else f for i, f in enumerate(v.flags)]
    else:
        out += v.flags
    out += (-1 if v.loaded is None else cperm[v.loaded], w.runs, w.exits)
    return tuple(out)
