"""Real Lightning sweeps on digits (tiny trials): pruning from inside Lightning in this process,
in worker processes and under DDP, and NaN metrics. The CLI end to end (the README's sweeps:
results that match the stored study, the objective's direction) is tests/test_docs_commands.py."""

from __future__ import annotations

import tempfile

import pytest
from optuna.trial import TrialState

from helpers import REPO, load, multirun
from hydratune.training.task import train

TINY = ["trainer.max_epochs=4", "+trainer.limit_train_batches=6", "+trainer.limit_val_batches=2"]
# Learning rates that learn and ones that do not, so the median pruner has bad trials to stop.
LR_SPACE = ["hydra.sweeper.params=null", "model.optimizer.lr=choice(0.00001,0.00002,0.01,0.02)"]
MEDIAN = ["hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=2"]


def lightning_sweep(overrides: list[str]) -> None:
    multirun(
        ["sweep=mlp_digits", *TINY, *overrides],
        task=train,
        config_name="train",
        config_dir=REPO / "conf",
    )


@pytest.mark.slow
def test_median_pruner_stops_bad_lightning_trials_with_their_curves_stored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lightning_sweep(
        ["hydra.sweeper.n_trials=8", "hydra/sweeper/sampler=random", *LR_SPACE, *MEDIAN]
    )
    trials = load("mlp_digits", tmp_path).trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and len(complete) + len(pruned) == 8
    for trial in pruned:
        assert 1 <= len(trial.intermediate_values) < 4
        assert trial.params["model.optimizer.lr"] < 0.001  # only the non-learning rates
        assert "pruned at epoch" in trial.user_attrs["stopped_reason"]
    assert all(sorted(t.intermediate_values) == [0, 1, 2, 3] for t in complete)


@pytest.mark.slow
def test_a_trial_pruned_by_hand_stops_at_its_first_validation_epoch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lightning_sweep(
        [
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.custom_search_space=helpers.prune_trial_1_by_hand",
        ]
    )
    trials = load("mlp_digits", tmp_path).trials
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    assert trials[1].user_attrs["stopped_reason"].startswith("pruned by hand: ")
    assert len(trials[1].intermediate_values) == 1  # the PruningCallback's first check
    assert all(len(t.intermediate_values) == 4 for t in (trials[0], trials[2]))


@pytest.mark.slow
def test_pruning_works_from_joblib_launcher_worker_processes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lightning_sweep(
        [
            "hydra.sweeper.n_trials=6",
            # Hydra's joblib launcher, as configs written for it say: 2 worker processes
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "hydra/sweeper/sampler=random",
            *LR_SPACE,
            *MEDIAN,
        ]
    )
    trials = load("mlp_digits", tmp_path).trials
    assert len(trials) == 6 and all(t.state.is_finished() for t in trials)
    assert all(t.intermediate_values for t in trials)  # reported from the workers
    assert len({t.user_attrs["output_dir"] for t in trials}) == 6
    assert any(t.state == TrialState.PRUNED for t in trials)


@pytest.mark.slow
def test_ddp_spawn_trial_is_pruned_once_with_no_rank_left_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the file rank 0 writes its record to for this process is removed, pruned as it is
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    lightning_sweep(
        [
            "hydra.sweeper.n_trials=1",
            "+trainer.strategy=ddp_spawn",
            "trainer.devices=2",
            # val/acc is maximised: a lower bound no model reaches prunes at the first epoch
            "hydra/sweeper/pruner=threshold",
            "hydra.sweeper.pruner.lower=1.5",
        ]
    )
    (trial,) = load("mlp_digits", tmp_path).trials
    assert trial.state == TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]
    assert not list((tmp_path / "tmp").glob("hydratune-objective-*"))


@pytest.mark.slow
def test_nan_metric_fails_the_trial_with_its_reason_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lightning_sweep(
        [
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.max_failure_rate=1.0",
            "hydra.sweeper.params=null",
            "objective.metric=val/loss",
            "objective.direction=minimize",
            "model/optimizer=sgd",
            "model.optimizer.lr=choice(1e30,0.01)",
            "hydra/sweeper/sampler=grid",
        ]
    )
    trials = {t.params["model.optimizer.lr"]: t for t in load("mlp_digits", tmp_path).trials}
    assert trials[1e30].state == TrialState.FAIL
    assert "val/loss is nan" in trials[1e30].user_attrs["fail_reason"]
    assert trials[0.01].state == TrialState.COMPLETE


def test_in_memory_storage_with_worker_processes_fails_before_any_trial(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from hydratune.errors import StudyConfigError

    with pytest.raises(StudyConfigError, match="cannot be shared"):
        lightning_sweep(["hydra.sweeper.n_jobs=2", "hydra.sweeper.storage=memory"])


def test_a_metric_that_is_never_logged_stops_the_sweep_after_the_first_trial(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from hydratune.sweep.sweeper import SweepFailedError

    with pytest.raises(SweepFailedError, match="val/acc, val/loss"):
        lightning_sweep(
            [
                "hydra.sweeper.n_trials=5",
                "hydra.sweeper.max_failure_rate=1.0",
                "objective.metric=val/accuracy",
            ]
        )
    (trial,) = load("mlp_digits", tmp_path).trials
    assert "objective.metric 'val/accuracy'" in trial.user_attrs["fail_reason"]


def test_direction_count_must_match_the_objective_metrics_before_any_trial(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from hydratune.errors import StudyConfigError

    with pytest.raises(StudyConfigError, match="objective.metric names 2 metric"):
        lightning_sweep(["objective.metric=[val/loss,val/acc]", "hydra.sweeper.direction=minimize"])
    assert not (tmp_path / "outputs").exists()
