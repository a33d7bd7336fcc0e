"""Failure-aware search: a trial that fails by itself teaches the sampler its region is bad.

Optuna's samplers ignore FAIL trials, so TPE and GP keep proposing a region that always
fails (a configuration that runs out of memory, a learning rate that diverges to NaN).
``FailureAwareSampler`` wraps such a sampler and shows it each trial that failed by itself
(raised, returned NaN/inf/None) as COMPLETE with the worst value seen so far. The study stays
honest (those trials are FAIL with their reason); only the wrapped sampler's view changes.
A trial lost to a kill or a dead worker (``lost``, retried) or a surplus one says nothing about
its parameters and stays invisible, as Optuna leaves it; parameters that kill their worker on
every attempt (``max_retries`` spent) are a failure like any other.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Sequence
from typing import Any

import optuna
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hydratune import compat, steering
from hydratune.attrs import STEER_PREFIX
from hydratune.optuna_classes import ViewSampler
from hydratune.steering import counts_toward_n_trials

# Samplers that learn from completed trials and keep returning to a failing region (random,
# grid and QMC ignore trials), with how many bad trials one failure weighs as. TPE draws
# candidates from a density that keeps a uniform prior, and a value that failed once still
# wins against its density of bad trials: a failure weighs as 3 (bench.failure_aware: 30% of
# trials failed with 1, 22% with 3, random 28%, over 20 seeds). GP models the value itself:
# once is enough. CMA-ES is left as it is: it does not count a FAIL trial in its generation
# and draws again from the same distribution, which already steers it away (2-5 failures in
# 25 trials on that case, 2-7 with the failures shown).
LEARNING: dict[type[BaseSampler], int] = {
    optuna.samplers.TPESampler: 3,
    optuna.samplers.GPSampler: 1,
}


def failure_aware(sampler: BaseSampler) -> BaseSampler:
    """``sampler`` made failure-aware if it learns from trials, else itself."""
    for cls, weight in LEARNING.items():
        if isinstance(sampler, cls):
            return FailureAwareSampler(sampler, weight)
    return sampler


def failed_by_itself(trial: FrozenTrial) -> bool:
    """A FAIL trial that counts toward ``n_trials`` (``steering.budget``), with parameters."""
    return trial.state == TrialState.FAIL and counts_toward_n_trials(trial) and bool(trial.params)


def present_failures(
    trials: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
    weight: int = 1,
    failed_by_hand: Collection[int] = (),
) -> list[FrozenTrial]:
    """``trials`` with each one that failed by itself, or that a person failed by hand
    (``hydratune steer fail``: their numbers), shown as COMPLETE with the worst value of each
    objective among the other complete ones (unchanged while none is complete), and
    ``weight - 1`` more copies of it at the end."""
    return FailurePresenter(directions, weight, failed_by_hand).present(trials)


class FailurePresenter:
    """``present_failures`` for one study's trials as they grow, reading each finished trial
    once: a sampler reads the whole study before every trial, and a finished trial never
    changes (Optuna refuses updates) nor moves (trials are listed by number)."""

    def __init__(
        self,
        directions: Sequence[StudyDirection],
        weight: int = 1,
        failed_by_hand: Collection[int] = (),
    ) -> None:
        self.directions, self.weight = list(directions), weight
        self.failed_by_hand = frozenset(failed_by_hand)
        self._forget()

    def _forget(self) -> None:
        self._settled = 0  # trials[:_settled] are finished and folded into the three below
        self._last = -1  # the number of trials[_settled - 1]
        self._worst: list[float] | None = None  # per objective, among the complete ones
        self._failed: list[int] = []  # positions of the ones shown as complete

    def present(self, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        if self._settled and (
            len(trials) < self._settled or trials[self._settled - 1].number != self._last
        ):
            self._forget()  # not the list it read before
        while self._settled < len(trials) and trials[self._settled].state.is_finished():
            self._worst = self._fold(self._worst, self._failed, self._settled, trials)
            self._last = trials[self._settled].number
            self._settled += 1
        worst, failed = self._worst, list(self._failed)
        for position in range(self._settled, len(trials)):  # behind a running trial: each time
            worst = self._fold(worst, failed, position, trials)
        if worst is None:
            return list(trials)
        shown, extra = list(trials), []
        for position in failed:
            trial = copy.copy(trials[position])
            trial.state = TrialState.COMPLETE
            trial.values = worst
            shown[position] = trial
            extra += [trial] * (self.weight - 1)
        return shown + extra

    def _fold(
        self,
        worst: list[float] | None,
        failed: list[int],
        position: int,
        trials: Sequence[FrozenTrial],
    ) -> list[float] | None:
        """``worst`` with ``trials[position]`` counted, and its position added to ``failed``
        if it is shown as complete."""
        trial = trials[position]
        by_hand = trial.number in self.failed_by_hand
        if failed_by_itself(trial) or (by_hand and trial.params):
            failed.append(position)
        if trial.state != TrialState.COMPLETE or by_hand:
            return worst
        if worst is None:
            return list(trial.values)
        return [
            max(w, v) if direction == StudyDirection.MINIMIZE else min(w, v)
            for direction, w, v in zip(self.directions, worst, trial.values, strict=True)
        ]


class FailureAwareSampler(ViewSampler):
    """``base``, shown failed trials as the worst complete ones, ``weight`` times each."""

    def __init__(self, base: BaseSampler, weight: int = 1) -> None:
        super().__init__(base)
        self.weight = weight
        self._presenter: FailurePresenter | None = None
        self._presented: tuple[list[FrozenTrial], list[FrozenTrial]] | None = None
        self._steering_count: int | None = None  # steering records when last read (RDB)
        self._steering_read_for: int | None = None  # the trial they were last read for
        # The sweep loop's own reading of the steering record (it reads it before every ask):
        # with it, this sampler reads nothing itself.
        self.failed_by_hand_source: Callable[[], Collection[int]] | None = None

    def view(self, study: optuna.Study, trial: FrozenTrial) -> Any:
        def present(trials: list[FrozenTrial]) -> list[FrozenTrial]:
            # Samplers read the trials several times per trial through Optuna's per-ask cache
            # (the same list each time): present that list once, not once per read.
            if self._presented is None or self._presented[0] is not trials:
                by_hand = self._failed_by_hand(study, trial.number)
                if self._presenter is None or self._presenter.failed_by_hand != by_hand:
                    self._presenter = FailurePresenter(study.directions, self.weight, by_hand)
                self._presented = (trials, self._presenter.present(trials))
            return self._presented[1]

        return compat.trials_view(study, present)

    def _failed_by_hand(self, study: optuna.Study, number: int) -> frozenset[int]:
        """The trials failed by hand, read at most once per trial asked: on a database one
        count of the steering records first says whether to read them at all."""
        if self.failed_by_hand_source is not None:
            return frozenset(self.failed_by_hand_source())
        if self._presenter is not None and self._steering_read_for == number:
            return self._presenter.failed_by_hand
        self._steering_read_for = number
        count = compat.rdb_user_attr_count(study, STEER_PREFIX)
        if count is None or count != self._steering_count or self._presenter is None:
            self._steering_count = count
            return frozenset(steering.failed_by_hand(study))
        return self._presenter.failed_by_hand
