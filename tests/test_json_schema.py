"""Every `--json` output validates against the schema shipped for it
(fpdsl/schemas/), so a program reading fpdsl's JSON can rely on the keys."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from helpers import POLICIES, run, run_cli

from fpdsl.resources import resource_dir

LAZY = str(POLICIES / "lazy_until_put.fp")
SWEEP = "exit.to_user=0.01:0.1:3"


def _schema(name: str) -> dict:
    schema = json.loads((resource_dir("schemas") / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.mark.parametrize(
    ("schema", "args"),
    [
        ("simulate.json", ["simulate", LAZY, "-q", "--json"]),
        ("simulate.json", ["simulate", str(POLICIES / "host_machinery.fp"), "-q", "--json", "--exact"]),
        ("simulate.json", ["simulate", LAZY, "-q", "--json", "--max-states", "30"]),
        ("replay.json", ["simulate", LAZY, "--scenario", "seed_ab", "--json"]),
        ("stats.json", ["stats", str(POLICIES / "eager.fp"), "--workload", "seed_2018", "--json"]),
        ("stats.json", ["stats", LAZY, "--workload", "io_storm", "--method", "monte-carlo", "--json"]),
        ("stats.json", ["compare", str(POLICIES / "eager.fp"), LAZY, "--workload", "seed_2018", "--json"]),
        (
            "sweep.json",
            [
                "compare",
                str(POLICIES / "eager.fp"),
                "--workload",
                "seed_2018",
                "--sweep",
                "exit.to_user=0.01:0.1:3",
                "--json",
            ],
        ),
    ],
    ids=["simulate", "simulate-clean-exact", "simulate-incomplete", "replay", "stats", "stats-mc", "compare", "sweep"],
)
def test_json_output_matches_its_schema(schema: str, args: list[str]) -> None:
    r = run_cli(*args)
    assert r.returncode in (0, 1, 3), r.stderr
    jsonschema.validate(json.loads(r.stdout), _schema(schema))


def test_simulate_all_with_an_error_row_matches(tmp_path: Path) -> None:
    (tmp_path / "bad.fp").write_text('policy bad "x"\nkernel v4.16\nhook load { nope() }\n')
    (tmp_path / "eager.fp").write_text((POLICIES / "eager.fp").read_text())
    r = run_cli("simulate", "--all", str(tmp_path), "-q", "--json")
    data = json.loads(r.stdout)
    jsonschema.validate(data, _schema("simulate.json"))
    assert [row["verdict"] for row in data] == ["ERROR", "CLEAN"]


def test_a_schema_catches_drift() -> None:
    # The schemas are strict: an unknown key or a missing metric fails.
    data = json.loads(run("stats", str(POLICIES / "eager.fp"), "--workload", "seed_2018", "--json").output)
    del data["per_kvm_run"]["host_saves"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, _schema("stats.json"))
