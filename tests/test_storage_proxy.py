"""``hydratune storage-proxy`` as a user starts it: one proxy per port, ports that exist, a
token on every call, never listening beyond loopback without one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import optuna
import pytest
from optuna.storages import GrpcStorageProxy

from hydratune.storage import open_storage
from hydratune.storage.proxy import TOKEN_ENV, TOKEN_FILE_ENV, ProxyError
from services import free_port

pytestmark = [
    pytest.mark.slow,  # each starts Python processes that import Optuna and gRPC
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

TOKEN = "proxy-token-7f3a"


def proxy_command(tmp_path: Path, *args: str) -> list[str]:
    storage = str(tmp_path / "served.journal")
    return [sys.executable, "-m", "hydratune", "storage-proxy", "--storage", storage, *args]


@contextmanager
def running_proxy(
    tmp_path: Path, port: int, *args: str, token: str | None = None, **env: str
) -> Iterator[subprocess.Popen]:
    """A proxy process on ``port`` (its token in ``token``, or ``env``), serving once it
    answers; its output checked after: it said where it serves, and never the token."""
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, TOKEN_FILE_ENV)} | env
    if token is not None:
        env[TOKEN_ENV] = token
    proc = subprocess.Popen(
        proxy_command(tmp_path, "--port", str(port), *args),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        GrpcStorageProxy(host="127.0.0.1", port=port).wait_server_ready(timeout=60)
        yield proc
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        assert "on grpc://" in out and f":{port}" in out, out
        assert TOKEN not in out  # never printed


def run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, TOKEN_FILE_ENV)}
    return subprocess.run(
        cmd, cwd=cwd, env={**full, **env}, capture_output=True, text=True, timeout=120
    )


def test_a_second_proxy_on_a_taken_port_fails_with_one_line(tmp_path):
    port = free_port()
    with running_proxy(tmp_path, port):
        second = run(proxy_command(tmp_path, "--port", str(port)), tmp_path)
        assert second.returncode == 2
        lines = (second.stdout + second.stderr).strip().splitlines()
        assert len(lines) == 1, lines
        assert f"port {port} on 127.0.0.1 is taken" in lines[0]
        assert "serving" not in second.stdout
        # the first one still serves
        study = optuna.create_study(storage=open_storage(f"grpc://127.0.0.1:{port}"))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        assert len(study.trials) == 2


@pytest.mark.parametrize("port", ["99999", "-1", "0"])
def test_a_port_out_of_range_fails_instead_of_listening(tmp_path, port):
    result = run(proxy_command(tmp_path, "--port", port), tmp_path)
    assert result.returncode == 2
    assert "serving" not in result.stdout
    assert "Invalid value for '--port'" in result.stderr


@pytest.mark.parametrize(
    ("storage", "said"),
    [("postgresql:/127.0.0.1/db", "two slashes"), ("data.csv", "is not an Optuna journal")],
)
def test_a_storage_it_cannot_serve_is_one_line_and_left_as_it_is(tmp_path, storage, said):
    (tmp_path / "data.csv").write_text("epoch,acc\n1,0.5\n")
    cmd = [sys.executable, "-m", "hydratune", "storage-proxy", "--storage", storage]
    result = run([*cmd, "--port", str(free_port())], tmp_path)
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: '") and said in lines[0], lines
    assert "hydra.sweeper" not in lines[0]  # the setting given here is --storage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]
    assert (tmp_path / "data.csv").read_text() == "epoch,acc\n1,0.5\n"


def test_a_proxy_beyond_loopback_needs_a_token(tmp_path):
    cmd = proxy_command(tmp_path, "--host", "0.0.0.0", "--port", str(free_port()))
    result = run(cmd, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and TOKEN_ENV in lines[0] and "0.0.0.0" in lines[0], lines
    assert not (tmp_path / "served.journal").exists()  # refused before the storage is opened


def test_calls_without_the_proxy_token_are_refused(tmp_path, monkeypatch):
    port = free_port()
    url = f"grpc://127.0.0.1:{port}"
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    with running_proxy(tmp_path, port, "--host", "0.0.0.0", token=TOKEN):
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        study = optuna.create_study(study_name="kept", storage=open_storage(url))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)

        monkeypatch.setenv(TOKEN_ENV, "guessed")
        with pytest.raises(ProxyError, match="refused the token"):
            open_storage(url)
        monkeypatch.delenv(TOKEN_ENV)
        with pytest.raises(ProxyError, match="refused the token"):
            open_storage(url)
        # Optuna's own client, which sends no token, cannot delete the study
        plain = GrpcStorageProxy(host="127.0.0.1", port=port)
        with pytest.raises(grpc.RpcError) as refused:
            plain.delete_study(study._study_id)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        kept = optuna.load_study(study_name="kept", storage=open_storage(url))
        assert len(kept.trials) == 1


def test_the_token_is_read_from_a_private_file_only(tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setenv(TOKEN_FILE_ENV, str(token_file))
    port = str(free_port())
    shared = run(
        proxy_command(tmp_path, "--port", port), tmp_path, **{TOKEN_FILE_ENV: str(token_file)}
    )
    assert shared.returncode == 2
    assert f"chmod 600 {token_file}" in shared.stderr
    assert TOKEN not in shared.stdout + shared.stderr

    token_file.chmod(0o600)
    proxy_env = {TOKEN_FILE_ENV: str(token_file)}
    with running_proxy(tmp_path, int(port), "--host", "0.0.0.0", **proxy_env):
        storage = open_storage(f"grpc://127.0.0.1:{port}")  # the worker reads the same file
        assert optuna.get_all_study_names(storage) == []
        monkeypatch.setenv(TOKEN_FILE_ENV, str(tmp_path / "missing"))
        with pytest.raises(ProxyError, match="cannot read it"):
            open_storage(f"grpc://127.0.0.1:{port}")
