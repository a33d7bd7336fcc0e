"""Transient storage faults during a live sweep, injected for real: a co-writer's torn record
in the shared journal, and the storage proxy killed (``kill -9``) and started again, or not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from helpers import start_quadratic_app, wait_for
from hydratune.storage.proxy import TOKEN_ENV, WAIT_ENV
from services import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

# what a writer killed in the middle of its append leaves: a record without its end
TORN = b'{"op_code":6,"worker_id":"co-writer","trial_id":0,"state":1,"val'


def released(gate: Path, number: int) -> None:
    (gate / f"go-{number}").write_text("")


def test_a_torn_record_a_co_writer_leaves_during_a_live_sweep_is_repaired(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    journal = tmp_path / "shared.journal"
    sweep = start_quadratic_app(
        tmp_path,
        "hydra.sweeper.n_trials=3",
        f"hydra.sweeper.storage={journal}",
        env={"GATE_DIR": str(gate)},
    )
    wait_for(lambda: (gate / "started-0").exists() or sweep.poll() is not None, "trial 0")
    with open(journal, "ab") as f:  # another writer's append, cut short
        f.write(TORN)
    released(gate, 0)  # trial 0 ends: the sweep's next record is glued to the torn bytes
    wait_for(lambda: (gate / "started-1").exists() or sweep.poll() is not None, "trial 1")
    released(gate, 1)
    released(gate, 2)
    out, _ = sweep.communicate(timeout=120)
    assert sweep.returncode == 0, out
    assert "JSONDecodeError" not in out and "Traceback" not in out
    assert "is damaged" in out and "repairing it and reading on" in out
    aside = list(tmp_path.glob("shared.journal.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(TORN)
    # plain Optuna reads the repaired journal: every trial complete, the glued record kept
    study = optuna.load_study(
        study_name="quadratic", storage=JournalStorage(JournalFileBackend(str(journal)))
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def start_proxy(cwd: Path, storage: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hydratune", "storage-proxy", "--storage", str(storage)]
        + ["--port", str(port), "--host", "0.0.0.0"],
        cwd=cwd,
        env={**os.environ, TOKEN_ENV: "restart-token"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("comes_back", [True, False], ids=["restarted", "gone"])
def test_a_sweep_rides_out_a_killed_proxy_or_ends_with_one_line(tmp_path, comes_back):
    """kill -9 of the proxy while a trial runs: started again on the same port, the sweep
    carries on and ends with every trial; never back, the sweep ends with one line saying so.
    The sweep waits 8 s for the proxy to start again, 2 s for one that never does (each call
    that finds it gone waits that long)."""
    wait_s = 8 if comes_back else 2
    gate = tmp_path / "gate"
    gate.mkdir()
    port = free_port()
    served = tmp_path / "served.journal"
    proxy = start_proxy(tmp_path, served, port)
    sweep = start_quadratic_app(
        tmp_path,
        "hydra.sweeper.n_trials=3",
        "curve_steps=2",  # the trial reports through the proxy too
        f"hydra.sweeper.storage=grpc://127.0.0.1:{port}",
        env={"GATE_DIR": str(gate), TOKEN_ENV: "restart-token", WAIT_ENV: str(wait_s)},
    )
    try:
        wait_for(lambda: (gate / "started-0").exists() or sweep.poll() is not None, "trial 0")
        proxy.send_signal(signal.SIGKILL)
        proxy.wait(timeout=30)
        if comes_back:
            proxy = start_proxy(tmp_path, served, port)
        (gate / "go-all").write_text("")
        out, _ = sweep.communicate(timeout=180)
    finally:
        sweep.kill()
        proxy.kill()
        proxy.communicate(timeout=30)
    if comes_back:
        assert sweep.returncode == 0, out
        study = optuna.load_study(
            study_name="quadratic", storage=JournalStorage(JournalFileBackend(str(served)))
        )
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
        assert "Traceback" not in out
    else:
        assert sweep.returncode != 0
        assert f"the storage proxy at 127.0.0.1:{port} did not answer for {wait_s} s" in out
        assert "Traceback" not in out and "grpc._channel" not in out, out
