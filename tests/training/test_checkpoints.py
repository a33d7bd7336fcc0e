"""Pausing a training run at an epoch boundary and continuing it from its checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from helpers import REPO
from hydratune.training.checkpoints import RANDOM_STATE_KEY
from hydratune.training.task import train

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

# The CNN with dropout and shuffled batches: both draw random numbers every epoch.
SMALL = [
    "model=cnn",
    "model.dropout=0.3",
    "+trainer.limit_train_batches=4",
    "+trainer.limit_val_batches=2",
    "callbacks=none",
    "logger=none",
]


class ValLoss:
    """Stands in for the sweeper's pruning callback: each validation epoch's val/loss."""

    def __init__(self) -> None:
        import lightning as L

        class _Recorder(L.Callback):
            def on_validation_end(inner, trainer, pl_module):  # noqa: N805
                if not trainer.sanity_checking:
                    self.values.append(float(trainer.callback_metrics["val/loss"]))

        self.values: list[float] = []
        self.callback = _Recorder()


def run(tmp_path, *overrides: str) -> list[float]:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        paths = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}"]
        cfg = compose("train", overrides=[*paths, *SMALL, *overrides])
    recorder = ValLoss()
    train(cfg, callbacks=[recorder.callback])
    return recorder.values


def test_a_run_paused_and_continued_from_its_checkpoint_matches_an_uninterrupted_run(tmp_path):
    whole = run(tmp_path, "trainer.max_epochs=4")
    checkpoint = tmp_path / "pause" / "last.ckpt"
    first = run(tmp_path, "trainer.max_epochs=2", f"ckpt_save={checkpoint}")
    assert checkpoint.is_file() and not list(checkpoint.parent.glob(".*.tmp"))
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["epoch"] == 2 and RANDOM_STATE_KEY in saved
    rest = run(tmp_path, "trainer.max_epochs=4", f"ckpt_path={checkpoint}")
    assert len(first) == 2 and len(rest) == 2  # the continuation trained epochs 2 and 3 only
    assert first + rest == whole


def test_a_cosine_decay_over_the_whole_run_continues_as_in_the_uninterrupted_run(tmp_path):
    """With T_max the last epoch, as a schedule asks (``T_max: ${trainer.max_epochs}`` would
    follow each pause: the sweep refuses it, tests/schedule/test_asha.py)."""
    cosine = ["model/scheduler=cosine", "model.scheduler.T_max=4"]
    whole = run(tmp_path, "trainer.max_epochs=4", *cosine)
    checkpoint = tmp_path / "pause" / "last.ckpt"
    first = run(tmp_path, "trainer.max_epochs=2", f"ckpt_save={checkpoint}", *cosine)
    rest = run(tmp_path, "trainer.max_epochs=4", f"ckpt_path={checkpoint}", *cosine)
    assert first + rest == whole


def test_a_continued_run_returns_the_uninterrupted_runs_best_though_that_epoch_came_before(
    tmp_path,
):
    def value(*overrides: str) -> float:
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            paths = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}"]
            # mode best: the lowest accuracy, which the first epoch has (before the pause)
            worst = ["objective.metric=val/acc", "objective.direction=minimize"]
            cfg = compose("train", overrides=[*paths, *SMALL, *worst, *overrides])
        return train(cfg)

    whole = value("trainer.max_epochs=4")
    checkpoint = tmp_path / "pause" / "last.ckpt"
    first = value("trainer.max_epochs=2", f"ckpt_save={checkpoint}")
    assert value("trainer.max_epochs=4", f"ckpt_path={checkpoint}") == whole
    assert first == whole  # it was in the first run's epochs: the continuation kept it


def test_a_continued_run_without_the_random_state_drifts_from_the_uninterrupted_one(tmp_path):
    """Why RandomState exists: Lightning's checkpoint alone reseeds the shuffling and dropout."""
    whole = run(tmp_path, "trainer.max_epochs=4")
    checkpoint = tmp_path / "last.ckpt"
    first = run(tmp_path, "trainer.max_epochs=2", f"ckpt_save={checkpoint}")
    saved = torch.load(checkpoint, weights_only=False)
    del saved[RANDOM_STATE_KEY]
    torch.save(saved, checkpoint)
    rest = run(tmp_path, "trainer.max_epochs=4", f"ckpt_path={checkpoint}")
    assert first == whole[:2] and rest != whole[2:]


@pytest.mark.slow  # the hydratune command: a process that imports torch
def test_ckpt_save_never_replaces_a_file_of_the_users(tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes(b"a,b\n1,2\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hydratune"), *SMALL, f"ckpt_save={data}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert f"ckpt_save={data}: {data} exists and is not a checkpoint" in done.stderr
    assert "Traceback" not in done.stderr
    assert data.read_bytes() == b"a,b\n1,2\n"


def test_ckpt_save_replaces_an_earlier_checkpoint(tmp_path):
    run(tmp_path, "trainer.max_epochs=1", f"ckpt_save={tmp_path / 'pause.ckpt'}")
    first = (tmp_path / "pause.ckpt").stat().st_mtime_ns
    run(tmp_path, "trainer.max_epochs=1", f"ckpt_save={tmp_path / 'pause.ckpt'}")
    assert (tmp_path / "pause.ckpt").stat().st_mtime_ns != first
    assert RANDOM_STATE_KEY in torch.load(tmp_path / "pause.ckpt", weights_only=False)
