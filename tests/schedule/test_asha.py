"""ASHA with promotion on real Lightning checkpoints: rungs, promotion of the top 1/eta, the
study it leaves (what trained, where it continued from), used checkpoints deleted, a torn
checkpoint never loaded, and settings that cannot work refused before the first trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from helpers import (
    REPO,
    load,
    multirun,
    train_handing_trial_0s_promotion_to_the_other_worker,
    train_killed_in_its_first_continuation,
)
from hydratune.attrs import CHECKPOINT, LOST, RESUMED_FROM, RETRY_OF, SEGMENT
from hydratune.errors import StudyConfigError
from hydratune.schedule.asha import rung_epochs
from hydratune.schedule.lineage import is_paused
from hydratune.training.task import train

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

TINY = ["+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2"]
ASHA = ["hydra/sweeper/scheduler=asha", "hydra.sweeper.scheduler.eta=2"]
PBT = ["hydra/sweeper/scheduler=pbt"]
QUIET = [
    "trainer.max_epochs=4",  # ASHA's rungs at 1, 2 and 4 epochs
    "hydra.sweeper.progress=false",
    "hydra.sweeper.report=false",
]


def sweep(*overrides: str, scheduler: list[str] = ASHA, task: Any = train) -> None:
    multirun(
        ["sweep=mlp_digits", *TINY, *QUIET, *scheduler, *overrides],
        task=task,
        config_name="train",
        config_dir=REPO / "conf",
    )


def test_rungs_grow_by_eta_below_the_last_epoch_which_is_the_last_rung():
    assert rung_epochs(1, 3, 9) == [1, 3, 9]
    assert rung_epochs(1, 3, 10) == [1, 3, 9, 10]
    assert rung_epochs(2, 2, 5) == [2, 4, 5]


@pytest.mark.slow  # 12 Lightning trials: not in make test-fast
def test_asha_promotes_the_top_of_each_rung_from_its_checkpoint_and_the_study_shows_it(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    sweep("hydra.sweeper.n_trials=12")
    trials = load("mlp_digits", tmp_path).trials
    assert len(trials) == 12
    continued = [t for t in trials if RESUMED_FROM in t.user_attrs]
    assert continued, "no trial was promoted"
    for trial in continued:
        resumed = trial.user_attrs[RESUMED_FROM]
        source = trials[resumed["trial"]]
        rung = source.user_attrs[SEGMENT]["rung"]
        assert trial.params == source.params
        assert resumed["epoch"] == source.user_attrs[SEGMENT]["epochs"]
        assert trial.user_attrs[SEGMENT]["rung"] == rung + 1
        # it trained (and reported) only the epochs after its source's pause
        epochs = trial.user_attrs[SEGMENT]["epochs"]
        assert sorted(trial.intermediate_values) == list(range(resumed["epoch"], epochs))
        # promoted from the top 1/eta of the trials paused at that rung before it was asked
        rivals = [
            t
            for t in trials
            if t.number < trial.number and is_paused(t) and t.user_attrs[SEGMENT]["rung"] == rung
        ]
        scores = sorted((t.intermediate_values[resumed["epoch"] - 1] for t in rivals), reverse=True)
        assert source.intermediate_values[resumed["epoch"] - 1] >= scores[len(rivals) // 2 - 1]
        # the checkpoint it continued from is used up: deleted
        assert not Path(source.user_attrs[CHECKPOINT]["path"]).exists()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(t.user_attrs[SEGMENT]["epochs"] == 4 for t in complete)
    waiting = [
        t
        for t in trials
        if is_paused(t) and t.number not in {c.user_attrs[RESUMED_FROM]["trial"] for c in continued}
    ]
    assert waiting and all(Path(t.user_attrs[CHECKPOINT]["path"]).is_file() for t in waiting)


@pytest.mark.slow  # two Lightning sweeps: not in make test-fast
def test_a_torn_checkpoint_is_never_loaded_and_its_trial_is_not_continued(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.chdir(tmp_path)
    sweep("hydra.sweeper.n_trials=2")  # two paused at rung 0: the better one is next to go on
    trials = load("mlp_digits", tmp_path).trials
    best = max(trials, key=lambda t: t.intermediate_values[0])
    path = Path(best.user_attrs[CHECKPOINT]["path"])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # cut short, as by a kill
    capfd.readouterr()
    sweep("hydra.sweeper.n_trials=4")  # the sweep's log goes to the terminal, as Hydra sets it
    later = load("mlp_digits", tmp_path).trials[2:]
    assert all(t.user_attrs.get(RESUMED_FROM, {}).get("trial") != best.number for t in later)
    assert f"trial #{best.number}'s checkpoint" in "".join(capfd.readouterr())


def test_an_app_that_saves_no_checkpoint_stops_the_sweep_at_the_first_pause(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="no checkpoint is at"):
        sweep("hydra.sweeper.n_trials=3", "hydra.sweeper.scheduler.save_key=null")
    (trial,) = load("mlp_digits", tmp_path).trials
    assert trial.state == TrialState.FAIL
    assert "ModelCheckpoint(save_last=True)" in trial.user_attrs["fail_reason"]


def test_an_app_that_ignores_the_checkpoint_it_is_given_stops_at_its_first_continuation(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    # the checkpoint goes to a key the task does not continue from: it trains from epoch 0 again
    with pytest.raises(Exception, match="ignores hydra.sweeper.scheduler.load_key=paths.data_dir"):
        sweep("hydra.sweeper.n_trials=6", "hydra.sweeper.scheduler.load_key=paths.data_dir")
    trials = load("mlp_digits", tmp_path).trials
    (continued,) = [t for t in trials if RESUMED_FROM in t.user_attrs]
    assert continued.state == TrialState.FAIL and min(continued.intermediate_values) == 0
    assert all(t.state == TrialState.PRUNED for t in trials if t is not continued)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (
            [
                "hydra/sweeper/sampler=grid",
                "hydra.sweeper.params=null",
                "model.n_layers=choice(1,2)",
            ],
            "grid",
        ),
        (["hydra.sweeper.scheduler.eta=1"], "scheduler.eta"),
        (["hydra.sweeper.scheduler.min_resource=4"], "scheduler.min_resource"),
        (["hydra/sweeper/pruner=median"], "pruner=nop"),
        (["hydra.sweeper.scheduler.load_key=resume_from"], "scheduler.load_key"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_the_first_trial(
    tmp_path, monkeypatch, overrides, key
):
    refused(tmp_path, monkeypatch, key, *overrides)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["hydra.sweeper.scheduler.perturbation_interval=4"], "scheduler.perturbation_interval"),
        (["hydra.sweeper.scheduler.population=9"], "scheduler.population"),
    ],
)
def test_pbt_settings_that_cannot_work_are_refused_before_the_first_trial(
    tmp_path, monkeypatch, overrides, key
):
    refused(tmp_path, monkeypatch, key, *overrides, scheduler=PBT)


def refused(tmp_path, monkeypatch, key: str, *overrides: str, scheduler=ASHA) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StudyConfigError, match=key) as raised:
        sweep("hydra.sweeper.n_trials=8", *overrides, scheduler=scheduler)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "outputs/hydratune.journal").exists()


# Trial 0 learns (the top lr), trial 1 barely moves (the bottom lr): trial 0 is the one promoted.
GOOD_AND_BAD = (
    "hydra.sweeper.enqueue=["
    + ", ".join(
        f"{{model.hidden_dim: 64, model.n_layers: 1, model.dropout: 0.0, model.optimizer.lr: {lr},"
        " model.optimizer.weight_decay: 1e-6}"
        for lr in (3e-2, 1e-4)
    )
    + "]"
)


@pytest.mark.slow
def test_with_two_worker_processes_a_trial_paused_in_one_continues_in_the_other(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    sweep(
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.n_jobs=2",
        GOOD_AND_BAD,
        task=train_handing_trial_0s_promotion_to_the_other_worker,
    )
    trials = load("mlp_digits", tmp_path).trials
    first, second = trials[0], trials[1]
    assert first.user_attrs["pid"] != second.user_attrs["pid"], "one worker each"
    assert first.intermediate_values[0] > second.intermediate_values[0]  # at the first rung
    continued = [t for t in trials if RESUMED_FROM in t.user_attrs]
    for trial in continued:  # each loaded its source's checkpoint: it trained on from there
        assert min(trial.intermediate_values) == trial.user_attrs[RESUMED_FROM]["epoch"]
    (promoted, *_) = [t for t in continued if t.user_attrs[RESUMED_FROM]["trial"] == 0]
    assert promoted.user_attrs["pid"] == second.user_attrs["pid"] != first.user_attrs["pid"]


@pytest.mark.slow
def test_a_worker_killed_while_a_promoted_trial_trains_loses_only_that_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep(
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.n_jobs=2",
        task=train_killed_in_its_first_continuation,
    )
    trials = load("mlp_digits", tmp_path).trials
    (lost,) = [t for t in trials if t.user_attrs.get(LOST)]
    assert RESUMED_FROM in lost.user_attrs
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == lost.number]
    # the retry continues the same run from the same checkpoint: the epochs before it are kept
    assert retry.user_attrs[RESUMED_FROM] == lost.user_attrs[RESUMED_FROM]
    assert retry.user_attrs[SEGMENT] == lost.user_attrs[SEGMENT]
    assert retry.state != TrialState.FAIL
    assert min(retry.intermediate_values) == retry.user_attrs[RESUMED_FROM]["epoch"]
