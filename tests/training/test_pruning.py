"""Pruning: each Optuna pruner, configured in YAML, stops the trials it should.

A synthetic objective has known learning curves: trial k has quality ``QUALITY[k]`` and reports
``quality + 10 / (step + 1)`` (or a slowly worsening ``quality + step / 100``) each step,
minimised. The expected pruned
trials follow from the curves, not from Optuna's code.
"""

from __future__ import annotations

import math

import optuna
import pytest
from hydra.core.hydra_config import HydraConfig
from optuna.trial import TrialState

import hydratune
from helpers import load

QUALITY = [3, 5, 4, 1, 9, 0, 8]
STEPS = 6


def curve_task(worsening: bool = False):
    def task(cfg) -> float:
        quality = QUALITY[HydraConfig.get().job.num]
        value = math.nan
        for step in range(STEPS):
            value = quality + step / 100 if worsening else quality + 10 / (step + 1)
            hydratune.report(value, step)
            if hydratune.should_prune():
                raise optuna.TrialPruned(f"step {step}")
        return value

    return task


def pruned(overrides, worsening=False, cwd=None, sweep=None):
    sweep(
        ["hydra.sweeper.n_trials=7", "hydra.sweeper.params=null", "x=0", *overrides],
        task=curve_task(worsening),
    )
    trials = load("quadratic", cwd).trials
    assert [t.number for t in trials] == list(range(7))
    return {QUALITY[t.number] for t in trials if t.state == TrialState.PRUNED}


@pytest.mark.parametrize(
    ("pruner", "expected"),
    [
        (["hydra/sweeper/pruner=nop"], set()),
        # median of the trials before, after 2 startup trials: q=4 ties the median (kept)
        (["hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=2"], {9, 8}),
        # the 25th percentile is stricter: q=4 is now pruned too
        (
            [
                "hydra/sweeper/pruner=percentile",
                "hydra.sweeper.pruner.n_startup_trials=2",
                "hydra.sweeper.pruner.percentile=25",
            ],
            {4, 9, 8},
        ),
        # an absolute bound from step 3 on (values there: q + 2.5)
        (
            [
                "hydra/sweeper/pruner=threshold",
                "hydra.sweeper.pruner.upper=8",
                "hydra.sweeper.pruner.n_warmup_steps=3",
            ],
            {9, 8},
        ),
    ],
)
def test_each_pruner_prunes_the_trials_its_rule_names(sweep, tmp_path, pruner, expected):
    assert pruned(pruner, cwd=tmp_path, sweep=sweep) == expected


PATIENT_MEDIAN = [
    "hydra/sweeper/pruner=patient",
    "hydra.sweeper.pruner.patience=1",
    "+hydra.sweeper.pruner.wrapped_pruner={_target_: optuna.pruners.MedianPruner, "
    "n_startup_trials: 2}",
]


def test_patient_pruner_spares_improving_curves_and_prunes_flat_bad_ones(sweep, tmp_path):
    assert pruned(PATIENT_MEDIAN, cwd=tmp_path, sweep=sweep) == set()


def test_patient_pruner_prunes_stalled_bad_curves_once_patience_runs_out(sweep, tmp_path):
    # trials 0 and 1 are the median's startup trials; q=4 ties the median
    assert pruned(PATIENT_MEDIAN, worsening=True, cwd=tmp_path, sweep=sweep) == {9, 8}


@pytest.mark.parametrize("name", ["successive_halving", "hyperband", "wilcoxon"])
def test_adaptive_pruners_prune_only_trials_worse_than_the_best(sweep, tmp_path, name):
    extra = ["hydra.sweeper.pruner.min_resource=1"] if name != "wilcoxon" else []
    if name == "hyperband":
        extra.append("hydra.sweeper.pruner.max_resource=6")
    got = pruned([f"hydra/sweeper/pruner={name}", *extra], cwd=tmp_path, sweep=sweep)
    assert got, f"{name} pruned nothing"
    assert 0 not in got and 1 not in got  # the best trials always complete


def test_pruned_trials_keep_their_intermediate_values(sweep, tmp_path):
    pruned(
        ["hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=2"],
        cwd=tmp_path,
        sweep=sweep,
    )
    trials = load("quadratic", tmp_path).trials
    for trial in trials:
        steps = sorted(trial.intermediate_values)
        if trial.state == TrialState.PRUNED:
            assert 0 < len(steps) < STEPS
        else:
            assert steps == list(range(STEPS))


def test_report_and_should_prune_are_no_ops_outside_a_sweep():
    hydratune.report(1.0, 0)
    assert hydratune.should_prune() is False
