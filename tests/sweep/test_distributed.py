"""Many workers, one study: the same command in three processes against one real PostgreSQL
server works as one sweep (Optuna's distributed pattern, made first-class)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from helpers import APPS, wait_for
from hydratune.sweep.loop import SURPLUS

pytestmark = pytest.mark.postgres

APP = APPS / "quadratic_app.py"


def run_workers(
    cwd: Path, url: str, study: str, *overrides: str, workers: int = 3, gate: Path | None = None
) -> list[str]:
    """Start ``workers`` copies of one sweep command at once; wait for all; their outputs.

    With ``gate``, every trial waits there (``wait_at_gate``) until each worker holds one, so
    the work is shared however fast one worker starts.
    """
    cmd = [
        sys.executable,
        str(APP),
        "-m",
        f"hydra.sweeper.storage={url}",
        f"hydra.sweeper.study_name={study}",
        *overrides,
    ]
    env = os.environ if gate is None else {**os.environ, "GATE_DIR": str(gate)}
    procs = [
        subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(workers)
    ]
    if gate is not None:
        wait_for(lambda: len(holders(gate)) == workers, f"a trial held by each of {workers}")
        (gate / "go-all").touch()
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    failed = [out[-3000:] for p, out in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert not failed, "\n----\n".join(failed)
    return outputs


def holders(gate: Path) -> set[str]:
    """The process ids of the workers whose trials wait at ``gate``."""
    return {p.read_text() for p in gate.glob("started-*")}


def trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=url).trials


def counted(ts):
    return [t for t in ts if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def test_three_workers_share_n_trials_exactly(tmp_path, postgres_url):
    gate = tmp_path / "gate"
    gate.mkdir()
    run_workers(tmp_path, postgres_url, "shared", "hydra.sweeper.n_trials=9", gate=gate)
    ts = trials(postgres_url, "shared")
    assert len(counted(ts)) == 9
    assert all(t.state.is_finished() for t in ts)
    assert all(t.user_attrs["fail_reason"] == SURPLUS for t in ts if t.state == TrialState.FAIL)
    assert len({t.number for t in ts}) == len(ts)
    dirs = [t.user_attrs["output_dir"] for t in counted(ts)]
    assert len(set(dirs)) == 9 and all(
        Path(d).name == str(t.number) for d, t in zip(dirs, counted(ts), strict=True)
    )
    owners = {t.user_attrs["owner"] for t in counted(ts)}
    assert len(owners) == 3  # the work was really shared


def test_grid_points_are_never_evaluated_twice_across_workers(tmp_path, postgres_url):
    run_workers(
        tmp_path,
        postgres_url,
        "grid",
        "hydra/sweeper/sampler=grid",
        "hydra.sweeper.n_trials=50",
        "x=range(0,4)",
        "y=choice(-2,2)",
        "kind=b",
    )
    ts = trials(postgres_url, "grid")
    points = sorted((t.params["x"], t.params["y"]) for t in ts)
    assert points == [(x, y) for x in range(4) for y in (-2, 2)]
    assert all(t.state == TrialState.COMPLETE for t in ts)


def test_pruning_works_across_workers(tmp_path, postgres_url):
    run_workers(
        tmp_path,
        postgres_url,
        "pruned",
        "hydra.sweeper.n_trials=12",
        "curve_steps=5",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=3",
    )
    ts = trials(postgres_url, "pruned")
    assert len(counted(ts)) == 12
    pruned = [t for t in ts if t.state == TrialState.PRUNED]
    assert pruned and all(0 < len(t.intermediate_values) < 5 for t in pruned)


def test_the_database_password_is_never_printed_or_written(tmp_path, postgres_url):
    outputs = run_workers(tmp_path, postgres_url, "masked", "hydra.sweeper.n_trials=2", workers=1)
    password = postgres_url.split(":")[2].split("@")[0]
    results = (tmp_path / "sweeps/masked/optimization_results.yaml").read_text()
    multirun = (tmp_path / "sweeps/masked/multirun.yaml").read_text()
    assert password not in outputs[0] and password not in results and password not in multirun
    assert yaml.safe_load(results)["storage"].startswith("postgresql://tuner:***@")


def test_an_unreachable_database_fails_fast_with_the_url_masked(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(APP),
            "-m",
            "hydra.sweeper.storage=postgresql+psycopg2://tuner:topsecret@127.0.0.1:9/none",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "hydra.sweeper.storage" in done.stderr and "topsecret" not in done.stderr
    assert not (tmp_path / "sweeps").exists()
