"""The MLflow fixture of the tracking tests."""

from __future__ import annotations

import mlflow
import pytest

from hydratune.training.mlflow_store import HTTP_DEFAULTS


@pytest.fixture
def tracked(tmp_path, monkeypatch, mlflow_server):
    """This test's working dir, with MLFLOW_TRACKING_URI naming the session's server (as a
    user exports it) and MLflow's HTTP settings as the user left them (unset)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    for name in HTTP_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    return mlflow.MlflowClient(mlflow_server.url)
