"""Trials trained with DDP on CPU, in the README's forms: ``+trainer.strategy=ddp_spawn
trainer.devices=2`` (Lightning spawns the ranks) and ``+trainer.strategy=ddp trainer.devices=2``
(Lightning runs the command again for rank 1); and how a DDP fit ends: every rank waits for the
others at the end of its fit and leaves the process group before its process exits. Without
that, rank 0 (the host of the group's store) could leave and exit while rank 1 was still
tearing down, and rank 1 finalized with gloo's threads running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch.distributed as dist
from lightning.pytorch.demos.boring_classes import BoringModel
from optuna.trial import TrialState

from helpers import NO_PNG, REPO, TINY_SWEEP, load, multirun, wait_for
from hydratune.training.distributed import RanksEndTogether
from hydratune.training.task import train

pytestmark = pytest.mark.slow

ON_CPU = ["trainer.devices=2", "trainer.accelerator=cpu"]
HYDRATUNE = Path(sys.executable).with_name("hydratune")  # the command the README runs


def hydratune_multirun(cwd: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    """``hydratune -m`` the tiny sweep, without the report's PNGs; ``overrides`` of its keys win,
    as on a command line."""
    return subprocess.run(
        [str(HYDRATUNE), "-m", *TINY_SWEEP, NO_PNG, *overrides],
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


def test_ddp_trials_complete_with_rank_zeros_objective_or_stop_on_every_rank_when_pruned(tmp_path):
    # A grid of two trials run one after the other in the sweeper's process: one epoch
    # completes (no pruning before n_warmup_steps=1); two epochs are pruned at epoch 1 (val/acc
    # is maximised, and no model reaches the lower bound 1.5).
    done = hydratune_multirun(
        tmp_path,
        "+trainer.strategy=ddp",
        *ON_CPU,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.params=null",
        "hydra/sweeper/sampler=grid",
        "trainer.max_epochs=choice(1,2)",
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.lower=1.5",
        "hydra.sweeper.pruner.n_warmup_steps=1",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trials = {t.params["trainer.max_epochs"]: t for t in load("mlp_digits", tmp_path).trials}
    complete, pruned = trials[1], trials[2]

    assert complete.state == TrialState.COMPLETE
    assert complete.value == complete.intermediate_values[0]  # rank 0's epoch

    assert pruned.state == TrialState.PRUNED
    assert sorted(pruned.intermediate_values) == [0, 1]
    # rank 1 ran this trial (its log in the trial's dir), not a sweep of its own, and stopped
    # at the epoch rank 0 was pruned at
    rank1_log = (Path(pruned.user_attrs["output_dir"]) / "hydratune_rank1.log").read_text()
    assert f"rank 1 of trial #{pruned.number} ended: TrialPruned: pruned at epoch 1" in rank1_log
    assert (Path(complete.user_attrs["output_dir"]) / "hydratune_rank1.log").exists()


def test_ddp_in_worker_processes_stops_the_sweep_at_its_first_trial_naming_what_works(tmp_path):
    done = hydratune_multirun(tmp_path, "+trainer.strategy=ddp", *ON_CPU, "hydra.sweeper.n_jobs=2")
    assert done.returncode != 0
    assert "+trainer.strategy=ddp_spawn" in done.stderr
    reasons = [t.user_attrs.get("fail_reason", "") for t in load("mlp_digits", tmp_path).trials]
    assert reasons and all("worker process" in r for r in reasons if r)


class ArriveAtTheEnd(L.Callback):
    """Marks each rank's arrival at the end of its fit; rank 1 arrives only after rank 0 has,
    as a rank starved by a loaded machine does."""

    def __init__(self, marks: Path) -> None:
        self.marks = marks

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.global_rank == 1:
            wait_for(lambda: (self.marks / "arrived-0").exists(), "rank 0 at the end of its fit")
        (self.marks / f"arrived-{trainer.global_rank}").write_text("")


class RecordTheEnd(L.Callback):
    """What a rank sees once it is past the end: had the other rank arrived, is its group gone."""

    def __init__(self, marks: Path) -> None:
        self.marks = marks

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        rank = trainer.global_rank
        seen = {
            "other_rank_arrived": (self.marks / f"arrived-{1 - rank}").exists(),
            "group_left": not dist.is_initialized(),
        }
        (self.marks / f"rank-{rank}.json").write_text(json.dumps(seen))


def test_every_rank_waits_for_the_others_at_the_end_of_a_fit_then_leaves_the_group(tmp_path):
    trainer = L.Trainer(
        strategy="ddp_spawn",
        devices=2,
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ArriveAtTheEnd(tmp_path), RanksEndTogether(), RecordTheEnd(tmp_path)],
    )
    trainer.fit(BoringModel())

    for rank in (0, 1):
        seen = json.loads((tmp_path / f"rank-{rank}.json").read_text())
        assert seen == {"other_rank_arrived": True, "group_left": True}, (rank, seen)
    assert not dist.is_initialized()  # the spawning process never joined a group
