"""One machine, N slots: asynchronous ask/tell with no batch barrier, reused worker processes
with their own thread counts, and per-slot GPU assignment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from optuna.trial import TrialState

import hydratune.app
from helpers import APPS, load, multirun, quadratic
from hydratune import current_trial
from hydratune.execute.local import slot_devices
from hydratune.execute.worker import modules_to_preload


def wait_for_trial_3(cfg):
    """Trial 0 finishes only once trial 3 has run: with batches of 2 (0,1 then 2,3) it never
    could; with free slots trials 1-3 run beside it."""
    number = HydraConfig.get().job.num
    marker = Path(HydraConfig.get().runtime.cwd) / "trial-3-ran"
    if number == 3:
        marker.touch()
    if number == 0:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("trial 3 never ran while trial 0 was running")
            time.sleep(0.02)  # polling for the marker
    return 0.0


@pytest.mark.slow
def test_a_slow_trial_does_not_hold_back_the_other_slot(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=5", "hydra.sweeper.n_jobs=2"], task=wait_for_trial_3)
    trials = load("quadratic", tmp_path).trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[0].datetime_complete > trials[3].datetime_complete


def worker_facts(cfg):
    import torch

    trial = current_trial()
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("threads", torch.get_num_threads())
    trial.set_user_attr("gpus", os.environ.get("CUDA_VISIBLE_DEVICES"))
    return 0.0


def pool_trials(cwd: Path, *settings: str) -> list:
    """The trials of a sweep of two worker processes that record their worker's facts."""
    multirun(["hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2", *settings], task=worker_facts)
    return load("quadratic", cwd).trials


# Its tests share a pytest-xdist worker (``--dist loadgroup``), so one pool sweep serves both.
SHARES_THE_POOL = pytest.mark.xdist_group("pool_with_settings")


@pytest.fixture(scope="module")
def pool_with_settings(tmp_path_factory: pytest.TempPathFactory) -> list:
    """One pool sweep serves the tests of both settings: 3 threads and one GPU per worker
    (CUDA_VISIBLE_DEVICES=0,1 is the slots' assignment, no GPU needed)."""
    cwd = tmp_path_factory.mktemp("pool")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        patch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
        settings = ["hydra.sweeper.threads_per_worker=3", "hydra.sweeper.devices_per_trial=1"]
        return pool_trials(cwd, *settings)


def assert_two_reused_workers_with(trials: list, threads: int) -> None:
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) == 2 and os.getpid() not in pids
    assert {t.user_attrs["threads"] for t in trials} == {threads}


@pytest.mark.slow
def test_workers_are_reused_and_use_their_share_of_threads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trials = pool_trials(tmp_path)
    assert_two_reused_workers_with(trials, threads=max(1, (os.cpu_count() or 1) // 2))


@pytest.mark.slow
@SHARES_THE_POOL
def test_workers_use_the_threads_per_worker_they_are_given(pool_with_settings):
    assert_two_reused_workers_with(pool_with_settings, threads=3)


def test_each_slot_gets_its_own_gpus():
    assert slot_devices(2, 1, ["0", "1", "2"]) == ["0", "1"]
    assert slot_devices(2, 2, ["4", "5", "6", "7"]) == ["4,5", "6,7"]
    assert slot_devices(3, 0, []) == [None, None, None]


def test_too_few_gpus_for_the_slots_is_an_error_naming_the_settings():
    with pytest.raises(ValueError, match="devices_per_trial=2 with n_jobs=2 needs 4 GPUs; 3"):
        slot_devices(2, 2, ["0", "1", "2"])


@pytest.mark.slow
@SHARES_THE_POOL
def test_workers_see_only_their_slots_gpus(pool_with_settings):
    assert {t.user_attrs["gpus"] for t in pool_with_settings} == {"0", "1"}


def test_workers_import_lightning_first_only_for_a_task_whose_module_uses_it():
    # imported after Hydra's job logging, Lightning doubles its lines: a worker imports it first
    hydratune.app.import_lightning()  # what the app's main does unless it only prints
    assert modules_to_preload(hydratune.app.train_app) == ("lightning",)
    assert modules_to_preload(quadratic) == ()  # no 3-5 s import for a task without Lightning


@pytest.mark.cli
def test_a_sweeper_of_a_task_without_torch_does_not_load_it_for_its_workers(tmp_path):
    # a scikit-learn or XGBoost app's sweep with n_jobs pays no torch import (1-1.5 s) to ask
    # torch for GPUs it was not asked to share out (its workers still import torch to set
    # their threads: threads_per_worker beyond the cores, which torch's variables would cap)
    env = {**os.environ, "LOADED_TORCH": str(tmp_path / "loaded")}
    command = [sys.executable, str(APPS / "quadratic_app.py"), "-m"]
    command += ["hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2"]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(load("quadratic", tmp_path).trials) == 4
    assert (tmp_path / "loaded").read_text() == "False"


@pytest.mark.slow
def test_worker_processes_print_no_lightning_banner_the_config_quiets(tmp_path):
    # as a user runs it: the app's task imports Lightning in each worker's first trial, after
    # Hydra's job logging, which printed every Lightning line twice past conf's WARNING level
    command = ["sweep=mlp_digits", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2"]
    command += ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
    command += ["hydra.sweeper.report=false", "hydra.sweeper.export_best=false"]
    done = subprocess.run(
        [sys.executable, "-m", "hydratune", "-m", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "GPU available" not in output and "Seed set" not in output
    assert output.count("val/acc = ") == 2  # the task's own line, once per trial
