"""Pruning in someone else's LightningModule (lightning-hydra-template's pattern): the app
instantiates ``cfg.callbacks`` itself and returns its metric normally; hydratune's
PruningCallback, added from the command line, stops bad trials and they are recorded PRUNED."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import hydra
import lightning as L
import optuna
import pytest
import torch
from omegaconf import DictConfig
from optuna.trial import TrialState

import hydratune
from helpers import load
from hydratune import job_verdict
from hydratune.training.current_trial import TrialRef, register_live_study, unregister_live_study

pytestmark = pytest.mark.slow

RETURNED: list[float] = []


class Curve(L.LightningModule):
    """val/loss = (x - 1)^2 + 1 / (epoch + 1): a learning curve set by the trial's x."""

    def __init__(self, x: float) -> None:
        super().__init__()
        self.x = x
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        return (self.weight**2).sum()

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", (self.x - 1) ** 2 + 1 / (self.current_epoch + 1))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(x: float, callbacks: list[L.Callback]) -> L.Trainer:
    data = torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2)
    trainer = L.Trainer(
        max_epochs=4,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Curve(x), train_dataloaders=data, val_dataloaders=data)
    return trainer


def template_style_app(cfg: DictConfig) -> float:
    """Like lightning-hydra-template's train(): callbacks from config, metric returned."""
    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    trainer = fit(cfg.x, [c for c in callbacks if c is not None])
    RETURNED.append(float(trainer.callback_metrics["val/loss"]))
    return RETURNED[-1]


def test_a_trial_stopped_by_the_callback_is_pruned_though_the_app_returned(sweep, tmp_path):
    RETURNED.clear()
    sweep(
        [
            "hydra.sweeper.n_trials=3",
            "hydra/sweeper/pruner=median",
            "hydra.sweeper.pruner.n_startup_trials=2",
            "hydra.sweeper.pruner.n_warmup_steps=0",
            "hydra.sweeper.enqueue=[{x: 1.0}, {x: 1.5}, {x: 5.0}]",
            "+callbacks.prune._target_=hydratune.PruningCallback.for_current_trial",
            "+callbacks.prune.metric=val/loss",
        ],
        task=template_style_app,
    )
    trials = load("quadratic", tmp_path).trials
    assert len(RETURNED) == 3  # every app returned normally
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.PRUNED,
    ]
    assert trials[2].user_attrs["stopped_reason"].startswith("pruned at epoch 0")
    assert list(trials[2].intermediate_values) == [0]  # stopped after its first epoch
    assert len(trials[0].intermediate_values) == 4


@pytest.fixture
def running_trial() -> Iterator[TrialRef]:
    """A trial the threshold pruner stops at its first epoch once val/loss > 1."""
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    register_live_study("in-memory", study)
    yield TrialRef("in-memory", study.study_name, study.ask().number)
    unregister_live_study("in-memory", study)


def test_the_verdict_comes_back_with_the_job_when_the_callback_trained_in_its_process(
    running_trial,
):
    with job_verdict.collected() as verdict:
        fit(5.0, [hydratune.PruningCallback("val/loss", running_trial)])
    stored = running_trial.trial().user_attrs["stopped_reason"]
    assert stored.startswith("pruned at epoch 0")
    assert verdict.known() == {"stopped_reason": stored}  # the sweep needs no storage read


def test_a_callback_copied_to_another_process_leaves_the_verdict_to_the_study(running_trial):
    # ddp_spawn pickles the callbacks into its ranks: rank 0's verdict reaches only the study
    with job_verdict.collected() as verdict:
        made_here = hydratune.PruningCallback("val/loss", running_trial)
        fit(5.0, [pickle.loads(pickle.dumps(made_here))])
    assert running_trial.trial().user_attrs["stopped_reason"].startswith("pruned at epoch 0")
    assert verdict.known() is None  # so the sweep reads it there


def test_a_callback_made_and_trained_in_a_thread_of_the_job_still_hands_its_verdict_back(
    running_trial,
):
    def train_in_a_thread() -> None:  # an app that trains off its main thread
        fit(5.0, [hydratune.PruningCallback("val/loss", running_trial)])

    with job_verdict.collected() as verdict, ThreadPoolExecutor(1) as pool:
        pool.submit(train_in_a_thread).result()
    stored = running_trial.trial().user_attrs["stopped_reason"]
    assert verdict.known() == {"stopped_reason": stored}
