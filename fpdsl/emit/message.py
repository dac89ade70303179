"""The commit message of an emitted patch (what the policy is and what it
changes, with one sentence on what fpdsl verified), its subject, and the
notes below the `---` line that `git am` drops: the explorer's verdict per
property at the default bound, and the expected costs per KVM_RUN under a
workload profile next to those of the design the tree has now."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from fpdsl.emit import targets as T
from fpdsl.emit.plan import Emission
from fpdsl.lang.loader import ResolvedPolicy
from fpdsl.model.machine import ModelConfig
from fpdsl.model.records import PROPERTIES
from fpdsl.sim.explorer import explore
from fpdsl.sim.interpreter import PolicyHooks
from fpdsl.sim.report import bound_text, verdict_word

WRAP = 72
_HOST_FUNCTION = re.compile(r"^void (kvm_arch_vcpu_\w+_fp)\(struct kvm_vcpu \*vcpu\)$")
DEFAULT_BOUND = {"cpus": 1, "tasks": 1, "runs": 1, "exits": 2}
COST_ROWS = (
    ("host_saves", "host saves"),
    ("host_restores", "host restores"),
    ("guest_saves", "guest saves"),
    ("guest_restores", "guest restores"),
    ("fp_traps", "FP traps"),
    ("redundant_saves", "redundant saves"),
    ("redundant_restores", "redundant restores"),
    ("softirq_fallbacks", "softirq NEON fallbacks"),
)


# What a subject may hold: git's and checkpatch's habit is a summary line of
# at most 75 characters, subsystem prefix included.
SUBJECT_WIDTH = 75
# The design a 6.x tree implements (6.1.y and 6.12.y since the 2025 fix),
# per target: what its costs are compared with.
MODERN_BASELINES = T.BASELINES_6


@dataclass
class Verification:
    bound: str
    states: int
    results: dict[str, str]  # property -> "holds" | "VIOLATED"
    verdict: str
    first_failure: str | None
    costs: dict[str, float] | None
    profile: str | None
    baseline: str | None = None  # the tree's design, whose costs are compared
    baseline_costs: dict[str, float] | None = None
    # A 6.x tree whose host machinery is another model's than the policy's:
    # (that model, its verdict, its first counterexample) for the same hooks.
    tree_host: tuple[str, str, str | None] | None = None


def subject_summary(policy: ResolvedPolicy, prefix: str = "KVM: arm64: ") -> str | None:
    """A subject from the policy's description: its first letter upper
    case, a trailing parenthetical and full stop dropped; None when that
    is longer than a subject line may be."""
    text = " ".join(policy.policy.description.split())
    text = re.sub(r"\s*\([^()]*\)$", "", text).rstrip(". ") or text
    text = text[:1].upper() + text[1:]
    return text if text and len(prefix) + len(text) <= SUBJECT_WIDTH else None


def _first_failure(ex) -> str | None:
    for prop in PROPERTIES:
        found = ex.for_property(prop)
        if found:
            ce = found[0]
            return f"{prop}: {ce.violation.message} ({len(ce.path)} steps)"
    return None


def verify(
    policy: ResolvedPolicy,
    profile: str | None = "seed_2018",
    baseline: str | None = None,
    tree_kernel: str | None = None,
) -> Verification:
    """The explorer's verdict on the policy's model (and, for a tree whose
    host machinery is `tree_kernel`'s, on that one too) and the costs."""
    hooks = PolicyHooks(policy)
    ex = explore(hooks, ModelConfig(kernel=policy.kernel, **DEFAULT_BOUND), policy.initial_flags())
    results = {p: "holds" if ex.holds(p) else "VIOLATED" for p in PROPERTIES}
    first = _first_failure(ex)
    tree_host = None
    if tree_kernel is not None and tree_kernel != policy.kernel:
        on_tree = explore(hooks, ModelConfig(kernel=tree_kernel, **DEFAULT_BOUND), policy.initial_flags())
        tree_host = (tree_kernel, verdict_word(on_tree, PROPERTIES), _first_failure(on_tree))
    costs = None
    if profile is not None:
        from fpdsl.stats.chain import exact_costs
        from fpdsl.stats.profile import load_profile

        costs = exact_costs(policy, load_profile(profile)).per_run
    base_costs = None
    if profile is not None and baseline is not None and baseline != policy.name:
        from fpdsl.emit.plan import library_policy

        base_costs = exact_costs(library_policy(baseline), load_profile(profile)).per_run
    verdict = verdict_word(ex, PROPERTIES)
    return Verification(
        bound_text(ex.config), ex.states, results, verdict, first, costs, profile, baseline, base_costs, tree_host
    )


# Lines git would take for the end of the message (`---`), the start of a
# diff, or the next mail of an mbox.
_BREAKS = re.compile(r"^(---|diff -|Index: |From )")


def _para(text: str) -> list[str]:
    """One paragraph, wrapped. Runs of spaces are one space (a padded
    description cannot line a forged diff up at a line start), and a line
    that git would read as a patch break is indented by one space."""
    lines = textwrap.wrap(" ".join(text.split()), WRAP, break_on_hyphens=False)
    return [f" {line}" if _BREAKS.match(line) else line for line in lines] + [""]


def commit_body(emission: Emission, check: Verification | None) -> str:
    p = emission.policy
    chain = ", ".join(q.name for q in p.chain[1:])
    lines = _para(p.policy.description.rstrip(".") + ".")
    if emission.baseline:
        layout = f"tree layout, whose FPSIMD handling is the {emission.baseline} policy. Hooks changed"
    else:  # 6.x: no baseline to compare with, every hook's code is the policy's
        layout = "tree layout. Hooks written from the policy"
    lines += _para(
        f"Generated by fpdsl from policy {p.name} ({Path(p.path).name}"
        + (f", extending {chain}" if chain else "")
        + f") for the {emission.target.name} {layout}: {', '.join(emission.hooks)}."
    )
    if emission.parts:
        functions = [
            m.group(1)
            for part in emission.parts
            for c in part.changes
            for line in c.new
            if line.origin is not None and (m := _HOST_FUNCTION.match(line.text))
        ]
        if functions:
            lines += host_functions_para(functions).split("\n")
    if emission.wiring:
        lines += _para(
            "The guest's FP/SIMD trap is decided by the policy: vcpu->arch.fp_untrapped carries it "
            "from the host's entry path and the hyp trap handler to the hyp's trap configuration."
        )
    if check is None:
        lines += _para("Not verified (emitted with --no-verify).")
        return "\n".join(lines)
    if check.verdict == "CLEAN":
        found = "no lost or leaked FPSIMD state and no broken kernel rule"
    elif check.first_failure:
        found = f"a counterexample ({check.verdict}), {check.first_failure}"
    else:
        found = f"no violation but could not finish ({check.verdict})"
    lines += _para(
        f"fpdsl's reference model of the {p.kernel} kernel, exploring every interleaving of {check.bound}, "
        f"finds {found}."
    )
    if check.tree_host is not None:
        kernel, verdict, first = check.tree_host
        there = f"a counterexample ({verdict}), {first}" if first else f"it {verdict}"
        lines += _para(
            f"This tree's host machinery (arch/arm64/kernel/fpsimd.c, the syscall entry) is the {kernel} "
            "model's; the patch brings back only functions KVM calls, not the host's own paths. With the "
            f"same KVM code, that model finds {there}."
        )
    return "\n".join(lines)


def verification_notes(check: Verification | None) -> str:
    """The tables below the `---` line: for reviewers, not for the log."""
    if check is None:
        return ""
    lines = textwrap.wrap(f"fpdsl verification: every interleaving of {check.bound} ({check.states} states):", WRAP)
    lines.append("")
    width = max(len(k) for k in check.results)
    for prop, result in check.results.items():
        lines.append(f"  {prop:<{width}}  {result}")
    verdict = f"verdict: {check.verdict}"
    if check.first_failure:
        verdict += f"; first counterexample, {check.first_failure}"
    lines += [""] + textwrap.wrap(verdict, WRAP, initial_indent="  ", subsequent_indent="    ") + [""]
    if check.costs is not None:
        base = check.baseline_costs
        head = f"Expected per KVM_RUN, {check.profile} workload (exact)"
        lines += textwrap.wrap(head + (f", against the tree's {check.baseline} policy:" if base else ":"), WRAP)
        lines.append("")
        if base is not None:
            lines.append(f"  {'':<24}{'this patch':>11}{check.baseline:>{max(len(check.baseline), 10) + 2}}")
        for key, label in COST_ROWS:
            row = f"  {label:<24}{check.costs[key]:>11.3f}"
            if base is not None:
                row += f"{base[key]:>{max(len(check.baseline), 10) + 2}.3f}"
            lines.append(row)
        lines.append("")
    return "\n".join(lines)


# -- the v4.16/v4.17 series ----------------------------------------------------

CONVERSION_BODY = (
    "In the v4.15-v4.17 layouts the guest's first FP/SIMD access after entry is handled by "
    "__fpsimd_guest_restore, in assembly (arch/arm64/kvm/hyp/entry.S). Turn it into a call of a C "
    "function, __hyp_switch_fpsimd() in hyp/switch.c, which does what the assembly did: it enables "
    "FP/SIMD for the guest, saves the host's registers to the per-CPU host context, loads the "
    "guest's, and gives an AArch32 guest its FPEXC32_EL2 back.",
    "The assembly keeps what C cannot do: it saves the guest registers a call may clobber (x2-x18 "
    "and lr; the guest's x0-x1 are already on the hyp stack, x19-x29 are callee-saved), calls the C "
    "function, restores them and returns to the guest. No functional change.",
    'Mainline made the same conversion before v4.18 ("KVM: arm64: Convert lazy FPSIMD context '
    "switch trap to C\"). The next patch of this series puts the FPSIMD policy's trap handling "
    "into the C function.",
)


def conversion_body() -> str:
    lines: list[str] = []
    for para in CONVERSION_BODY:
        lines += _para(para)
    return "\n".join(lines)


def interface_body(policy: ResolvedPolicy, exports: list[str]) -> str:
    lines: list[str] = []
    if exports:
        names = [f"{e}()" for e in exports]
        what = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        them = "them" if len(names) > 1 else "it"
        lines += _para(
            f"The KVM FPSIMD policy {policy.name} (later in this series) calls {what} from "
            f"arch/arm64/kvm/guest.c: give {them} external linkage in arch/arm64/kernel/fpsimd.c "
            f"and declare {them} in asm/fpsimd.h."
        )
    if "softirq" in policy.hooks:
        lines += _para(
            f"The policy's softirq hook goes at the top of kernel_neon_begin(): what KVM does when a "
            f"softirq wants kernel-mode NEON on a CPU where a vcpu is loaded ({policy.name})."
        )
    return "\n".join(lines)


def host_functions_para(functions: list[str]) -> str:
    if not functions:
        return ""
    names = ", ".join(f"{f}()" for f in functions)
    return "\n".join(
        _para(
            f"The host side is arm64 code, appended to arch/arm64/kvm/guest.c ({names}) "
            "and called from virt/kvm/arm/arm.c: 32-bit ARM builds arm.c too, so arm.c only "
            "calls them and 32-bit ARM gets empty stubs in its asm/kvm_host.h; the vcpu fields "
            "are arm64's only. guest.c is arm64-only host code that already handles the guest's "
            "register state and is built for every arm64 KVM configuration, so the series adds "
            "no new file (and needs no Makefile or MAINTAINERS change)."
        )
    )
