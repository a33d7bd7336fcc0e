"""PB2: PBT whose explore step picks the explored numbers by GP-UCB on the score gained per
epoch, inside the declared space; in a real sweep its exploits train with values PBT's
0.8/1.2 perturbation could not have given."""

from __future__ import annotations

import math
import random

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from helpers import load
from hydratune.attrs import PAUSED, RESUMED_FROM, SEGMENT, STOPPED_REASON
from hydratune.schedule.pb2 import Pb2Schedule
from hydratune.schema.schedulers import Pb2Conf
from schedule.test_pbt import member, sweep

SPACE = {
    "lr": FloatDistribution(1e-4, 1e-2, log=True),
    "width": IntDistribution(8, 64, step=8),
    "activation": CategoricalDistribution(["relu", "tanh"]),
}


class Space:
    distributions = SPACE


def gain(lr: float, width: int) -> float:
    """Loss drop per epoch: best at lr 1e-3, whatever the width."""
    return 0.3 * math.exp(-((math.log10(lr) + 3) ** 2)) + 0.001 * width


def paused_run(number: int, lr: float, width: int) -> optuna.trial.FrozenTrial:
    """A fresh member's run of 2 epochs, paused; its loss falls by ``gain`` an epoch."""
    trial = create_trial(
        state=TrialState.PRUNED,
        params={"lr": lr, "width": width, "activation": "relu"},
        distributions=SPACE,
        user_attrs={
            SEGMENT: {"kind": "pbt", "member": number, "generation": 0, "epochs": 2},
            STOPPED_REASON: f"{PAUSED} after 2 epochs",
        },
        intermediate_values={0: 1.0, 1: 1.0 - gain(lr, width)},
    )
    trial.number = number
    return trial


def test_explore_picks_the_numbers_with_the_best_bound_inside_the_space():
    study = optuna.create_study(direction="minimize")
    conf = OmegaConf.structured(Pb2Conf(population=24, explore=["lr", "width", "activation"]))
    schedule = Pb2Schedule(conf, study, "trainer.max_epochs", 6, space=Space())
    draw = random.Random(1)
    trials = [
        paused_run(n, 10 ** draw.uniform(-4, -2), draw.choice(range(8, 65, 8))) for n in range(24)
    ]
    chosen = [schedule.explore_from(trials[0], trials, random.Random(seed)) for seed in range(5)]
    for params in chosen:
        assert 10**-3.5 <= params["lr"] <= 10**-2.5  # near the best lr, not the source's
        assert params["width"] in range(8, 65, 8)
        assert params["activation"] in ("relu", "tanh")  # a choice moves as in PBT
    assert len({p["lr"] for p in chosen}) > 1  # drawn candidates: seeded, not fixed


def test_until_two_runs_have_finished_numbers_move_as_in_pbt():
    study = optuna.create_study(direction="minimize")
    conf = OmegaConf.structured(Pb2Conf(population=2, explore=["lr"], resample_probability=0))
    schedule = Pb2Schedule(conf, study, "trainer.max_epochs", 6, space=Space())
    source = paused_run(0, 1e-3, 16)
    params = schedule.explore_from(source, [source], random.Random(0))
    assert params["lr"] / 1e-3 in (pytest.approx(0.8), pytest.approx(1.2))


@pytest.mark.slow  # 12 Lightning trials
def test_an_exploit_trains_with_values_the_gp_chose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep(
        "hydra/sweeper/scheduler=pb2",
        "hydra.sweeper.n_trials=12",
        # runs of 2 epochs: a fresh run's gain from its first epoch to its second is a GP point
        "hydra.sweeper.scheduler.perturbation_interval=2",
        "trainer.max_epochs=6",
        "hydra.sweeper.scheduler.explore=[model.optimizer.lr]",
        "hydra.sweeper.scheduler.resample_probability=0",  # PBT's step gives only 0.8x or 1.2x
    )
    trials = load("mlp_digits", tmp_path).trials
    assert not [t.number for t in trials if t.state.name == "FAIL"]
    exploits = [
        (t, trials[t.user_attrs[RESUMED_FROM]["trial"]])
        for t in trials
        if RESUMED_FROM in t.user_attrs
        and member(trials[t.user_attrs[RESUMED_FROM]["trial"]]) != member(t)
    ]
    assert exploits, "no member copied another's checkpoint"
    lr = exploits[0][0].distributions["model.optimizer.lr"]
    ratios = []
    for exploit, source in exploits:
        value = exploit.params["model.optimizer.lr"]
        assert lr.low <= value <= lr.high
        ratios.append(value / source.params["model.optimizer.lr"])
    assert [r for r in ratios if min(abs(r - 0.8), abs(r - 1.2)) > 1e-6], ratios
