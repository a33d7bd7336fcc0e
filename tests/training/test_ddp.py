"""Trials trained with DDP on CPU, in the README's forms: ``+trainer.strategy=ddp_spawn
trainer.devices=2`` (Lightning spawns the ranks) and ``+trainer.strategy=ddp trainer.devices=2``
(Lightning runs the command again for rank 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from helpers import REPO, TINY_SWEEP, load, multirun
from hydratune.training.task import train

pytestmark = pytest.mark.slow

ON_CPU = ["trainer.devices=2", "trainer.accelerator=cpu"]
HYDRATUNE = Path(sys.executable).with_name("hydratune")  # the command the README runs


def hydratune_multirun(cwd: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HYDRATUNE), "-m", *TINY_SWEEP, *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_ddp_spawn_trial_completes_with_rank_zeros_objective(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    multirun(
        [*TINY_SWEEP, "+trainer.strategy=ddp_spawn", *ON_CPU, "hydra.sweeper.n_trials=1"],
        task=train,
        config_name="train",
        config_dir=REPO / "conf",
    )
    (trial,) = load("mlp_digits", tmp_path).trials
    assert trial.state == TrialState.COMPLETE
    # rank 0 reported every epoch; the objective (val/acc, best epoch) is the best of them
    assert sorted(trial.intermediate_values) == [0, 1]
    assert trial.value == max(trial.intermediate_values.values())


def test_ddp_trials_one_after_another_complete_with_rank_zeros_objective(tmp_path):
    done = hydratune_multirun(
        tmp_path, "+trainer.strategy=ddp", *ON_CPU, "hydra.sweeper.n_trials=2"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trials = load("mlp_digits", tmp_path).trials
    # the second trial starts its own rank 1 in a process the first left clean
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:
        assert sorted(trial.intermediate_values) == [0, 1]
        assert trial.value == max(trial.intermediate_values.values())
        # rank 1 ran this trial (its log in the trial's dir), not a sweep of its own
        rank1_log = Path(trial.user_attrs["output_dir"]) / "hydratune_rank1.log"
        assert rank1_log.exists()
    assert len(load("mlp_digits", tmp_path).trials) == 2


def test_a_pruned_ddp_trial_stops_on_every_rank_at_the_same_epoch(tmp_path):
    # val/acc is maximised: a lower bound no model reaches prunes at the first epoch
    pruner = ["hydra/sweeper/pruner=threshold", "hydra.sweeper.pruner.lower=1.5"]
    done = hydratune_multirun(
        tmp_path, "+trainer.strategy=ddp", *ON_CPU, "hydra.sweeper.n_trials=1", *pruner
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (trial,) = load("mlp_digits", tmp_path).trials
    assert trial.state == TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]
    rank1_log = (Path(trial.user_attrs["output_dir"]) / "hydratune_rank1.log").read_text()
    assert "rank 1 of trial #0 ended: TrialPruned: pruned at epoch 0" in rank1_log


def test_ddp_in_worker_processes_stops_the_sweep_at_its_first_trial_naming_what_works(tmp_path):
    done = hydratune_multirun(tmp_path, "+trainer.strategy=ddp", *ON_CPU, "hydra.sweeper.n_jobs=2")
    assert done.returncode != 0
    assert "+trainer.strategy=ddp_spawn" in done.stderr
    reasons = [t.user_attrs.get("fail_reason", "") for t in load("mlp_digits", tmp_path).trials]
    assert reasons and all("worker process" in r for r in reasons if r)
