"""Scenario files: a fixed script of environment events to replay on a
policy. One event per line, spelled as in traces (`A:enter`, `cpu0:irq`,
`cpu0:switch:B1`, `B1:ret_to_user`); `! TEXT` after an event marks it (e.g.
Dave Martin's X and Y); `#` starts a comment. Header lines set the bound:

    scenario NAME "description"
    cpus 1
    tasks 1
    runs 1
    exits 8
    guest sve                 (6.x kernel models: the guest has SVE; default fpsimd)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from fpdsl.diagnostics import Diagnostic, FpdslError, Source, Span, did_you_mean, read_source
from fpdsl.model.runloop import Event, label
from fpdsl.resources import resource_dir


@dataclass
class ScenarioStep:
    label: str
    mark: str | None
    line: int


@dataclass
class Scenario:
    name: str
    description: str
    source: Source
    bounds: dict[str, int] = field(default_factory=dict)
    steps: list[ScenarioStep] = field(default_factory=list)


# The least and most of each bound on the command line: fewer explores
# nothing of KVM, more does not fit in memory. A scenario replays one script,
# so it may count more exits and runs (the CPUs and tasks still size the state).
BOUND_LIMITS = {"exits": (1, 8), "runs": (1, 8), "tasks": (0, 8), "cpus": (1, 8)}
SCENARIO_LIMITS = {**BOUND_LIMITS, "exits": (1, 256), "runs": (1, 64)}

_HEADER = re.compile(r'^scenario\s+([A-Za-z_][A-Za-z0-9_]*)\s+"([^"]*)"\s*$')
_BOUND = re.compile(r"^(cpus|tasks|runs|exits)\s+(\d+)\s*$")
_EVENT = re.compile(r"^[A-Za-z0-9_:]+$")
_GUEST = re.compile(r"^guest\s+(sve|fpsimd)\s*$")


def parse_scenario(source: Source) -> Scenario:
    scenario: Scenario | None = None
    for number, raw in enumerate(source.text.splitlines(), start=1):
        text, _, mark = raw.partition("!")
        text = text.split("#", 1)[0].strip()
        if not text:
            continue
        if scenario is None:
            m = _HEADER.match(text)
            if not m:
                raise FpdslError(
                    Diagnostic('a scenario starts with: scenario NAME "description"', Span(number, 1), source)
                )
            scenario = Scenario(m.group(1), m.group(2), source)
            continue
        m = _BOUND.match(text)
        if m:
            name, value = m.group(1), int(m.group(2))
            least, most = SCENARIO_LIMITS[name]
            if not least <= value <= most:
                col = raw.index(m.group(2)) + 1
                raise FpdslError(
                    Diagnostic(
                        f"{name} {value} is out of range: {name} must be between {least} and {most}",
                        Span(number, col, number, col + len(m.group(2))),
                        source,
                    )
                )
            scenario.bounds[name] = value
            continue
        m = _GUEST.match(text)
        if m:
            scenario.bounds["guest_sve"] = m.group(1) == "sve"
            continue
        if not _EVENT.match(text):
            col = raw.index(text[0]) + 1
            raise FpdslError(
                Diagnostic(f"not an event: {text!r}", Span(number, col), source, "events look like A:enter or cpu0:irq")
            )
        scenario.steps.append(ScenarioStep(text, mark.strip() or None, number))
    if scenario is None:
        raise FpdslError(Diagnostic("empty scenario file", Span(1, 1), source))
    return scenario


def builtin_scenarios() -> dict[str, Path]:
    folder = resource_dir("policies") / "scenarios"
    return {p.stem: p for p in sorted(folder.glob("*.scn"))}


def load_scenario(name_or_file: str) -> Scenario:
    path = Path(name_or_file)
    if not path.exists():
        known = builtin_scenarios()
        if name_or_file not in known:
            guess = did_you_mean(name_or_file, list(known))
            hint = f" (did you mean '{guess}'?)" if guess else ""
            raise FpdslError(
                Diagnostic(
                    f"no scenario file or built-in scenario named '{name_or_file}'{hint}; built-in: " + ", ".join(known)
                )
            )
        path = known[name_or_file]
    return parse_scenario(read_source(path))


def match_event(step: ScenarioStep, enabled: list[Event], scenario: Scenario, why: str) -> Event:
    for event in enabled:
        if label(event) == step.label:
            return event
    possible = sorted(label(e) for e in enabled)
    guess = did_you_mean(step.label, possible)
    raise FpdslError(
        Diagnostic(
            f"event '{step.label}' is not possible here ({why})",
            Span(step.line, 1, step.line, 1 + len(step.label)),
            scenario.source,
            (f"did you mean '{guess}'? " if guess else "") + "possible now: " + ", ".join(possible),
        )
    )


def scenario_text(name: str, description: str, bounds: dict[str, int], steps: list[tuple[str, str | None]]) -> str:
    """A scenario file that `parse_scenario` reads back as these steps."""
    description = description.replace('"', "'").replace("\n", " ")
    out = [f'scenario {name} "{description}"']
    out += [f"{key} {bounds[key]}" for key in ("cpus", "tasks", "runs", "exits") if key in bounds]
    if bounds.get("guest_sve"):
        out.append("guest sve")
    for event, mark in steps:
        out.append(f"{event:<20} ! {mark}" if mark else event)
    return "\n".join(out) + "\n"
