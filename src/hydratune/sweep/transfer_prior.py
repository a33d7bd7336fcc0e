"""``transfer: prior``: the source studies' trials shown to the sweep's sampler as earlier
observations, so it models the good region from its first trial instead of sampling at random.

A source's values are on its own scale (an error of 0.02 is its worst on one data set, its
best on another), so every trial is shown with its *quantile* in its own study (0: that
study's best, 1: its worst; this sweep's trials among this sweep's), as in Salinas et al.
2020, "A quantile-based approach for hyperparameter transfer learning". TPE splits trials by
rank, so quantiles lose nothing it uses. The sources' trials come first in the sampler's list
(negative numbers): TPE weighs its oldest trials least once it holds more than 25. Only the
sampler's view changes: the study holds only the trials that ran here.

The prior is shown for the transfer's first ``HORIZON`` trials, the sampler's start-up.
The guard: the sweep's third trial is drawn without the prior (``CONTROLS``: trial numbers
from the transfer's first), as a cold start draws it; if the median of the two drawn with the
prior does worse, the sources are unrelated here and the sampler sees the study alone from
then on (``hydratune.sweep.transfer.guard``, as for ``seed`` and ``box``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hydratune import compat
from hydratune.attrs import TRANSFER
from hydratune.optuna_classes import ViewSampler
from hydratune.space import SearchSpace

# Trials drawn without the prior (numbers from the transfer's first): the guard's reference.
CONTROLS = (2,)
# Trials drawn with it, from the transfer's first: as many as TPE's and GP's random start-up,
# which the prior replaces; then the sweep's own trials lead. Showing it for every trial
# instead changed no related run and left 5 of 12 SVC runs with unrelated sources short of
# the target (bench/studies/RESULTS.md); for the first 5 only, related SVC runs took longer.
HORIZON = 10


@dataclass(frozen=True)
class PriorPoint:
    """One source trial as the sampler sees it."""

    params: dict[str, Any]
    quantile: float  # in its source study: 0 its best, 1 its worst


def quantiles(values: Sequence[float]) -> list[float]:
    """Each value's rank among ``values`` scaled to [0, 1], smallest 0, ties their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start : end + 1]:
            ranks[i] = (start + end) / 2
        start = end + 1
    top = max(len(values) - 1, 1)
    return [r / top for r in ranks]


def prior_points(
    ranked: Sequence[tuple[str, Sequence[FrozenTrial]]], space: SearchSpace, maximize: bool
) -> list[PriorPoint]:
    """Every fitting complete trial of each source (``ranked``: best first) with its quantile."""
    points = []
    for _, trials in ranked:
        fitting = [t for t in trials if space.misfit(t.params) is None]
        values = [-t.value if maximize else t.value for t in fitting]
        for trial, q in zip(fitting, quantiles(values), strict=True):
            points.append(PriorPoint(dict(trial.params), q))
    return points


def _shown_value(q: float, direction: StudyDirection) -> float:
    return 1 - q if direction == StudyDirection.MAXIMIZE else q


class PriorSampler(ViewSampler):
    """``base``, shown the sources' points ahead of the study's own trials, every value as a
    quantile in its own study, but for the guard's control trials and after a fallback."""

    def __init__(self, base: BaseSampler, points: Sequence[PriorPoint], space: SearchSpace):
        super().__init__(base)
        self.points = list(points)
        self.space = space
        self._frozen: list[FrozenTrial] | None = None
        # the prior shown to the trial being drawn (its number): one record read per trial
        self._shown: tuple[int, list[FrozenTrial]] | None = None
        self._over = False  # past prior_until or fallen back: never shown again, nothing read

    def _prior(self, study: optuna.Study, trial: FrozenTrial) -> list[FrozenTrial]:
        """The source trials shown for ``trial`` (none for a control, none after a fallback)."""
        if self._over:
            return []
        if self._shown is not None and self._shown[0] == trial.number:
            return self._shown[1]
        if self._frozen is None:
            direction = study.directions[0]
            self._frozen = [
                optuna.trial.create_trial(
                    params=p.params,
                    distributions={n: self.space.distributions[n] for n in p.params},
                    value=_shown_value(p.quantile, direction),
                )
                for p in self.points
            ]
            for number, frozen in enumerate(self._frozen, start=-len(self._frozen)):
                frozen.number = number
        record = compat.study_user_attrs(study).get(TRANSFER)
        self._over = prior_over(record, trial.number)
        shown = self._frozen if shows_prior(record, trial.number) else []
        self._shown = (trial.number, shown)
        return shown

    def view(self, study: optuna.Study, trial: FrozenTrial) -> Any:
        prior = self._prior(study, trial)
        if not prior:
            return study
        direction = study.directions[0]

        def present(trials: list[FrozenTrial]) -> list[FrozenTrial]:
            complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
            sign = 1 if direction == StudyDirection.MINIMIZE else -1
            ranked = quantiles([sign * t.value for t in complete])
            shown = {
                t.number: _shown_value(q, direction) for t, q in zip(complete, ranked, strict=True)
            }
            own = []
            for t in trials:
                if t.number in shown:
                    t = copy.copy(t)
                    t.values = [shown[t.number]]
                own.append(t)
            return prior + own

        return compat.trials_view(study, present)


def prior_over(record: Any, number: int) -> bool:
    """Whether no trial from ``number`` on is drawn with the prior: after a fallback, or from
    the record's ``prior_until`` (trial numbers only grow)."""
    if not isinstance(record, Mapping):
        return False
    until = record.get("prior_until")
    return bool(record.get("fallback")) or (isinstance(until, int) and number >= until)


def shows_prior(record: Any, number: int) -> bool:
    """Whether trial ``number`` is drawn with the prior: before the record's ``prior_until``,
    not a control, not after a fallback (the transfer record, read defensively)."""
    if not isinstance(record, Mapping) or not isinstance(record.get("prior_until"), int):
        return False
    return not prior_over(record, number) and number not in (record.get("controls") or [])
