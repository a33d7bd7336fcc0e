"""PBT: population based training on checkpoints (Jaderberg et al., 2017), asynchronous.

``population`` configurations from the sweep's sampler train as members; each run trains
``perturbation_interval`` epochs and pauses. When a slot frees, the member that paused
earliest goes on: if its score is in the bottom ``quantile_fraction`` of the members' latest
scores, it continues from a top-quantile member's checkpoint (exploit) with that member's
parameters perturbed inside the declared space (explore); otherwise from its own checkpoint
with its own parameters. Each run is a trial (``schedule: {kind: pbt, member, generation,
epochs}``); ``resumed_from`` is the lineage. No new configuration is asked once the population
is full: a slot with no paused member waits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from hydratune.attrs import RETRY_OF, SEGMENT
from hydratune.schedule.base import CheckpointSchedule, Continuation
from hydratune.schedule.lineage import continues_from, epochs_of, is_paused

FACTORS = (0.8, 1.2)


class PbtSchedule(CheckpointSchedule):
    kind = "pbt"

    def __init__(self, *args: Any, space: Any, **kwargs: Any) -> None:  # CheckpointSchedule's
        super().__init__(*args, **kwargs)
        conf = self.conf
        self.population, self.interval = int(conf.population), int(conf.perturbation_interval)
        self.distributions: dict[str, BaseDistribution] = dict(space.distributions)
        self.seed = conf.seed
        explore = conf.explore
        if explore is None:  # rates, dropout, decay: never the sizes a checkpoint is shaped by
            explore = [n for n, d in self.distributions.items() if isinstance(d, FloatDistribution)]
        self.explored = set(explore)

    def takes_new_configurations(self) -> bool:
        """Only until the population is full, or a member's run waits in the queue (a lost
        run's retry, a continuation queued by a sweeper that died), which the sampler's ask
        takes: a configuration queued by ``steer enqueue`` is no member's run."""
        trials = self.study.get_trials(deepcopy=False)
        queued = any(
            t.state == TrialState.WAITING and (RETRY_OF in t.user_attrs or SEGMENT in t.user_attrs)
            for t in trials
        )
        return queued or self._has_room(trials)

    def has_room(self) -> bool:
        """Only until the population is full."""
        return self._has_room(self.study.get_trials(deepcopy=False))

    def _has_room(self, trials: Sequence[FrozenTrial]) -> bool:
        return len(self._members(trials)) < self.population

    def first_segment(self, trial: optuna.Trial) -> dict[str, Any]:
        member = len(self._members(self.study.get_trials(deepcopy=False)))
        return self._segment(member, 0, min(self.interval, self.max_epochs))

    def next_continuation(self, trials: Sequence[FrozenTrial]) -> Continuation | None:
        members = self._members(trials)
        if len(members) < self.population:
            return None  # the sampler fills the population first
        latest = {m: runs[-1] for m, runs in members.items()}
        waiting = [t for t in latest.values() if is_paused(t) and self.usable(t)]
        if not waiting:
            return None
        trial = min(waiting, key=lambda t: (epochs_of(t), t.number))
        segment = trial.user_attrs[SEGMENT]
        # the members that train on: one that has finished has no checkpoint left to copy
        scored = sorted(
            (t for t in latest.values() if is_paused(t) and _scorable(t)),
            key=self.score,
            reverse=True,
        )
        cut = max(1, math.floor(self.conf.quantile_fraction * len(scored)))
        source, params = trial, dict(trial.params)
        if trial in scored[-cut:]:
            top = [t for t in scored[:cut] if t is not trial and is_paused(t) and self.usable(t)]
            if top:
                rng = random.Random(None if self.seed is None else self.seed + len(trials))
                source = rng.choice(top)
                params = self.explore_from(source, trials, rng)
        epochs = min(epochs_of(source) + self.interval, self.max_epochs)
        generation = int(segment["generation"]) + 1
        return Continuation(source, params, self._segment(segment["member"], generation, epochs))

    def releasable(self, trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        """The checkpoint ``trial`` continued from, and its member's earlier ones."""
        member = trial.user_attrs.get(SEGMENT, {}).get("member")
        earlier = [t for t in self._members(trials).get(member, []) if t.number < trial.number]
        return [*super().releasable(trial, trials), *earlier]

    def spent(self, source: FrozenTrial, trials: Sequence[FrozenTrial]) -> bool:
        """A member's checkpoint may be copied until that member has a newer one, and is in use
        while a run continues from it, or a lost run's retry is queued to."""
        member = source.user_attrs[SEGMENT]["member"]
        newer = any(
            t.number > source.number and (is_paused(t) or t.state == TrialState.COMPLETE)
            for t in self._members(trials).get(member, [])
        )
        in_use = any(
            not t.state.is_finished() and continues_from(t, trials) == source.number for t in trials
        )
        return newer and not in_use

    def explore_from(
        self, source: FrozenTrial, trials: Sequence[FrozenTrial], rng: random.Random
    ) -> dict[str, Any]:
        """The values a member exploiting ``source`` trains with (``pb2`` chooses its own)."""
        return self.explore(source.params, rng)

    def explore(self, params: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        """``params`` perturbed inside the space: numbers times 0.8 or 1.2 (on their step, inside
        their range), a neighbouring choice, or with ``resample_probability`` a new draw."""
        explored = {}
        for name, value in params.items():
            dist = self.distributions.get(name)
            if dist is None or name not in self.explored:
                explored[name] = value
            elif rng.random() < self.conf.resample_probability:
                explored[name] = _draw(dist, rng)
            else:
                explored[name] = _perturb(dist, value, rng)
        return explored

    def _members(self, trials: Sequence[FrozenTrial]) -> dict[int, list[FrozenTrial]]:
        """Each member's runs in order. A lost run stays its member's latest until its retry
        (queued, taking the same plan) runs; a run that failed by itself ends its member."""
        members: dict[int, list[FrozenTrial]] = {}
        for trial in trials:
            segment = trial.user_attrs.get(SEGMENT)
            if segment and segment.get("kind") == self.kind:
                members.setdefault(int(segment["member"]), []).append(trial)
        return members

    def _segment(self, member: int, generation: int, epochs: int) -> dict[str, Any]:
        return {"kind": self.kind, "member": member, "generation": generation, "epochs": epochs}


def _scorable(trial: FrozenTrial) -> bool:
    return epochs_of(trial) - 1 in trial.intermediate_values


def _draw(dist: BaseDistribution, rng: random.Random) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return rng.choice(dist.choices)
    low, high = dist.low, dist.high
    if dist.log:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    return _inside(dist, value)


def _perturb(dist: BaseDistribution, value: Any, rng: random.Random) -> Any:
    if isinstance(dist, CategoricalDistribution):
        index = dist.choices.index(value) if value in dist.choices else 0
        index = min(max(index + rng.choice((-1, 1)), 0), len(dist.choices) - 1)
        return dist.choices[index]
    return _inside(dist, value * rng.choice(FACTORS))


def _inside(dist: FloatDistribution | IntDistribution, value: float) -> Any:
    """``value`` clipped to the range and put on the step grid, as the distribution's type."""
    value = min(max(value, dist.low), dist.high)
    if dist.step is not None:
        value = dist.low + round((value - dist.low) / dist.step) * dist.step
        value = min(value, dist.high)
    return int(round(value)) if isinstance(dist, IntDistribution) else float(value)
