"""Issue 14 (failure-aware search): the share of failed trials when a region always fails.

The case of the issue: ``x`` takes 10 integer values (-5..4), every ``x > 1`` returns NaN
(3 of 10 values), the objective ``(x - 1)^2 + (y + 2)^2`` is best right at the edge of that
region. 30 trials of TPE per seed, ``max_failure_rate=1.0`` so every run has its 30 trials.
Contenders, same seeds, same run: hydratune's TPE (failure-aware), plain Optuna TPE (an
ask/tell loop: FAIL trials ignored) and plain random sampling. The target: a median share of
failed trials of at most 25% over the first 3 seeds (random: about 30%).
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from omegaconf import DictConfig
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from bench.common import Figure, fresh_cwd, load_study, md_table, module_main, progress, sweep
from bench.common import target as target_row

TITLE = "Failure-aware search: failed share with a region that always fails (issue 14)"
N_TRIALS = 30
TARGET = 0.25
SPACE = {"x1": IntDistribution(-5, 4), "x2": IntDistribution(-4, 4)}


def nan_region(x: float, y: float) -> float:
    return math.nan if x > 1 else (x - 1) ** 2 + (y + 2) ** 2


def nan_region_task(cfg: DictConfig) -> float:
    return nan_region(cfg.x1, cfg.x2)


def outcome(trials: list[optuna.trial.FrozenTrial]) -> tuple[float, float]:
    """The share of failed trials and the best value found."""
    values = [t.value for t in trials if t.state == TrialState.COMPLETE]
    failed = sum(t.state == TrialState.FAIL for t in trials)
    return failed / len(trials), min(values, default=math.inf)


def hydratune_share(seed: int) -> tuple[float, float]:
    overrides = [
        "hydra/sweeper/sampler=tpe",
        f"hydra.sweeper.sampler.seed={seed}",
        f"hydra.sweeper.n_trials={N_TRIALS}",
        "hydra.sweeper.max_failure_rate=1.0",
        "hydra.sweeper.storage=null",
        "x1=range(-5,5)",
        "x2=range(-4,5)",
    ]
    with fresh_cwd() as cwd:
        sweep(overrides, nan_region_task, "closed_form").check()
        trials = load_study(cwd).trials
    assert len(trials) == N_TRIALS, f"{len(trials)} trials, not {N_TRIALS}"
    return outcome(trials)


def plain_share(sampler: optuna.samplers.BaseSampler) -> tuple[float, float]:
    study = optuna.create_study(sampler=sampler)
    for _ in range(N_TRIALS):
        trial = study.ask(SPACE)
        value = nan_region(trial.params["x1"], trial.params["x2"])
        if math.isnan(value):
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)
    return outcome(study.trials)


def run(quick: bool) -> dict[str, Any]:
    seeds = range(3) if quick else range(10)
    contenders = {
        "hydratune TPE (failure-aware)": hydratune_share,
        "plain Optuna TPE": lambda s: plain_share(optuna.samplers.TPESampler(seed=s)),
        "plain Optuna random": lambda s: plain_share(optuna.samplers.RandomSampler(seed=s)),
    }
    shares: dict[str, list[float]] = {name: [] for name in contenders}
    bests: dict[str, list[float]] = {name: [] for name in contenders}
    for seed in seeds:
        for name, contender in contenders.items():
            share, best = contender(seed)
            shares[name].append(share)
            bests[name].append(best)
        progress(f"failure_aware: seed {seed} done")
    first3 = {name: Figure.of(values[:3]) for name, values in shares.items()}
    every = {name: Figure.of(values) for name, values in shares.items()}
    rows = [
        [
            name,
            first3[name].text(2),
            every[name].text(2),
            " ".join(f"{v:.2f}" for v in values),
            Figure.of(bests[name]).text(1),
        ]
        for name, values in shares.items()
    ]
    ours = first3["hydratune TPE (failure-aware)"].median
    met = ours <= TARGET
    md = [
        f"{N_TRIALS} trials per run; NaN for x > 1 (3 of 10 values of x); seeds {list(seeds)}."
        " Share of failed trials, median (min-max), and the best value found (optimum 0):",
        "",
        md_table(
            ["sampler", "seeds 0-2", f"all {len(seeds)} seeds", "per seed", "best value"], rows
        ),
    ]
    return {
        "markdown": "\n".join(md),
        "targets": [
            target_row(
                "failure-aware TPE",
                f"median failed share <= {TARGET:.0%} (3 seeds)",
                f"{ours:.0%} vs plain TPE {first3['plain Optuna TPE'].median:.0%}, random "
                f"{first3['plain Optuna random'].median:.0%}",
                met,
                "" if met else f"median failed share {ours:.0%} over seeds 0-2",
            )
        ],
        "raw": {"shares": shares, "best_values": bests},
    }


if __name__ == "__main__":
    module_main(TITLE, run)
