"""Load a policy file and the chain of policies it `extends`, and resolve it
into the hooks and flags that actually run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fpdsl.diagnostics import Diagnostic, FpdslError, did_you_mean, read_source
from fpdsl.lang import ast
from fpdsl.lang.parser import parse_policy
from fpdsl.lang.vocabulary import DEFAULT_KERNEL
from fpdsl.resources import resource_dir


@dataclass
class ResolvedPolicy:
    """A policy with its base merged in: own hooks override the base's."""

    policy: ast.Policy
    chain: list[ast.Policy]  # the policy first, then its bases
    hooks: dict[str, ast.Hook]
    flags: list[ast.FlagDecl]
    kernel: str

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def path(self) -> str:
        return self.policy.source.path

    def flag_index(self) -> dict[str, int]:
        return {f.name: i for i, f in enumerate(self.flags)}

    def initial_flags(self) -> tuple[bool, ...]:
        return tuple(f.initial for f in self.flags)


def load_policy(path: str | Path, search: list[Path] | None = None) -> ResolvedPolicy:
    """Parse `path` and its bases (found as NAME.fp beside it, or in `search`)."""
    chain: list[ast.Policy] = []
    seen: dict[str, ast.Policy] = {}
    current = parse_policy(read_source(path))
    # Bases are looked up beside the policy as the user named it, so that they
    # are shown as `policies/eager.fp` rather than by an absolute path; then
    # beside the file it links to, if it is a symbolic link.
    # Then the folders of FPDSL_PATH (`fpdsl --policy-path`), and last the
    # shipped policies: a library any policy may extend.
    dirs = list(dict.fromkeys([Path(path).parent, Path(path).resolve().parent])) + list(search or [])
    dirs += [Path(d) for d in os.environ.get("FPDSL_PATH", "").split(os.pathsep) if d]
    dirs.append(resource_dir("policies"))
    while True:
        for hook in current.hooks:
            object.__setattr__(hook, "policy", current.source.path)
        chain.append(current)
        seen[current.name] = current
        if current.extends is None:
            break
        base_name = current.extends
        if base_name in seen:
            cycle = " -> ".join([p.name for p in chain] + [base_name])
            hint = (
                "a policy cannot extend itself"
                if base_name == current.name
                else "a policy cannot extend itself through its bases: remove one 'extends'"
            )
            raise FpdslError(Diagnostic(f"'extends' cycle: {cycle}", current.extends_span, current.source, hint))
        base_path = _find_base(base_name, dirs)
        if base_path is None:
            known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.fp")})
            guess = did_you_mean(base_name, known)
            raise FpdslError(
                Diagnostic(
                    f"unknown base policy '{base_name}'",
                    current.extends_span,
                    current.source,
                    f"did you mean '{guess}'?"
                    if guess
                    else f"expected a file {base_name}.fp beside this policy, in a --policy-path folder (FPDSL_PATH) "
                    "or among the shipped policies",
                )
            )
        base = parse_policy(read_source(base_path))
        if base.name != base_name:
            raise FpdslError(
                Diagnostic(
                    f"{base_path} defines policy '{base.name}', not '{base_name}'",
                    current.extends_span,
                    current.source,
                    f"a base is found by its file name: {base_name}.fp must hold 'policy {base_name}'",
                )
            )
        current.base = base
        current = base
    return resolve(chain)


def _find_base(name: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        candidate = d / f"{name}.fp"
        try:
            # Any such entry is the base: read_source() says what is wrong
            # with one that is not a regular file (a FIFO, a directory).
            if candidate.exists():
                return candidate
        except OSError:  # a name too long for the file system is no base
            continue
    return None


def resolve(chain: list[ast.Policy]) -> ResolvedPolicy:
    hooks: dict[str, ast.Hook] = {}
    flags: list[ast.FlagDecl] = []
    names: set[str] = set()
    for policy in reversed(chain):  # base first, so derived hooks win
        for hook in policy.hooks:
            hooks[hook.name] = hook
        for flag in policy.flags:
            if flag.name not in names:
                names.add(flag.name)
                flags.append(flag)
    kernel = next((p.kernel for p in chain if p.kernel), DEFAULT_KERNEL)
    return ResolvedPolicy(chain[0], chain, hooks, flags, kernel)
