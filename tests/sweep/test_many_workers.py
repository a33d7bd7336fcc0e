"""Workers sharing a study with the same ``sampler.seed`` draw from streams of their own."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers import APPS, load
from hydratune.space.search_space import SearchSpace
from hydratune.sweep.study import build_sampler

APP = APPS / "quadratic_app.py"
TPE = OmegaConf.create({"_target_": "optuna.samplers.TPESampler", "seed": 0})


def space() -> SearchSpace:
    return SearchSpace(
        {
            "x": optuna.distributions.FloatDistribution(-5, 5),
            "y": optuna.distributions.IntDistribution(-4, 4),
        }
    )


def draw(study: optuna.Study, space: SearchSpace) -> dict:
    trial = study.ask()
    space.suggest(trial)
    return trial.params


def test_two_workers_opening_a_study_together_draw_different_points(tmp_path):
    """Both open the study before it has a trial (both get seed offset 0), then take turns."""
    url = str(tmp_path / "shared.journal")
    from hydratune.storage import open_storage

    storage = open_storage(url)
    optuna.create_study(storage=storage, study_name="s")
    s = space()
    workers = [
        optuna.load_study(study_name="s", storage=storage, sampler=build_sampler(TPE, s, 0))
        for _ in range(2)
    ]
    points = [tuple(draw(workers[i % 2], s).values()) for i in range(8)]
    assert len(set(points)) == 8

    # one process alone draws exactly what a plain seeded Optuna sampler draws
    alone = optuna.create_study(storage=storage, study_name="alone", sampler=build_sampler(TPE, s))
    plain = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    assert [draw(alone, s) for _ in range(4)] == [draw(plain, s) for _ in range(4)]


@pytest.mark.slow
def test_two_worker_processes_started_together_never_repeat_a_point(tmp_path):
    cmd = [
        sys.executable,
        str(APP),
        "-m",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.sampler.seed=7",
    ]
    procs = [
        subprocess.Popen(
            cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    trials = load("quadratic", tmp_path).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 8
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 8
