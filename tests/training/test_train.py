"""The training task: config in, objective out; the objective tracker; the conf/ groups; the CLI."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from types import SimpleNamespace

import lightning as L
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from helpers import REPO
from hydratune.training.objective import MetricNotLoggedError, ObjectiveSpec, ObjectiveTracker
from hydratune.training.task import instantiate_group, train

CONF_DIR = REPO / "conf"
# A fraction of a second per run: a few batches, two epochs, nothing written.
TINY = ["trainer.max_epochs=2", "+trainer.limit_train_batches=5", "callbacks=none", "logger=none"]

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")


@pytest.fixture
def compose_train(tmp_path):
    """Compose conf/train.yaml as the CLI would, with paths under tmp_path (no Hydra run needed)."""

    def _compose(*overrides: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            paths = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}"]
            return compose("train", overrides=[*paths, *overrides])

    return _compose


class EpochRecorder(L.Callback):
    """Stands in for the sweeper's pruning callback: sees each validation epoch's metrics."""

    def __init__(self) -> None:
        self.train_epochs_started = 0
        self.val_acc: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.train_epochs_started += 1

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.val_acc.append(float(trainer.callback_metrics["val/acc"]))


# --- train() ---------------------------------------------------------------------------------


def test_train_returns_val_acc_as_a_float_in_unit_interval_and_logs_it(compose_train, caplog):
    with caplog.at_level(logging.INFO, logger="hydratune.training.task"):
        value = train(compose_train(*TINY))
    assert type(value) is float and 0.0 <= value <= 1.0
    assert f"val/acc = {value:.4f} (best epoch" in caplog.text


def test_extra_callbacks_run_and_best_mode_returns_the_best_epoch(compose_train):
    recorder = EpochRecorder()
    value = train(compose_train(*TINY, "trainer.max_epochs=3"), callbacks=[recorder])
    assert len(recorder.val_acc) == 3
    assert value == pytest.approx(max(recorder.val_acc))


@pytest.mark.slow
def test_best_is_at_least_last_when_maximizing(compose_train):
    # Noisy on purpose (high lr, tiny batches), so the last epoch is unlikely to be the best.
    noisy = [*TINY, "trainer.max_epochs=4", "model.optimizer.lr=0.05", "data.batch_size=16"]
    recorders = {mode: EpochRecorder() for mode in ("best", "last")}
    values = {
        mode: train(compose_train(*noisy, f"objective.mode={mode}"), callbacks=[recorders[mode]])
        for mode in ("best", "last")
    }
    assert recorders["best"].val_acc == recorders["last"].val_acc  # same seed, same run
    assert values["last"] == pytest.approx(recorders["last"].val_acc[-1])
    assert values["best"] >= values["last"]


@pytest.mark.slow
def test_same_seed_gives_the_same_result(compose_train):
    assert train(compose_train(*TINY)) == train(compose_train(*TINY))


def test_multi_objective_returns_one_float_per_metric(compose_train):
    value = train(
        compose_train(
            *TINY, "objective.metric=[val/acc,val/loss]", "objective.direction=[maximize,minimize]"
        )
    )
    assert isinstance(value, list) and len(value) == 2
    assert all(type(v) is float for v in value)
    assert 0.0 <= value[0] <= 1.0 and value[1] > 0.0


def test_misspelled_metric_fails_after_the_first_epoch_listing_logged_metrics(compose_train):
    recorder = EpochRecorder()
    # Default callbacks: the tracker must report before EarlyStopping/ModelCheckpoint trip on it.
    limits = ["trainer.max_epochs=5", "+trainer.limit_train_batches=5", "logger=none"]
    cfg = compose_train(*limits, "objective.metric=val/accuracy")
    assert cfg.callbacks.early_stopping.monitor == "val/accuracy"
    with pytest.raises(MetricNotLoggedError) as error:
        train(cfg, callbacks=[recorder])
    message = str(error.value)
    assert "'val/accuracy'" in message and "objective.metric" in message
    assert "logged metrics: val/acc, val/loss" in message
    assert recorder.train_epochs_started == 1
    assert isinstance(error.value, KeyError)


def test_regression_objective_on_synthetic_data(compose_train):
    value = train(
        compose_train(
            *TINY,
            "data=synthetic",
            "data.task=regression",
            "data.n_samples=200",
            "objective.metric=val/loss",
            "objective.direction=minimize",
        )
    )
    assert type(value) is float and value > 0.0


def test_default_callbacks_and_csv_logger_write_checkpoint_and_metrics(compose_train, tmp_path):
    cfg = compose_train("trainer.max_epochs=2", "+trainer.limit_train_batches=5")
    train(cfg)
    assert len(list((tmp_path / "checkpoints").glob("*.ckpt"))) == 1
    [metrics_csv] = (tmp_path / "csv").glob("version_*/metrics.csv")
    header = metrics_csv.read_text().splitlines()[0].split(",")
    assert {"val/acc", "val/loss", "train/loss"} <= set(header)


def test_callbacks_none_means_no_checkpoint_files(compose_train, tmp_path):
    train(compose_train(*TINY))  # TINY has callbacks=none
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("scheduler", ["cosine", "plateau"])
def test_scheduler_options_train(compose_train, scheduler):
    assert 0.0 <= train(compose_train(*TINY, f"model/scheduler={scheduler}")) <= 1.0


def test_debug_fast_runs_one_batch_and_still_returns_the_objective(compose_train):
    cfg = compose_train("debug=fast")
    assert cfg.trainer.fast_dev_run is True and not cfg.callbacks and not cfg.logger
    assert 0.0 <= train(cfg) <= 1.0


def test_cnn_on_tabular_data_fails_with_a_clear_error(compose_train):
    with pytest.raises(Exception, match="image-like") as error:
        train(compose_train(*TINY, "model=cnn", "data=wine"))
    assert "model=mlp" in str(error.value)


def test_missing_optional_logger_package_says_how_to_install_it(monkeypatch):
    import lightning.fabric.loggers.tensorboard as fabric_tensorboard

    monkeypatch.setattr(fabric_tensorboard, "_TENSORBOARD_AVAILABLE", False)
    monkeypatch.setattr(fabric_tensorboard, "_TENSORBOARDX_AVAILABLE", False)
    node = yaml.safe_load((CONF_DIR / "logger" / "tensorboard.yaml").read_text())
    node["tensorboard"]["save_dir"] = "unused"
    hint = r"logger\.tensorboard .*pip install -e '\.\[tensorboard\]' .*\(Neither"
    with pytest.raises(ImportError, match=hint):
        instantiate_group(OmegaConf.create(node), "logger")


def test_null_entries_of_a_group_are_skipped():
    bar = {"_target_": "lightning.pytorch.callbacks.RichProgressBar"}
    group = OmegaConf.create({"bar": bar, "x": None})
    [callback] = instantiate_group(group, "callbacks")
    assert type(callback).__name__ == "RichProgressBar"
    assert instantiate_group(None, "callbacks") == []


# --- the objective and its tracker, without a Trainer ----------------------------------------


def feed(tracker: ObjectiveTracker, *epochs: dict[str, float], sanity: dict | None = None) -> None:
    """Play validation ends into the tracker as a Trainer would (a sanity check first, if given)."""
    if sanity is not None:
        check = SimpleNamespace(sanity_checking=True, callback_metrics=sanity)
        tracker.on_validation_end(check, None)
    for epoch, metrics in enumerate(epochs):
        trainer = SimpleNamespace(
            sanity_checking=False, callback_metrics=metrics, current_epoch=epoch
        )
        tracker.on_validation_end(trainer, None)


def spec(metric="val/loss", direction="minimize", mode="best") -> ObjectiveSpec:
    return ObjectiveSpec.from_config({"metric": metric, "direction": direction, "mode": mode})


@pytest.mark.parametrize(
    ("direction", "mode", "expected", "epoch"),
    [("minimize", "best", 0.2, 1), ("maximize", "best", 0.5, 0), ("minimize", "last", 0.3, 2)],
)
def test_tracker_picks_best_or_last_epoch_by_direction_and_skips_the_sanity_check(
    direction, mode, expected, epoch
):
    tracker = ObjectiveTracker(spec(direction=direction, mode=mode))
    feed(tracker, {"val/loss": 0.5}, {"val/loss": 0.2}, {"val/loss": 0.3}, sanity={"val/loss": 0.0})
    assert tracker.result() == expected
    assert tracker.summary() == f"val/loss = {expected:.4f} ({mode} epoch {epoch})"


def test_tracker_never_picks_nan_as_best():
    tracker = ObjectiveTracker(spec())
    feed(tracker, {"val/loss": 0.4}, {"val/loss": math.nan})
    assert tracker.result() == 0.4


def test_multi_objective_best_takes_all_values_from_the_best_epoch_of_the_first_metric():
    tracker = ObjectiveTracker(spec(["val/acc", "val/loss"], ["maximize", "minimize"]))
    feed(tracker, {"val/acc": 0.7, "val/loss": 0.1}, {"val/acc": 0.9, "val/loss": 0.3})
    assert tracker.result() == [0.9, 0.3]
    assert tracker.summary() == "val/acc = 0.9000, val/loss = 0.3000 (best epoch 1 by val/acc)"


def test_tracker_checks_names_at_the_first_epoch_not_in_the_sanity_check():
    tracker = ObjectiveTracker(spec(["val/acc", "val/f1"], ["maximize", "maximize"]))
    feed(tracker, sanity={})  # the sanity check logs nothing that counts
    expected = r"'val/f1' was not logged .* val/acc, val/loss$"
    with pytest.raises(MetricNotLoggedError, match=expected):
        feed(tracker, {"val/loss": 0.1, "val/acc": 0.5})


def test_tracker_without_any_validation_epoch_says_why():
    with pytest.raises(RuntimeError, match="limit_val_batches"):
        ObjectiveTracker(spec()).result()


@pytest.mark.parametrize(
    ("objective", "match"),
    [
        ({"metric": ["val/acc", "val/loss"], "direction": "maximize"}, "one direction per metric"),
        ({"metric": "val/acc", "direction": ["maximize", "minimize"]}, "one direction per metric"),
        ({"metric": "val/acc", "direction": "max"}, "must be one of"),
        ({"metric": "val/acc", "direction": "maximize", "mode": "mean"}, "objective.mode"),
        ({"metric": [], "direction": []}, "objective.metric"),
    ],
)
def test_malformed_objective_is_rejected_before_training(objective, match):
    with pytest.raises(CompactHydraException, match=match):  # Hydra shows the message alone
        ObjectiveSpec.from_config(objective)


# --- conf/ composition -----------------------------------------------------------------------


def test_callbacks_follow_the_objective_metric_and_direction(compose_train):
    checkpoint = compose_train().callbacks.model_checkpoint
    assert (checkpoint.monitor, checkpoint.mode) == ("val/acc", "max")
    callbacks = compose_train(
        "objective.metric=[val/loss,val/acc]", "objective.direction=[minimize,maximize]"
    ).callbacks
    assert (callbacks.early_stopping.monitor, callbacks.early_stopping.mode) == ("val/loss", "min")


def test_experiment_cnn_digits_pins_a_cnn_setup(compose_train):
    cfg = compose_train("experiment=cnn_digits")
    assert cfg.model._target_ == "hydratune.training.models.CNNClassifier"
    assert cfg.data._target_ == "hydratune.training.data.DigitsDataModule"
    assert (cfg.seed, cfg.trainer.max_epochs, cfg.model.optimizer.lr) == (12345, 15, 2e-3)
    assert compose_train("experiment=cnn_digits", "seed=1").seed == 1  # still overridable


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("experiment=mlp_digits", "model._target_", "hydratune.training.models.MLPClassifier"),
        ("trainer=gpu", "trainer.accelerator", "gpu"),
        ("trainer=cpu", "trainer.max_epochs", 10),
        ("debug=limit", "trainer.limit_val_batches", 2),
        ("model/optimizer=sgd", "model.optimizer._target_", "torch.optim.SGD"),
        ("logger=tensorboard", "logger.tensorboard.name", "tensorboard"),
        ("data=breast_cancer", "data._target_", "hydratune.training.data.BreastCancerDataModule"),
    ],
)
def test_group_options_compose(compose_train, override, key, value):
    assert OmegaConf.select(compose_train(override), key) == value


def test_every_conf_file_starts_with_a_comment_saying_how_to_use_it():
    groups = ["data", "model", "trainer", "callbacks", "logger", "paths", "debug", "experiment"]
    files = [path for group in groups for path in (CONF_DIR / group).rglob("*.yaml")]
    assert len(files) > 20
    for path in files:
        lines = path.read_text().splitlines()
        header = lines[1] if lines[0] == "# @package _global_" else lines[0]
        assert header.startswith("# "), path


# --- the command line ------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_runs_once_prints_the_result_and_applies_overrides(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hydratune",
            "model=cnn",
            "model.channels=4",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=5",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "val/acc = " in proc.stdout + proc.stderr
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert saved.model._target_ == "hydratune.training.models.CNNClassifier"
    [hparams] = (run_dir / "csv").glob("version_*/hparams.yaml")
    assert yaml.safe_load(hparams.read_text())["channels"] == 4  # the model built was the CNN
