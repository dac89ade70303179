"""A wheel built with `pip install .` carries the grammar, templates and
shipped policies, and works from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from helpers import ROOT


def test_wheel_carries_resources_and_runs_from_elsewhere(tmp_path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("fpdsl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "fpdsl/grammars/fpdsl.lark" in names
    assert "fpdsl/policies/scenarios/seed_ab.scn" in names
    assert "fpdsl/policies/profiles/seed_2018.toml" in names
    assert any(n.startswith("fpdsl/templates/") for n in names)
    # The wheel alone in a folder of its own, ahead of this checkout on the
    # path; its dependencies come from the running interpreter (a virtualenv
    # or not).
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    fpdsl = [sys.executable, "-m", "fpdsl.cli"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    policies = sorted(str(p) for p in (ROOT / "policies").glob("*.fp"))
    out = subprocess.run([*fpdsl, "check", *policies], cwd=elsewhere, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(": ok") == len(policies)
    code = "import fpdsl.resources as r; print(r.resource_dir('grammars'))"
    where = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True, env=env)
    assert where.stdout.strip() == str(site / "fpdsl" / "grammars")
    # the built-in scenario and profile are found inside the wheel
    out = subprocess.run(
        [*fpdsl, "stats", policies[0], "--workload", "io_storm", "--json"],
        cwd=elsewhere, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
