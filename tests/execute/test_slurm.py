"""Trials as Slurm jobs through submitit, on a real single-node Slurm cluster."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from helpers import load

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

HERE = Path(__file__).parent
SLURM = [
    "hydra/launcher=submitit_slurm",
    "hydra.sweeper.n_jobs=2",
    "hydra.launcher.timeout_min=5",
    "hydra.launcher.cpus_per_task=1",
]


@pytest.fixture
def cluster(slurm_cluster, monkeypatch):
    """The session's cluster; jobs import this module and helpers.py as the test does
    (sbatch passes the environment on)."""
    path = os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    return slurm_cluster


def in_slurm_job(cfg):
    """The quadratic objective, reporting the Slurm job it ran in."""
    from helpers import quadratic
    from hydratune import current_trial

    current_trial().set_user_attr("slurm_job_env", os.environ.get("SLURM_JOB_ID"))
    return quadratic(cfg)


def test_every_trial_is_a_slurm_job(cluster, sweep, tmp_path, caplog):
    pruning = [
        "curve_steps=4",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
    ]
    caplog.set_level(logging.INFO, logger="hydratune")
    sweep([*SLURM, *pruning, "hydra.sweeper.n_trials=5"], task=in_slurm_job)
    trials = load("quadratic", tmp_path).trials
    assert len(trials) == 5
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    for trial in trials:
        job_id = trial.user_attrs["job_id"]
        assert trial.user_attrs["slurm_job_env"] == job_id  # it ran inside that Slurm job
        folder = tmp_path / "sweeps/quadratic" / str(trial.number) / ".submitit"
        assert (folder / f"{job_id}_0_log.out").is_file()
        assert f"trial #{trial.number}: slurm job {job_id}" in caplog.text
    # Slurm itself ran them: it knows each job, which ends (a job writes its result, then exits)
    ids = [t.user_attrs["job_id"] for t in trials]
    assert poll(lambda: set(slurm_states(ids).values()) == {"COMPLETED"}, 30)


def slurm_states(ids: list[str]) -> dict[str, str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T", f"--jobs={','.join(ids)}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return dict(zip(out[::2], out[1::2], strict=True))


def poll(condition, seconds: float) -> bool:
    """Whether ``condition()`` holds within ``seconds`` (checked every 0.2 s)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
