"""hydratune as a user installs it: the wheel, in a fresh environment, runs a sweep; and the
dependency ranges in pyproject.toml include what the tests run on."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

from helpers import REPO, TINY_SWEEP


def requirement(name: str) -> Requirement:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (found,) = [r for r in map(Requirement, pyproject["project"]["dependencies"]) if r.name == name]
    return found


def test_the_optuna_range_in_pyproject_includes_the_tested_version_and_excludes_optuna_4():
    optuna = requirement("optuna")
    assert optuna.specifier.contains(version("optuna")), (optuna, version("optuna"))
    assert not optuna.specifier.contains("4.5.0")  # compat/ relies on Optuna 5 internals


@pytest.mark.slow  # builds a wheel and a venv, then trains three tiny trials
def test_the_wheel_ships_the_configs_and_runs_a_sweep_in_a_fresh_environment(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(  # hatchling from the test environment: no network, no build isolation
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--quiet", "--wheel-dir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("hydratune-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "hydratune/conf/train.yaml" in names  # src/hydratune/conf is a link to conf/
    assert "hydra_plugins/hydratune_sweeper/hydratune_sweeper.py" in names
    # the serve page's own plotly.js (the page works offline), with its license
    vendor = "hydratune/serve/static/vendor/"
    assert {vendor + "plotly.min.js", vendor + "LICENSE"} <= set(names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # the dependencies come from the test environment (a plain path: its .pth files, such as
    # a development install of hydratune itself, are not read); hydratune only from the wheel
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [python, "-c", "import hydratune; print(hydratune.__file__)"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(site), where

    run = tmp_path / "project"
    run.mkdir()
    done = subprocess.run(
        [venv / "bin" / "hydratune", "-m", *TINY_SWEEP],
        env=env,
        cwd=run,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = yaml.safe_load(
        (run / "outputs/sweeps/mlp_digits/optimization_results.yaml").read_text()
    )
    assert results["finished"] == 3 and "best_value" in results
