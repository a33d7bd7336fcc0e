"""optuna-dashboard opens a sweep's journal file as it is: its API lists the study and trials.

Both ways a user starts it: the ``optuna-dashboard <journal>`` command (the README's), and
``optuna_dashboard.wsgi`` served in a thread. Every wait polls the HTTP endpoint against a
deadline.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from helpers import load

pytestmark = pytest.mark.slow

JOURNAL = "outputs/hydratune.journal"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture
def swept(sweep, tmp_path) -> Path:
    """A finished sweep (complete and failed trials) in the default journal under tmp_path."""
    sweep(["hydra.sweeper.n_trials=5", "fail_when_x_above=3", "hydra.sweeper.max_failure_rate=1.0"])
    return tmp_path / JOURNAL


@pytest.fixture
def dashboard_in_thread(swept) -> Iterator[str]:
    import optuna_dashboard

    server = make_server(
        "127.0.0.1", 0, optuna_dashboard.wsgi(str(swept)), handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def assert_lists_the_sweep(base: str, tmp_path: Path) -> None:
    study = load("quadratic", tmp_path)
    summaries = get_json(f"{base}/api/studies")["study_summaries"]
    (summary,) = [s for s in summaries if s["study_name"] == "quadratic"]
    assert summary["directions"] == ["minimize"]
    detail = get_json(f"{base}/api/studies/{summary['study_id']}")
    trials = sorted(detail["trials"], key=lambda t: t["number"])
    assert [t["number"] for t in trials] == [t.number for t in study.trials]
    assert [t["state"].upper() for t in trials] == [t.state.name for t in study.trials]
    shown = {p["name"]: float(p["param_internal_value"]) for p in trials[0]["params"]}
    assert shown["x"] == study.trials[0].params["x"]
    assert {p["name"] for p in trials[0]["params"]} == {"x", "y", "kind"}


def test_dashboard_api_lists_the_study_and_its_trials(dashboard_in_thread, tmp_path):
    assert_lists_the_sweep(dashboard_in_thread, tmp_path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_optuna_dashboard_command_opens_the_journal_file(swept, tmp_path):
    command = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    assert command, "optuna-dashboard is not installed: pip install 'hydratune[dashboard]'"
    port = _free_port()
    server = subprocess.Popen(
        [command, JOURNAL, "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"optuna-dashboard exited: {server.stderr.read()}"
            try:
                get_json(f"{base}/api/meta")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "optuna-dashboard did not answer in 60 s"
                time.sleep(0.1)  # polling interval; the deadline bounds the wait
        assert_lists_the_sweep(base, tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stderr.close()
