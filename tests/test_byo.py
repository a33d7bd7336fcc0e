"""Bring your own: a project outside the repo with its own model, and a plain Hydra app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from optuna.trial import TrialState

from helpers import APPS, load
from hydratune.scaffold import create_project


def hydratune(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "hydratune", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_an_init_project_outside_the_repo_sweeps_with_pruning(tmp_path):
    # its single training run is the README's (README.md's init block, tests/test_docs_commands.py)
    hydratune(tmp_path, "init", "proj")
    project = tmp_path / "proj"
    hydratune(
        project,
        "--config-dir",
        "conf",
        "-m",
        "sweep=tiny",
        "hydra.sweeper.n_trials=4",
        "trainer.max_epochs=3",
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.lower=1.5",
    )
    trials = load("tiny", project).trials
    assert len(trials) == 4
    # val/acc never reaches 1.5: the user's own model is pruned at its first epoch, every time
    assert all(t.state == TrialState.PRUNED and list(t.intermediate_values) == [0] for t in trials)


def test_init_refuses_to_overwrite(tmp_path):
    create_project(tmp_path)
    with pytest.raises(FileExistsError, match="mymodels.py"):
        create_project(tmp_path)


@pytest.mark.cli
def test_a_plain_hydra_app_returning_a_float_gets_a_results_file(tmp_path):
    app = APPS / "quadratic_app.py"
    done = subprocess.run(
        [sys.executable, str(app), "-m", "hydra.sweeper.n_trials=4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = yaml.safe_load((tmp_path / "sweeps/quadratic/optimization_results.yaml").read_text())
    assert results["best_trial_number"] == load("quadratic", tmp_path).best_trial.number
