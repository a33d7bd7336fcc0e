"""``hydra/launcher=submitit_local``: each trial a submitit job in a local process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers import load, quadratic, start_quadratic_app, wait_for

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


def in_local_job(cfg):
    """The quadratic objective, reporting the process it ran in."""
    from helpers import quadratic
    from hydratune import current_trial

    current_trial().set_user_attr("pid", os.getpid())
    return quadratic(cfg)


@pytest.fixture(autouse=True)
def jobs_import_the_tests(monkeypatch):
    """Jobs import this module and helpers.py as the test does (they inherit PYTHONPATH)."""
    path = os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)


def test_submitit_local_runs_each_trial_as_its_own_job(sweep, tmp_path):
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


def test_a_rerun_records_the_result_of_a_job_that_finished_while_the_sweep_was_dead(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    for number in (0, 2):  # trial 1 alone is held in its job; the others run through
        (gate / f"go-{number}").touch()
    local = ["hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=3"]
    proc = start_quadratic_app(tmp_path, *local, env={"GATE_DIR": str(gate)})

    def held_alone() -> bool:
        assert proc.poll() is None, proc.stdout.read()
        if not (gate / "started-1").exists():
            return False
        states = [t.state for t in load("quadratic", tmp_path).trials]
        return states == [TrialState.COMPLETE, TrialState.RUNNING, TrialState.COMPLETE]

    wait_for(held_alone, "trial 1 held alone in its job")
    job = load("quadratic", tmp_path).trials[1].user_attrs
    proc.kill()  # the sweeper dies; its local job lives on
    proc.wait()
    (gate / "go-1").touch()  # the job finishes with no sweep to see it
    result = Path(job["job_folder"]) / f"{job['job_id']}_0_result.pkl"
    wait_for(result.exists, "the orphaned job's result")
    assert load("quadratic", tmp_path).trials[1].state == TrialState.RUNNING
    (gate / "go-3").touch()  # a retry of trial 1 (were it taken for lost) would run through

    out, _ = start_quadratic_app(tmp_path, *local, env={"GATE_DIR": str(gate)}).communicate(
        timeout=180
    )
    assert f"trial #1: local job {job['job_id']} had ended; its result is told" in out
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3  # nothing run again
    objective = {"shape": {"scale": 1.0}, "fail_when_x_above": None, "curve_steps": 0}
    assert trials[1].value == quadratic(OmegaConf.create({**objective, **trials[1].params}))
