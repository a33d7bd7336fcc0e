"""Durable sweeps: kills, interrupts, lost workers, timeouts, resumes and changed spaces.

Kill tests run a real sweep in a subprocess, stop it with a signal while a chosen trial runs,
then run the same command again and check the exact trial counts and states in the storage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from helpers import load, start_quadratic_app, wait_for_marker
from hydratune.attrs import HEARTBEAT, LOST, OWNER, RETRY_OF
from hydratune.errors import StudyConfigError
from hydratune.sweep.recovery import Recovery

N = 5


def start(cwd: Path, *overrides: str, hang_at: int | None = None) -> subprocess.Popen:
    return start_quadratic_app(cwd, f"hydra.sweeper.n_trials={N}", *overrides, hang_at=hang_at)


def wait_for_hang(cwd: Path, proc: subprocess.Popen) -> int:
    """The pid of the process running the hanging trial, once it has started."""
    return wait_for_marker(cwd / "hanging", proc)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out


def check_resumed(cwd: Path, lost: int) -> None:
    """After a resume: N complete trials, the lost one failed and retried once with its params."""
    trials = load("quadratic", cwd).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N
    assert all(t.state.is_finished() for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in complete}) == N  # nothing duplicated
    assert trials[lost].state == TrialState.FAIL and trials[lost].user_attrs[LOST]
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == lost]
    assert retry.params == trials[lost].params and retry.state == TrialState.COMPLETE
    assert [t.number for t in trials] == list(range(len(trials)))


@pytest.mark.cli
def test_sigkill_mid_trial_loses_only_that_trial(tmp_path):
    proc = start(tmp_path, hang_at=2)
    wait_for_hang(tmp_path, proc)
    proc.kill()
    proc.wait()
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.RUNNING]

    code, out = finish(start(tmp_path))
    assert code == 0, out
    check_resumed(tmp_path, lost=2)
    assert sorted(p.name for p in (tmp_path / "sweeps/quadratic").iterdir() if p.is_dir()) == [
        str(n) for n in range(N + 1)
    ]


@pytest.mark.cli
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_fails_running_trials_writes_results_and_resumes(tmp_path, sig):
    proc = start(tmp_path, hang_at=1)
    wait_for_hang(tmp_path, proc)
    proc.send_signal(sig)
    code, out = finish(proc)
    assert code != 0
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert "interrupted" in trials[1].user_attrs["fail_reason"]
    assert (tmp_path / "sweeps/quadratic/optimization_results.yaml").exists()

    code, out = finish(start(tmp_path))
    assert code == 0, out
    check_resumed(tmp_path, lost=1)


@pytest.mark.slow
def test_a_killed_worker_fails_its_trial_which_is_retried_and_the_sweep_goes_on(tmp_path):
    proc = start(
        tmp_path, "hydra.sweeper.n_jobs=2", "hydra.sweeper.max_failure_rate=0.5", hang_at=1
    )
    os.kill(wait_for_hang(tmp_path, proc), signal.SIGKILL)
    code, out = finish(proc)
    assert code == 0, out
    check_resumed(tmp_path, lost=1)
    assert "worker process died" in load("quadratic", tmp_path).trials[1].user_attrs["fail_reason"]


@pytest.mark.cli
def test_a_rerun_of_a_finished_study_runs_nothing_and_exits_zero(tmp_path):
    assert finish(start(tmp_path))[0] == 0
    code, out = finish(start(tmp_path))
    assert code == 0 and "nothing to run" in out
    assert len(load("quadratic", tmp_path).trials) == N


def test_seeded_sampler_does_not_repeat_configurations_on_resume(sweep, tmp_path):
    sweep(["hydra/sweeper/sampler=random", "hydra.sweeper.n_trials=3"])
    sweep(["hydra/sweeper/sampler=random", "hydra.sweeper.n_trials=6"])
    params = [tuple(sorted(t.params.items())) for t in load("quadratic", tmp_path).trials]
    assert len(set(params)) == 6


def test_a_new_trial_is_owned_from_its_first_record(sweep, tmp_path):
    """A kill at any moment after a trial exists leaves an owner to judge it lost by."""
    import json

    from hydratune.storage import storage_url

    sweep(["hydra.sweeper.n_trials=3"])
    records = map(json.loads, Path(storage_url(None, tmp_path)).read_bytes().splitlines())
    creates = [r for r in records if "datetime_start" in r and "trial_id" not in r]  # new trials
    assert len(creates) == 3
    assert all({HEARTBEAT, OWNER} <= set(c["user_attrs"]) for c in creates)
    study = load("quadratic", tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert all(t.user_attrs[OWNER] == study.trials[0].user_attrs[OWNER] for t in study.trials)


def test_timeout_ends_the_sweep_cleanly(sweep, tmp_path):
    def slow(cfg):
        time.sleep(0.2)  # a trial that takes time, so the timeout has something to end
        return 0.0

    sweep(["hydra.sweeper.n_trials=100", "hydra.sweeper.timeout=1"], task=slow)
    trials = load("quadratic", tmp_path).trials
    assert 1 <= len(trials) < 100
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_incompatible_space_change_fails_before_any_trial_naming_the_param(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=2"])
    with pytest.raises(StudyConfigError, match=r"params.kind.*hydra.sweeper.study_name"):
        sweep(["hydra.sweeper.n_trials=4", "kind=choice(a, b, c)"], task=pytest.fail)
    assert len(load("quadratic", tmp_path).trials) == 2


def test_widened_interval_continues_with_a_warning(sweep, tmp_path, capfd):
    sweep(["hydra.sweeper.n_trials=2"])
    sweep(["hydra.sweeper.n_trials=4", "x=interval(-10, 10)"])
    assert "x changed from" in "".join(capfd.readouterr())  # Hydra's job logging owns the log
    assert len(load("quadratic", tmp_path).trials) == 4


def stale_study(tmp_path: Path, owner: str, beat_age: float) -> tuple[optuna.Study, int]:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.journal"))
    )
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr(OWNER, owner)
    trial.set_user_attr(HEARTBEAT, time.time() - beat_age)
    return study, trial.number


def test_a_trial_whose_heartbeat_stopped_on_another_host_is_failed_and_retried(tmp_path):
    study, number = stale_study(tmp_path, "other-host:1", beat_age=120)
    assert Recovery(study, grace=60).recover(force=True) == [number]
    failed, retry = study.get_trials()
    assert failed.state == TrialState.FAIL and "no heartbeat" in failed.user_attrs["fail_reason"]
    assert retry.state == TrialState.WAITING
    assert study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}).params == failed.params


def test_a_trial_with_a_fresh_heartbeat_on_another_host_is_left_alone(tmp_path):
    study, _ = stale_study(tmp_path, "other-host:1", beat_age=5)
    assert Recovery(study, grace=60).recover(force=True) == []
    assert study.get_trials()[0].state == TrialState.RUNNING


def test_retries_stop_after_max_retries(tmp_path):
    study, number = stale_study(tmp_path, "other-host:1", beat_age=120)
    Recovery(study, max_retries=1, grace=60).recover(force=True)
    retry = study.ask()  # the retry runs and is lost too
    retry.set_user_attr(OWNER, "other-host:1")
    retry.set_user_attr(HEARTBEAT, 0.0)
    Recovery(study, max_retries=1, grace=60).recover(force=True)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.FAIL]
