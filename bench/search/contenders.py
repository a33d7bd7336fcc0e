"""The contenders of bench/search, each with its own defaults, behind one ask/tell loop.

A problem is ``(distributions, evaluate)``: Optuna distributions (float, int, categorical;
``log`` honoured) and a function of a parameter dict to minimise. ``run_contender`` returns the
values in evaluation order and the seconds each suggestion took (ask and tell). ``auto`` is
built by the sweeper's own code (``hydratune.sweep.auto``): the rules, then ``build_sampler``
with its wrappers, exactly what a sweep that names no sampler runs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from bench.search import hebo_contender

Evaluate = Callable[[dict[str, Any]], float]
Space = dict[str, BaseDistribution]

CONTENDERS = ["auto", "tpe", "gp", "cmaes", "random", "smac", "ngopt", "hebo"]
LABELS = {
    "auto": "hydratune auto",
    "tpe": "Optuna TPE (defaults)",
    "gp": "Optuna GP",
    "cmaes": "Optuna CMA-ES",
    "random": "random",
    "smac": "SMAC3 BlackBoxFacade",
    "ngopt": "nevergrad NGOpt",
    "hebo": "HEBO",
}


def auto_choice(space: Space, budget: int) -> Any:
    from hydratune.sweep.auto import choose

    return choose(
        space, conditional=False, n_trials=budget, n_objectives=1, n_workers=1, pruning=False
    )


def same_as(space: Space, budget: int) -> str | None:
    """The contender whose run ``auto`` repeats draw for draw (same sampler, options and seed),
    so the benchmark reuses that run instead of spending the CPU twice; None if none."""
    choice = auto_choice(space, budget)
    if choice.options or (choice.then and choice.switch_at < budget):
        return None
    return choice.sampler if choice.sampler in ("gp", "tpe") else None


def _optuna_sampler(name: str, seed: int, space: Space, budget: int) -> optuna.samplers.BaseSampler:
    if name == "auto":
        from hydratune.sweep.auto import build

        return build(auto_choice(space, budget), seed, None, 0)
    return {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }[name]()


def _run_optuna(
    name: str, space: Space, evaluate: Evaluate, budget: int, seed: int
) -> tuple[list, list]:
    study = optuna.create_study(sampler=_optuna_sampler(name, seed, space, budget))
    values, seconds = [], []
    for _ in range(budget):
        start = time.perf_counter()
        trial = study.ask(space)
        spent = time.perf_counter() - start
        value = evaluate(trial.params)
        start = time.perf_counter()
        study.tell(trial, value)
        seconds.append(spent + time.perf_counter() - start)
        values.append(value)
    return values, seconds


def _run_smac(space: Space, evaluate: Evaluate, budget: int, seed: int) -> tuple[list, list]:
    from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
    from smac import BlackBoxFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    hps = []
    for name, d in space.items():
        if isinstance(d, FloatDistribution):
            hps.append(Float(name, (d.low, d.high), log=d.log))
        elif isinstance(d, IntDistribution):
            hps.append(Integer(name, (d.low, d.high), log=d.log))
        else:
            hps.append(Categorical(name, [str(c) for c in d.choices]))
    cs = ConfigurationSpace(seed=seed)
    cs.add(hps)
    choices = {n: d for n, d in space.items() if isinstance(d, CategoricalDistribution)}
    with tempfile.TemporaryDirectory() as out:
        scenario = Scenario(
            cs, deterministic=True, n_trials=budget, seed=seed, output_directory=out
        )
        smac = BlackBoxFacade(
            scenario, target_function=lambda config, seed=0: 0.0, overwrite=True, logging_level=40
        )
        values, seconds = [], []
        for _ in range(budget):
            start = time.perf_counter()
            info = smac.ask()
            spent = time.perf_counter() - start
            params = dict(info.config)
            for n, d in choices.items():  # back from ConfigSpace's strings
                params[n] = next(c for c in d.choices if str(c) == params[n])
            value = evaluate(params)
            start = time.perf_counter()
            smac.tell(info, TrialValue(cost=value))
            seconds.append(spent + time.perf_counter() - start)
            values.append(value)
    return values, seconds


def _run_ngopt(space: Space, evaluate: Evaluate, budget: int, seed: int) -> tuple[list, list]:
    import nevergrad as ng
    import numpy as np

    params = {}
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            params[name] = ng.p.Choice(list(d.choices))
        elif d.log:
            params[name] = ng.p.Log(lower=d.low, upper=d.high)
        else:
            params[name] = ng.p.Scalar(lower=d.low, upper=d.high)
        if isinstance(d, IntDistribution):
            params[name] = params[name].set_integer_casting()
    parametrization = ng.p.Dict(**params)
    parametrization.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.NGOpt(parametrization=parametrization, budget=budget, num_workers=1)
    values, seconds = [], []
    for _ in range(budget):
        start = time.perf_counter()
        candidate = opt.ask()
        spent = time.perf_counter() - start
        value = evaluate(dict(candidate.value))
        start = time.perf_counter()
        opt.tell(candidate, value)
        seconds.append(spent + time.perf_counter() - start)
        values.append(value)
    return values, seconds


def run_contender(
    name: str, space: Space, evaluate: Evaluate, budget: int, seed: int
) -> tuple[list, list]:
    """(values, seconds per suggestion) of one run; values are floats to minimise."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if name == "smac":
        return _run_smac(space, evaluate, budget, seed)
    if name == "ngopt":
        return _run_ngopt(space, evaluate, budget, seed)
    if name == "hebo":
        return hebo_contender.run(space, evaluate, budget, seed)
    return _run_optuna(name, space, evaluate, budget, seed)
