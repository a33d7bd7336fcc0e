"""A trial trained with DDP (``+trainer.strategy=ddp_spawn trainer.devices=2``) on CPU."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from helpers import REPO, TINY_SWEEP, load, multirun
from hydratune.training.task import train

pytestmark = pytest.mark.slow

# as the README gives it, on CPU
DDP = ["+trainer.strategy=ddp_spawn", "trainer.devices=2", "trainer.accelerator=cpu"]


def test_a_ddp_spawn_trial_completes_with_rank_zeros_objective(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    multirun(
        [*TINY_SWEEP, *DDP, "hydra.sweeper.n_trials=1"],
        task=train,
        config_name="train",
        config_dir=REPO / "conf",
    )
    (trial,) = load("mlp_digits", tmp_path).trials
    assert trial.state == TrialState.COMPLETE
    # rank 0 reported every epoch; the objective (val/acc, best epoch) is the best of them
    assert sorted(trial.intermediate_values) == [0, 1]
    assert trial.value == max(trial.intermediate_values.values())
