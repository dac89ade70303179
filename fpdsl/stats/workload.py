"""Turn the model's nondeterministic choices into probabilities under a
profile. The workload is one CPU, the vcpu thread and (optionally) one
competing task. Its unit is a macro-step: a short sequence of model events
with a probability (e.g. "the guest touches FPSIMD, then exits"), so that
"uses FPSIMD in this phase" needs no memory in the state."""

from __future__ import annotations

from fpdsl.model.machine import ModelConfig
from fpdsl.model.runloop import Event
from fpdsl.model.state import World
from fpdsl.model.values import VCPU_THREAD
from fpdsl.stats.profile import Profile

Macro = tuple[Event, ...]


def workload_config(kernel: str, competing: bool = True, guest_sve: bool = False) -> ModelConfig:
    """The model configuration the statistics run on: unbounded runs and exits."""
    return ModelConfig(
        kernel=kernel,
        cpus=1,
        tasks=1 if competing else 0,
        runs=None,
        exits=None,
        symmetry=False,
        guest_sve=guest_sve,
    )


def profile_fits(profile: Profile, kernel: str) -> str | None:
    """Why `profile` cannot run on the `kernel` model, or None."""
    if profile.guest_sve and not kernel.startswith("v6"):
        return f"guest.sve = 1: the {kernel} model has no SVE guests (the 6.x models have)"
    return None


def macro_steps(world: World, enabled: list[Event], p: Profile) -> list[tuple[Macro, float]]:
    """The workload's next macro-steps and their probabilities. Macro-steps
    whose first event the policy has disabled (no preemption while
    preemption is off, say) drop out and the rest are renormalised."""
    a = world.tasks[VCPU_THREAD]
    cpu = world.cpus[0]
    options: list[tuple[Macro, float]] = []
    if cpu.curr == VCPU_THREAD:
        if a.pc == "user":
            ioctl = ("ioctl", VCPU_THREAD, None)
            fp, sve = ("user_fp", VCPU_THREAD, None), ("user_sve", VCPU_THREAD, None)
            options = [
                ((fp, ioctl), p.vmm_fp * (1.0 - p.vmm_sve)),
                ((sve, ioctl), p.vmm_fp * p.vmm_sve),
                ((ioctl,), 1.0 - p.vmm_fp),
            ]
        elif a.pc == "loop":
            options = [((("enter", VCPU_THREAD, None),), 1.0)]
        elif a.pc == "guest":
            use = ("guest_fp", VCPU_THREAD, None)
            plain, irq = ("exit", VCPU_THREAD, None), ("exit_irq", VCPU_THREAD, None)
            s, g = p.softirq_neon, p.guest_fp
            options = [
                ((use, plain), g * (1 - s)),
                ((use, irq), g * s),
                ((plain,), (1 - g) * (1 - s)),
                ((irq,), (1 - g) * s),
            ]
        elif a.pc == "handle":
            other = next((n for n in world.tasks if n != VCPU_THREAD), None)
            preempt = ("switch", 0, other)
            # A policy that keeps preemption off here is never preempted: it resumes instead.
            p_preempt = p.preempt if preempt in enabled else 0.0
            options = [
                ((("to_user", VCPU_THREAD, None),), p.exit_to_user),
                ((preempt,), p_preempt),
                ((("resume", VCPU_THREAD, None),), 1.0 - p.exit_to_user - p_preempt),
            ]
    else:
        # The vcpu thread was preempted in handle_exit(); when it runs again
        # it goes back to the top of the run loop (no new exit decision).
        back = (("switch", 0, VCPU_THREAD), ("resume", VCPU_THREAD, None))
        if cpu.curr is None:
            options = [(back, 1.0)]
        elif world.tasks[cpu.curr].pc == "kernel":
            options = [((("ret_to_user", cpu.curr, None),), 1.0)]
        else:
            options = [((("user_fp", cpu.curr, None), *back), p.competing_fp), (back, 1.0 - p.competing_fp)]
    allowed = set(enabled)
    options = [(m, w) for m, w in options if w > 0 and m[0] in allowed]
    total = sum(w for _, w in options)
    if total <= 0:
        raise ValueError(f"the workload has no move in this state (enabled: {enabled})")
    return [(m, w / total) for m, w in options]
