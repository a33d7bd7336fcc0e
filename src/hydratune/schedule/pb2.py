"""PB2: population based bandits (Parker-Holder et al., 2020), PBT with a GP-UCB explore step.

Everything but explore is ``pbt``'s (population, exploit, pauses, lineage; its runs are
recorded as PBT runs, so ``steer show``, the report and MLflow show its population). When a
member exploits, the explored numbers are chosen rather than multiplied by 0.8 or 1.2: a
Gaussian process (scikit-learn's) learns, from every finished run, how much the score rose per
epoch given the run's end epoch, the score it started from and its values; the values with the
highest upper confidence bound at the copied member's next epoch and score win. That is Ray
Tune's ``PB2`` (the same inputs, target and UCB weight), with scikit-learn's RBF kernel over
all inputs instead of its time-varying kernel, and the bound maximised over random candidates
instead of by L-BFGS. Ray's PB2 models only numbers; here explored choices move as PBT moves
them, and until two runs have finished the numbers too (Ray's PB2 copies them unchanged).
A fresh run's gain is counted from its first epoch's score (Ray Tune counts none).
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from hydratune.schedule.lineage import epochs_of, is_paused, resumed_number
from hydratune.schedule.pbt import PbtSchedule, _inside, _scorable

CANDIDATES = 1000  # random points the upper confidence bound is maximised over
MIN_RUNS = 2  # finished runs before the GP decides


class Pb2Schedule(PbtSchedule):
    """PBT with the GP-UCB explore step (the module's docstring says how it chooses)."""

    def explore_from(
        self, source: FrozenTrial, trials: Sequence[FrozenTrial], rng: random.Random
    ) -> dict[str, Any]:
        params = self.explore(source.params, rng)  # choices, and the numbers until the GP decides
        numbers = {
            name: dist
            for name, dist in sorted(self.distributions.items())
            if name in self.explored
            and name in source.params
            and isinstance(dist, FloatDistribution | IntDistribution)
        }
        rows = self._gains(trials, numbers) if numbers else []
        if len(rows) < MIN_RUNS:
            return params
        inputs = np.array([r[0] for r in rows])
        gains = np.array([r[1] for r in rows])
        # epochs as a share of the last one; scores in [0, 1] over the runs' and the source's
        epochs = min(epochs_of(source) + self.interval, self.max_epochs)
        scores = np.append(inputs[:, 1], self.score(source))
        low, span = scores.min(), np.ptp(scores) or 1.0
        inputs[:, 0] /= self.max_epochs
        inputs[:, 1] = (inputs[:, 1] - low) / span
        fixed = [epochs / self.max_epochs, (self.score(source) - low) / span]
        kernel = ConstantKernel() * RBF(np.ones(inputs.shape[1])) + WhiteKernel()
        seed = rng.getrandbits(32)
        gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed)
        with warnings.catch_warnings():  # a few points may put a length scale at its bound
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(inputs, gains)
        units = np.random.default_rng(seed).uniform(size=(CANDIDATES, len(numbers)))
        mean, std = gp.predict(np.hstack([np.tile(fixed, (CANDIDATES, 1)), units]), True)
        kappa = math.sqrt(0.2 + max(0.0, math.log(0.4 * len(rows))))  # Ray Tune's PB2
        best = units[int(np.argmax(mean + kappa * std))]
        for (name, dist), unit in zip(numbers.items(), best, strict=True):
            params[name] = _from_unit(dist, float(unit))
        return params

    def _gains(
        self, trials: Sequence[FrozenTrial], numbers: dict[str, Any]
    ) -> list[tuple[list[float], float]]:
        """Each finished run as ``([end epoch, score it started from, *values in [0, 1]], score
        gained per epoch)``: from the checkpoint it continued from, or from its first epoch."""
        rows = []
        for runs in self._members(trials).values():
            for run in runs:
                if not (is_paused(run) or run.state == TrialState.COMPLETE) or not _scorable(run):
                    continue
                number = resumed_number(run)
                if number is None:
                    start, before = 1, run.intermediate_values.get(0)
                    before = None if before is None else (before if self.maximize else -before)
                else:
                    source = trials[number]
                    start, before = epochs_of(source), self.score(source)
                end = epochs_of(run)
                if before is None or end <= start or not set(numbers) <= set(run.params):
                    continue
                units = [_to_unit(d, run.params[n]) for n, d in numbers.items()]
                rows.append(([end, before, *units], (self.score(run) - before) / (end - start)))
        return rows


def _to_unit(dist: FloatDistribution | IntDistribution, value: float) -> float:
    """``value``'s place in its range, on a log scale for a log distribution."""
    if dist.high == dist.low:
        return 0.0
    if dist.log:
        return math.log(value / dist.low) / math.log(dist.high / dist.low)
    return (value - dist.low) / (dist.high - dist.low)


def _from_unit(dist: FloatDistribution | IntDistribution, unit: float) -> Any:
    if dist.log:
        value = dist.low * (dist.high / dist.low) ** unit
    else:
        value = dist.low + unit * (dist.high - dist.low)
    return _inside(dist, value)
