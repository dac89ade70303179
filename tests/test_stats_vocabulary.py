"""One name per workload parameter and cost metric: the same identifier in
TOML, --sweep, --metric, JSON, CSV and the tables; profile errors that
list the valid keys; the README documents every name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tomllib
from helpers import POLICIES, ROOT, run, run_cli

from fpdsl.diagnostics import FpdslError, Source, UsageError
from fpdsl.stats.chain import COST_METRICS
from fpdsl.stats.profile import builtin_profiles, load_profile, parse_profile
from fpdsl.stats.report import SHOWN
from fpdsl.stats.sweep import parse_sweep
from fpdsl.stats.vocabulary import METRIC_IDS, PARAMETER, PARAMETERS, resolve_metric, resolve_parameter

EAGER = str(POLICIES / "eager.fp")
EXIT = "[exit]\nto_user = 0.1\npreempt = 0.1\n"


def _error(text: str) -> str:
    with pytest.raises(FpdslError) as info:
        parse_profile(Source("p.toml", text))
    return info.value.diagnostics[0].render()


def test_cost_vector_order_is_the_vocabulary() -> None:
    assert COST_METRICS == METRIC_IDS
    assert METRIC_IDS == (
        "kvm_runs", "exits", "exits_to_user", "preemptions", "host_saves", "kvm_host_saves", "host_restores",
        "guest_saves", "guest_restores", "fp_traps", "softirq_neon_uses", "softirq_fallbacks",
        "binding_invalidations", "redundant_saves", "redundant_restores",
    )  # fmt: skip
    assert [p.id for p in PARAMETERS] == [
        "exit.to_user", "exit.preempt", "exit.softirq_neon", "guest.fp", "guest.fp_per_interval", "guest.sve",
        "vmm.fp", "vmm.sve", "competing.fp",
    ]  # fmt: skip


@pytest.mark.parametrize("name", sorted(builtin_profiles()))
def test_shipped_profiles_use_only_parameter_ids(name: str) -> None:
    data = tomllib.loads(builtin_profiles()[name].read_text())
    keys = {f"{s}.{k}" for s, t in data.items() if isinstance(t, dict) for k in t}
    assert keys <= set(PARAMETER)
    profile = load_profile(name)
    for ident in keys:  # the JSON "workload" gives each TOML key back under the same name
        assert profile.parameters()[ident] == data[ident.split(".")[0]][ident.split(".")[1]]


def test_defaults_of_a_minimal_profile() -> None:
    p = parse_profile(Source("mini.toml", EXIT))
    assert p.name == "mini"
    assert p.parameters() == {
        "exit.to_user": 0.1,
        "exit.preempt": 0.1,
        "exit.softirq_neon": 0.0,
        "guest.fp": 0.0,
        "guest.sve": 0.0,
        "vmm.fp": 0.0,
        "vmm.sve": 0.0,
        "competing.fp": 1.0,
    }


def test_unknown_top_level_key_lists_the_valid_ones() -> None:
    assert _error('nmae = "x"\n' + EXIT) == (
        "p.toml: error: unknown profile key 'nmae'\n"
        "  hint: did you mean 'name'? valid keys: name, description, exit, guest, vmm, competing"
    )
    assert _error("[cpu]\nfp = 1\n" + EXIT) == (
        "p.toml: error: unknown profile key 'cpu'\n  hint: valid keys: name, description, exit, guest, vmm, competing"
    )


def test_unknown_key_in_a_section_lists_the_valid_ones() -> None:
    assert _error("[exit]\nto_usr = 0.1\npreempt = 0.1\n") == (
        "p.toml: error: unknown profile key 'exit.to_usr'\n"
        "  hint: did you mean 'exit.to_user'? valid keys: exit.to_user, exit.preempt, exit.softirq_neon, "
        "guest.fp, guest.fp_per_interval, guest.sve, vmm.fp, vmm.sve, competing.fp"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exit = 0.5\n", "'exit' must be a table: [exit] with to_user, preempt, softirq_neon"),
        ("name = 3\n" + EXIT, "'name' must be a string, got 3"),
        ("[exit]\nto_user = 0.1\n", "profile lacks exit.preempt"),
        (EXIT + "[guest]\nfp = 0.1\nfp_per_interval = 0.2\n", "give guest.fp or guest.fp_per_interval, not both"),
        (EXIT + "[vmm]\nfp = true\n", "'vmm.fp' must be a probability between 0 and 1, got True"),
        (EXIT + "[guest]\nfp_per_interval = 1.0\n", "guest.fp_per_interval must be below 1"),
        ("[exit]\nto_user = 0.7\npreempt = 0.7\n", "exit.to_user + exit.preempt exceed 1"),
        ("[exit]\nto_user = 0\npreempt = 0.1\n", "exit.to_user must be positive: every KVM_RUN must end"),
    ],
)
def test_profile_errors_name_parameters_by_id(text: str, message: str) -> None:
    assert message in _error(text)


def test_a_bad_profile_file_is_exit_1_with_the_valid_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[exit]\nto_user = 0.1\npreempt = 0.1\nzzz = 1\n")
    r = run("stats", EAGER, "--workload", str(bad))
    assert r.exit_code == 1
    assert f"{bad}: error: unknown profile key 'exit.zzz'\n  hint: valid keys: exit.to_user," in r.output
    assert "Traceback" not in r.output


def test_with_param_by_id() -> None:
    seed = load_profile("seed_2018")
    moved = seed.with_param("exit.to_user", 0.05)
    assert moved.exit_to_user == 0.05 and moved.guest_fp_per_interval == 0.29
    assert moved.guest_fp != seed.guest_fp  # the interval fraction is held, guest.fp recalibrated
    fixed = seed.with_param("guest.fp", 0.02)
    assert fixed.guest_fp == 0.02 and "guest.fp_per_interval" not in fixed.parameters()


@pytest.mark.parametrize("parameter", PARAMETERS, ids=lambda p: p.id)
def test_every_parameter_is_swept_by_its_id_and_its_old_name(parameter) -> None:
    spec, note = parse_sweep(f"{parameter.id}=0.1:0.2:2")
    assert spec.param is parameter and note is None
    for old in parameter.old:
        spec, note = parse_sweep(f"{old}=0.1:0.2:2")
        assert spec.param is parameter and note == f"--sweep {old}: the name is now '{parameter.id}'"


def test_old_metric_names_map_and_unknown_ones_list_the_valid() -> None:
    assert resolve_metric("host_saves") == ("host_saves", None)
    assert resolve_metric("invalidations") == (
        "binding_invalidations",
        "--metric invalidations: the name is now 'binding_invalidations'",
    )
    assert resolve_metric("softirq_neon")[0] == "softirq_neon_uses"
    with pytest.raises(
        UsageError, match=r"unknown metric 'host_save' \(did you mean 'host_saves'\?\); valid: kvm_runs,"
    ):
        resolve_metric("host_save")
    with pytest.raises(UsageError, match=r"--sweep: unknown parameter 'to_user'.*; valid: exit.to_user, exit.preempt"):
        resolve_parameter("to_user")


def test_bad_metric_on_the_command_line_is_exit_2() -> None:
    r = run_cli("compare", EAGER, "--workload", "seed_2018", "--sweep", "exit.to_user=0.1:0.2:2", "--metric", "x")
    assert r.returncode == 2
    assert "Invalid value for '--metric': unknown metric 'x'; valid: kvm_runs, exits, exits_to_user" in r.stderr


def test_json_and_table_use_the_same_ids() -> None:
    r = run_cli("compare", EAGER, str(POLICIES / "neon_busy.fp"), "--workload", "io_storm", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [d["policy"] for d in data] == ["eager", "neon_busy"]
    for d in data:
        assert list(d["per_kvm_run"]) == list(METRIC_IDS)
        assert list(d["workload"]) == [
            "exit.to_user",
            "exit.preempt",
            "exit.softirq_neon",
            "guest.fp",
            "guest.sve",
            "vmm.fp",
            "vmm.sve",
            "competing.fp",
        ]
        assert d["verdict"] == "CLEAN"
    md = run_cli("compare", EAGER, "--workload", "io_storm", "--markdown").stdout.splitlines()
    assert md[0] == "| per KVM_RUN | metric | eager |"
    assert md[2] == "| verdict |  | CLEAN |"
    assert [line.split(" | ")[1] for line in md[3:]] == [f"`{m}`" for m in SHOWN]
    assert md[6] == f"| host saves | `host_saves` | {data[0]['per_kvm_run']['host_saves']:.3f} |"
    table = run_cli("stats", EAGER, "--workload", "seed_2018").stdout
    assert re.search(r"│ binding invalidations\s+│ binding_invalidations\s+│\s+0\.351 │", table)
    assert " ".join(table.split()).endswith(
        "workload seed_2018: exit.to_user = 0.0057, exit.preempt = 0.0272, exit.softirq_neon = 0.002, "
        "guest.fp = 0.0132598 (from guest.fp_per_interval = 0.29), vmm.fp = 0.5, competing.fp = 1"
    )


def test_readme_documents_every_parameter_and_metric() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Workload profiles") :]
    for p in PARAMETERS:
        assert f"| `{p.id}` |" in section, p.id
    for m in SHOWN:
        assert f"| `{m}` |" in section, m
    for name in builtin_profiles():
        assert f"`{name}`" in section


def test_sve_parameters_choose_the_vmms_sve_code_and_an_sve_guest() -> None:
    """vmm.sve splits the VMM's FP use into FPSIMD and SVE code; guest.sve
    is 0 or 1 and only the 6.x models have SVE guests."""
    from fpdsl.model.runloop import initial_world, successors
    from fpdsl.stats.workload import macro_steps, profile_fits

    p = parse_profile(Source("s.toml", EXIT + "[vmm]\nfp = 0.5\nsve = 0.25\n[guest]\nsve = 1\n"))
    assert p.vmm_sve == 0.25 and p.guest_sve == 1.0
    assert profile_fits(p, "v4.18") == "guest.sve = 1: the v4.18 model has no SVE guests (the 6.x models have)"
    assert profile_fits(p, "v6.12") is None
    from fpdsl.stats.workload import workload_config

    config = workload_config("v6.12", guest_sve=True)
    world = initial_world(config, ())
    steps = dict(macro_steps(world, successors(world, config), p))
    ioctl = ("ioctl", "A", None)
    assert steps == {
        (("user_fp", "A", None), ioctl): 0.375,
        (("user_sve", "A", None), ioctl): 0.125,
        (ioctl,): 0.5,
    }
    assert "guest.sve is 0 or 1" in _error(EXIT + "[guest]\nsve = 0.5\n")
