"""``hydra/launcher=submitit_local``: each trial a submitit job in a local process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from optuna.trial import TrialState

from helpers import load

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


def in_local_job(cfg):
    """The quadratic objective, reporting the process it ran in."""
    from helpers import quadratic
    from hydratune import current_trial

    current_trial().set_user_attr("pid", os.getpid())
    return quadratic(cfg)


def test_submitit_local_runs_each_trial_as_its_own_job(sweep, tmp_path, monkeypatch):
    path = os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)  # the job imports this module and helpers.py
    sweep(
        ["hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=3"],
        task=in_local_job,
    )
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) == 3 and os.getpid() not in pids  # a fresh process per trial
    for trial in trials:
        folder = Path(trial.user_attrs["job_folder"])
        assert folder == tmp_path / "sweeps/quadratic" / str(trial.number) / ".submitit"
        assert trial.user_attrs["job_cluster"] == "local"
        assert (folder / f"{trial.user_attrs['job_id']}_0_log.out").is_file()
