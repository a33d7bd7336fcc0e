"""``logger=mlflow`` in a plain run: epochs into a local store that ``mlflow ui`` opens without
a server, step = epoch, and a tracking server that cannot be reached never fails training."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from helpers import REPO
from hydratune.training.mlflow_store import HTTP_DEFAULTS, LOCAL_ARTIFACTS, LOCAL_STORE
from hydratune.training.task import train
from services import free_port

pytestmark = pytest.mark.mlflow

TINY = ["trainer.max_epochs=3", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2"]


def run_once(overrides: list[str]) -> float:
    """``hydratune *overrides`` (a single run) in this process."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        try:
            job = hydra.run(config_name="train", task_function=train, overrides=overrides)
        finally:
            GlobalHydra.instance().clear()
    return job.return_value


@pytest.fixture
def plain_cwd(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for name in HTTP_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_a_plain_run_logs_its_epochs_into_the_local_store(plain_cwd):
    value = run_once(["logger=mlflow", "callbacks=none", *TINY])

    client = mlflow.MlflowClient(f"sqlite:///{plain_cwd / LOCAL_STORE}")
    experiment = client.get_experiment_by_name("hydratune")
    assert experiment.artifact_location == (plain_cwd / LOCAL_ARTIFACTS).as_uri()
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val/acc")
    assert [m.step for m in history] == [0, 1, 2]  # epochs, not batch steps
    assert max(m.value for m in history) == pytest.approx(value)
    assert run.data.params["hidden_dim"]  # the model's hyperparameters, as Lightning logs them


def test_an_unreachable_server_never_fails_training(plain_cwd, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:pw-secret@127.0.0.1:{free_port()}")
    value = run_once(["logger=mlflow", "callbacks=none", *TINY])

    assert 0.0 <= value <= 1.0
    printed = "".join(capsys.readouterr())
    assert printed.count("MLflow logging failed; training goes on without it") == 1
    assert "user:***@127.0.0.1" in printed and "pw-secret" not in printed
