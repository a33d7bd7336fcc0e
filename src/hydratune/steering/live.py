"""The sweep loop's side of steering: poll the study's steering record, apply what changed.

``LoopSteering.poll`` costs one read of the study's user attributes per trial (a journal file
replays only what was appended since; an RDB storage is asked for a count of steering keys
first, and read in full only when it changed); the actions are replayed only when their set
changed. bench/steering.py measures it.

Fixed and narrowed parameters go through ``SteeredSampler``: trials still suggest every
parameter with its declared distribution, so the study stays one study and the sampler learns
from the values actually run; only where the values come from changes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, GridSampler
from optuna.trial import FrozenTrial

from hydratune import compat
from hydratune.attrs import STEER_PREFIX
from hydratune.optuna_classes import WrappedSampler
from hydratune.space import SearchSpace
from hydratune.steering.budget import finished_count, n_trials_in_force
from hydratune.steering.record import SteeringState, read_state, record_space, steering_keys

log = logging.getLogger(__name__)

HOLD_POLL_S = 1.0  # how often a paused worker with no trial running looks for resume/stop


class SteeredSampler(WrappedSampler):
    """The sweep's sampler, with steered parameters taken out of its hands.

    A fixed parameter gets its value; a narrowed one is sampled by the base sampler from the
    narrowed distribution (independent sampling: relative sampling covers the rest). Both are
    stored under the declared distribution, like Optuna's ``PartialFixedSampler`` does.
    """

    def __init__(self, base: BaseSampler) -> None:
        super().__init__(base)
        self.fixed: dict[str, Any] = {}
        self.narrowed: dict[str, BaseDistribution] = {}

    def _steered(self, name: str) -> bool:
        return name in self.fixed or name in self.narrowed

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        space = self.base.infer_relative_search_space(study, trial)
        return {k: d for k, d in space.items() if not self._steered(k)}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if param_name in self.fixed:
            return self.fixed[param_name]
        dist = self.narrowed.get(param_name, param_distribution)
        return self.base.sample_independent(study, trial, param_name, dist)


class LoopSteering:
    """What the loop asks before each trial: may it start one, and how many in all."""

    def __init__(self, study: optuna.Study, space: SearchSpace, n_trials: int) -> None:
        self.study, self.space, self.declared_n_trials = study, space, n_trials
        self.state = SteeringState()
        self._seen: list[str] = []
        self._enqueued: set[int] = set()  # trials `steer enqueue` queued
        self._enqueue_pending = False  # one of them may still be waiting
        if isinstance(study.sampler, SteeredSampler):  # a second loop on the same study
            study.sampler = study.sampler.base
        record_space(study, space, n_trials)
        self.sampler: SteeredSampler | None = None
        if not isinstance(study.sampler, GridSampler):  # the grid runs its own queue
            self.sampler = SteeredSampler(study.sampler)
            study.sampler = self.sampler
        self.poll()  # steering from before this run (a restart honours it); one-off costs here

    @property
    def n_trials(self) -> int:
        """The ``n_trials`` in force (``budget.n_trials_in_force``)."""
        return n_trials_in_force(self.declared_n_trials, self.state)

    def _reached(self) -> bool:
        return finished_count(self.study.get_trials(deepcopy=False)) >= self.n_trials

    def poll(self) -> SteeringState:
        """Read the study's steering record (one storage read) and apply any new action."""
        count = compat.rdb_user_attr_count(self.study, STEER_PREFIX)  # RDB: one cheap count
        if count is not None and count == len(self._seen):
            return self.state
        attrs = compat.study_user_attrs(self.study)  # read-only, not deep-copied
        keys = steering_keys(attrs)
        if keys == self._seen:
            return self.state
        new = len(self._seen)
        self.state, self._seen = read_state(attrs, self.space), keys
        for action in self.state.actions[new:]:
            if action.verb == "enqueue":
                self._enqueued.add(action.from_trial)  # the queued trial's number
                self._enqueue_pending = True
            log.info(
                "steering: %s (by %s at %s, from trial #%d)",
                action.text,
                action.by,
                action.at,
                action.from_trial,
            )
        if self.sampler is not None:
            self.sampler.fixed = dict(self.state.fixed)
            self.sampler.narrowed = dict(self.state.narrowed)
        elif self.state.fixed or self.state.narrowed:
            log.warning("steering: fix/narrow do not apply to the grid sampler's queued points")
        if self.state.mode != "running":
            log.info("steering: sweep %s: no new trial starts", self.state.mode)
        return self.state

    def take_enqueued(self) -> optuna.Trial | None:
        """A trial ``steer enqueue`` queued that is still waiting, taken atomically; None if
        none is. It runs before any other queued trial (the grid's, the sweep's ``enqueue:``
        list), as ``steer`` promises; a storage read only while one may be waiting."""
        if not self._enqueue_pending:
            return None
        trial = compat.pop_waiting_trial(self.study, lambda t: t.number in self._enqueued)
        self._enqueue_pending = trial is not None
        return trial

    def hold(self) -> bool:
        """With no trial running: wait while the sweep is paused; True if it was resumed (the
        loop goes on), False if not paused, or once its finished trials reach a lowered
        ``n_trials`` (nothing is left to resume: the loop may end)."""
        if self.poll().mode != "paused" or self._reached():
            return False
        log.info("steering: paused; waiting for `hydratune steer ... resume` (or stop)")
        while self.poll().mode == "paused":
            if self._reached():
                return False
            time.sleep(HOLD_POLL_S)  # a person decides when to resume: poll the storage
        return True
