"""Trials as tasks on a real local Ray runtime: asynchronous slots, pruning, resume."""

from __future__ import annotations

import os
import socket

import pytest
from optuna.trial import TrialState

from helpers import load
from hydratune.errors import ConfigError

pytestmark = pytest.mark.ray

HERE = os.path.dirname(__file__)
# Ray workers unpickle this module's task and import helpers.py, like the test does
TESTS = f"{HERE}:{os.path.dirname(HERE)}"
RAY = [
    "hydra/launcher=hydratune_ray",
    "hydra.sweeper.n_jobs=2",
    # a local Ray with 2 CPUs
    "+hydra.launcher.init={num_cpus: 2, include_dashboard: false, "
    f"runtime_env: {{env_vars: {{PYTHONPATH: {TESTS}}}}}}}",
]


def ran_in_ray_workers(cfg):
    """The quadratic objective, reporting the process it ran in."""
    from helpers import quadratic
    from hydratune import current_trial

    current_trial().set_user_attr("pid", os.getpid())
    return quadratic(cfg)


def test_ray_runs_trials_prunes_and_resumes(sweep, tmp_path):
    pruning = [
        "curve_steps=4",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
    ]
    sweep([*RAY, *pruning, "hydra.sweeper.n_trials=6"], task=ran_in_ray_workers)
    trials = load("quadratic", tmp_path).trials
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert any(t.state == TrialState.PRUNED for t in trials)
    assert all(t.intermediate_values for t in trials)
    assert os.getpid() not in {t.user_attrs["pid"] for t in trials}

    sweep([*RAY, *pruning, "hydra.sweeper.n_trials=8"], task=ran_in_ray_workers)
    trials = load("quadratic", tmp_path).trials
    assert [t.number for t in trials] == list(range(8))
    assert sorted(p.name for p in (tmp_path / "sweeps/quadratic").iterdir() if p.is_dir()) == [
        str(n) for n in range(8)
    ]


def test_an_address_where_no_ray_cluster_answers_is_one_line_naming_it(sweep, tmp_path):
    """``ray.init`` would retry connecting for good, logging every few seconds."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
    for given in (address, f"ray://{address}"):
        launcher = ["hydra/launcher=hydratune_ray", f"hydra.launcher.address={given}"]
        with pytest.raises(ConfigError) as raised:
            sweep([*launcher, "hydra.sweeper.n_trials=2"], task=pytest.fail)
        said = str(raised.value)
        assert said.startswith(f"hydra.launcher.address={given}: no Ray cluster answers there")
        assert "Connection refused" in said and "\n" not in said
    assert not (tmp_path / "sweeps" / "quadratic" / "0").exists()  # no trial ran
