"""Many workers through ``hydratune storage-proxy`` (Optuna's gRPC proxy), one PostgreSQL study."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import optuna
import pytest
from optuna.storages import GrpcStorageProxy
from optuna.trial import TrialState

from helpers import APPS
from services import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

APP = APPS / "quadratic_app.py"


@pytest.fixture
def proxy(postgres_url: str, tmp_path) -> Iterator[str]:
    """``hydratune storage-proxy`` in front of the session's PostgreSQL; yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "hydratune", "storage-proxy", "--storage", postgres_url]
    server = subprocess.Popen(
        [*cmd, "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        GrpcStorageProxy(host="127.0.0.1", port=port).wait_server_ready(timeout=60)
        yield f"grpc://127.0.0.1:{port}"
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
        assert "tuner-secret" not in out  # the database password is never printed
        assert f"on grpc://127.0.0.1:{port}" in out


def test_workers_share_one_study_through_the_proxy(proxy, postgres_url, tmp_path):
    cmd = [
        sys.executable,
        str(APP),
        "-m",
        f"hydra.sweeper.storage={proxy}",
        "hydra.sweeper.study_name=proxied",
        "hydra.sweeper.n_trials=9",
    ]
    out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    workers = [subprocess.Popen(cmd, cwd=tmp_path, **out) for _ in range(3)]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    assert all("grpc://127.0.0.1" in o for o in outputs)

    # the trials are in the database behind the proxy
    trials = optuna.load_study(study_name="proxied", storage=postgres_url).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 9
    assert all(t.state.is_finished() for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 9
