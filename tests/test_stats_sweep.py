"""compare --sweep: the spacing, the CSV and JSON, and the plot (its axes'
scales, markers, dashes and legend) read from matplotlib's objects."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import POLICIES, run, run_cli

from fpdsl.diagnostics import UsageError
from fpdsl.stats.chain import COST_METRICS, CostResult
from fpdsl.stats.profile import load_profile
from fpdsl.stats.sweep import Sweep, parse_sweep, sweep_csv, sweep_figure, sweep_json, write_plot, y_scale

EAGER, LAZY = str(POLICIES / "eager.fp"), str(POLICIES / "lazy_until_put.fp")
SEED = load_profile("seed_2018")


def _result(name: str, scale: float, half: bool = False) -> CostResult:
    per_run = {m: scale * (i + 1) for i, m in enumerate(COST_METRICS)}
    hw = {m: scale / 10 for m in COST_METRICS} if half else None
    return CostResult(
        name, "seed_2018", "monte-carlo" if half else "exact", per_run, hw, confidence=0.99 if half else None
    )


def _sweep(half: bool = False, scales=((1.0, 0.5), (0.001, 0.25))) -> Sweep:
    spec, _ = parse_sweep("exit.to_user=0.01:0.5:2")
    sweep = Sweep(spec, SEED, "host_saves", "exact", {"a": "CLEAN", "b": "VIOLATED (lost-state)"})
    sweep.results = {name: [_result(name, s, half) for s in pair] for name, pair in zip("ab", scales, strict=True)}
    return sweep


def test_spacing_is_chosen_visibly() -> None:
    spec, _ = parse_sweep("exit.to_user=0.002:0.5:25")
    assert spec.spacing == "log" and spec.count == 25
    assert spec.values[0] == pytest.approx(0.002) and spec.values[-1] == pytest.approx(0.5)
    assert np.allclose(np.diff(np.log(spec.values)), np.log(250) / 24)
    assert spec.describe() == (
        "sweep: exit.to_user (probability per guest exit) from 0.002 to 0.5, 25 log-spaced points "
        "(auto: STOP/START exceeds 10; --spacing linear for even steps)"
    )
    spec, _ = parse_sweep("guest.fp=0:0.1:3")
    assert spec.spacing == "linear" and spec.values == (0.0, 0.05, 0.1)
    assert spec.reason == "auto: START or STOP is 0 or less; --spacing log for even ratios"
    spec, _ = parse_sweep("exit.preempt=0.01:0.05:3")
    assert spec.spacing == "linear" and spec.reason.startswith("auto: the range spans less than a decade")
    assert parse_sweep("exit.to_user=0.002:0.5:3", "linear")[0].values == (0.002, 0.251, 0.5)
    log = parse_sweep("exit.preempt=0.01:0.04:3", "log")[0]
    assert log.spacing == "log" and log.values[1] == pytest.approx(0.02) and log.reason == "--spacing log"
    with pytest.raises(UsageError, match="--spacing log needs START and STOP above 0"):
        parse_sweep("guest.fp=0:0.1:3", "log")


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([1.0, 2.0, 5.0], ("linear", {})),
        ([0.01, 0.5, 1.0], ("log", {})),
        ([0.0, 0.02, 1.0], ("symlog", {"linthresh": 0.01})),
        ([0.0, 0.0], ("linear", {})),
        ([1e-12, 0.5, 1.0], ("linear", {})),  # solver noise is zero
    ],
)
def test_y_scale(values: list[float], scale: tuple) -> None:
    assert y_scale(values) == scale


def test_csv_bytes() -> None:
    metrics = ",".join(COST_METRICS)
    row = lambda s: ",".join(format(s * (i + 1), ".12g") for i in range(len(COST_METRICS)))  # noqa: E731
    assert sweep_csv(_sweep()) == (
        f"policy,verdict,exit.to_user,{metrics}\n"
        f"a,CLEAN,0.01,{row(1.0)}\n"
        f"a,CLEAN,0.5,{row(0.5)}\n"
        f"b,VIOLATED (lost-state),0.01,{row(0.001)}\n"
        f"b,VIOLATED (lost-state),0.5,{row(0.25)}\n"
    )
    assert sweep_csv(_sweep()).splitlines()[1].startswith("a,CLEAN,0.01,1,2,3,4,5,")
    head = next(csv.reader(io.StringIO(sweep_csv(_sweep(half=True)))))
    assert head[3:] == [*COST_METRICS, *(f"ci99_half_width.{m}" for m in COST_METRICS)]


def test_json_shape() -> None:
    data = sweep_json(_sweep(half=True))
    assert list(data) == ["sweep", "profile", "workload", "method", "metric", "policies"]
    assert data["sweep"] == {
        "parameter": "exit.to_user",
        "unit": "probability per guest exit",
        "start": 0.01,
        "stop": 0.5,
        "count": 2,
        "spacing": "log",
        "spacing_reason": "auto: STOP/START exceeds 10; --spacing linear for even steps",
        "values": [0.01, 0.5],
    }
    assert [p["verdict"] for p in data["policies"]] == ["CLEAN", "VIOLATED (lost-state)"]
    point = data["policies"][0]["points"][1]
    assert list(point) == ["exit.to_user", "per_kvm_run", "ci99_half_width"]
    assert point["exit.to_user"] == 0.5 and point["per_kvm_run"]["host_saves"] == 2.5
    json.dumps(data)  # serialisable


def test_plot_axes_markers_and_legend() -> None:
    fig = sweep_figure(_sweep())
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"  # host_saves from 0.005 to 5: three decades
    assert ax.get_xscale() == "log"  # log-spaced points
    assert ax.get_xlabel() == "exit.to_user: probability per guest exit\n(2 log-spaced points from 0.01 to 0.5)"
    assert ax.get_ylabel() == "host saves per KVM_RUN (host_saves), log scale"
    lines = ax.get_lines()
    assert len({line.get_marker() for line in lines}) == len({line.get_linestyle() for line in lines}) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b: VIOLATED (lost-state)"]
    flat = sweep_figure(_sweep(scales=((1.0, 0.5), (1.5, 2.0)))).axes[0]
    assert flat.get_yscale() == "linear"


def test_plot_of_monte_carlo_has_error_bars(tmp_path: Path) -> None:
    ax = sweep_figure(_sweep(half=True)).axes[0]
    assert len(ax.containers) == 2  # one ErrorbarContainer per policy
    write_plot(_sweep(), str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_command_writes_plot_csv_and_json(tmp_path: Path) -> None:
    png, table = tmp_path / "s.png", tmp_path / "s.csv"
    args = ("compare", EAGER, LAZY, "--workload", "seed_2018", "--sweep", "exit.to_user=0.005:0.3:3")
    r = run_cli(*args, "--plot", str(png), "--csv", str(table), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(table.open()))
    assert [(row["policy"], row["verdict"]) for row in rows] == [("eager", "CLEAN")] * 3 + [
        ("lazy_until_put", "VIOLATED (lost-state, leaked-state)")
    ] * 3
    assert data["sweep"]["spacing"] == "log" and data["metric"] == "host_saves"
    for row, point in zip(rows, [p for pol in data["policies"] for p in pol["points"]], strict=True):
        assert float(row["exit.to_user"]) == pytest.approx(point["exit.to_user"], rel=1e-11)
        assert float(row["host_saves"]) == pytest.approx(point["per_kvm_run"]["host_saves"], rel=1e-11)
    # at the seed's exit rate the lazy policy's host saves are the table's 7.282
    assert data["policies"][1]["points"][0]["per_kvm_run"]["preemptions"] == pytest.approx(0.0272 / 0.005)
    again = run("compare", EAGER, LAZY, "--workload", "seed_2018", "--sweep", "exit.to_user=0.005:0.3:3", "--csv",
                str(tmp_path / "t.csv"), "--plot", str(tmp_path / "t.png"))  # fmt: skip
    assert again.exit_code == 0
    assert again.output == (
        "sweep: exit.to_user (probability per guest exit) from 0.005 to 0.3, 3 log-spaced points "
        f"(auto: STOP/START exceeds 10; --spacing linear for even steps)\nwrote {tmp_path / 't.png'}\n"
        f"wrote {tmp_path / 't.csv'}\n"
    )
    assert (tmp_path / "t.csv").read_bytes() == table.read_bytes()
    assert (tmp_path / "t.png").read_bytes() == png.read_bytes()


def test_old_parameter_name_works_with_a_note(tmp_path: Path) -> None:
    r = run_cli("compare", EAGER, "--workload", "seed_2018", "--sweep", "exit_to_user=0.01:0.02:2", "--json")
    assert r.returncode == 0
    assert r.stderr == "note: --sweep exit_to_user: the name is now 'exit.to_user'\n"
    assert json.loads(r.stdout)["sweep"]["parameter"] == "exit.to_user"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--sweep", "exit.to_user=0.01:0.1:2"), "--sweep needs somewhere to go: --plot FILE, --csv FILE or --json"),
        (("--plot", "x.png"), "--plot, --csv and --spacing are for a sweep: give --sweep PARAM=START:STOP:COUNT"),
        (("--csv", "x.csv"), "--plot, --csv and --spacing are for a sweep"),
        (("--sweep", "exit.to_user=0.01:0.1:2", "--json", "--markdown"), "--markdown prints the comparison table"),
        (("--sweep", "guest.fp=0:0.1:2", "--json", "--spacing", "log"), "--spacing log needs START and STOP above 0"),
        (("--sweep", "exit.to_user=0.01:0.1:2", "--csv", "/proc/x.csv"), "cannot write /proc/x.csv"),
    ],
)
def test_sweep_usage_errors(extra: tuple[str, ...], message: str) -> None:
    r = run("compare", EAGER, "--workload", "seed_2018", *extra)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
