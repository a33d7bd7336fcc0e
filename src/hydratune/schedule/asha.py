"""ASHA: asynchronous successive halving, with promotion from checkpoints (Li et al., 2020),
and its asynchronous Hyperband: several brackets of it (``hydra/sweeper/scheduler=hyperband``).

Rungs are at ``min_resource * eta^k`` epochs, below the last epoch, which is the last rung. A
new configuration trains to its bracket's first rung and pauses. Whenever a slot frees, the
highest rung with a promotable paused trial continues it to the next rung from its checkpoint;
with none, the sweep's sampler proposes a new configuration (TPE or GP + ASHA: BOHB-like).
A paused trial is promotable when it ranks in the top ``1/eta`` of its rung in its bracket (by
its objective at the rung, among every trial of the bracket that paused there): the paper's
rule (``promotion: paper``, the default), under which no trial continues before ``eta`` have
paused at its rung. ``promotion: eager`` also promotes a trial whose value was at or above the
``1 - 1/eta`` quantile of the values its rung had when it paused (the first at a rung always),
as Ray Tune's ASHA lets a trial train on; one below it still waits, and is promoted if the
rung's ranking comes round to it. Each rung's history is the pause times in the study, so a
rerun or another worker takes the same decisions. Eager is not the default: it was slower
to each seed's own TPE best on both tasks of the schedules study (bench/studies/RESULTS.md).

Brackets guard against a first rung too early to rank by: bracket ``b`` starts at rung ``b``
(``min_resource * eta^b`` epochs), the last bracket possibly at the last epoch (a plain run).
Rungs are one ladder for all brackets, so rung k means the same epochs in each. New
configurations go to the brackets in proportion to Optuna's HyperbandPruner budgets (the
aggressive brackets get more: ``ceil(n * eta^s / (s + 1))`` with ``s = n - 1 - b``), in a
fixed order read from the study (the bracket furthest below its share), so a rerun or another
worker continues the allocation. ``asha`` is the one-bracket case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from hydratune.attrs import LOST, RESUMED_FROM, SEGMENT
from hydratune.schedule.base import CheckpointSchedule, Continuation
from hydratune.schedule.lineage import bracket_of, is_paused, resumed_number


def rung_epochs(min_resource: int, eta: int, max_epochs: int) -> list[int]:
    """The epochs of each rung: ``[1, 3, 9]`` for min_resource 1, eta 3, 9 epochs."""
    rungs, epochs = [], min_resource
    while epochs < max_epochs:
        rungs.append(epochs)
        epochs *= eta
    return [*rungs, max_epochs]


def max_brackets(min_resource: int, eta: int, max_epochs: int) -> int:
    """Hyperband's bracket count, ``floor(log_eta(max_epochs / min_resource)) + 1``: one per
    rung at ``min_resource * eta^b`` epochs up to the last epoch (computed without floats)."""
    count, epochs = 0, min_resource
    while epochs <= max_epochs:
        count, epochs = count + 1, epochs * eta
    return count


def bracket_shares(brackets: int, eta: int) -> list[int]:
    """New configurations per bracket in one round (Optuna's HyperbandPruner budgets)."""
    return [
        math.ceil(brackets * eta ** (brackets - 1 - b) / (brackets - b)) for b in range(brackets)
    ]


class AshaSchedule(CheckpointSchedule):
    kind = "asha"

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # CheckpointSchedule's
        super().__init__(*args, **kwargs)
        conf, max_epochs = self.conf, self.max_epochs
        self.eta = int(conf.eta)
        self.eager = conf.get("promotion", "paper") == "eager"
        self.rungs = rung_epochs(int(conf.min_resource), self.eta, max_epochs)
        brackets = conf.get("brackets", 1)
        if brackets is None:
            brackets = max_brackets(int(conf.min_resource), self.eta, max_epochs)
        self.shares = bracket_shares(int(brackets), self.eta)

    def first_segment(self, trial: optuna.Trial) -> dict[str, Any]:
        bracket = self.nextbracket_of(self.study.get_trials(deepcopy=False))
        segment = {"kind": self.kind, "rung": bracket, "epochs": self.rungs[bracket]}
        return {**segment, "bracket": bracket} if len(self.shares) > 1 else segment

    def nextbracket_of(self, trials: Sequence[FrozenTrial]) -> int:
        """The bracket furthest below its share of the new configurations so far (a run of a
        bracket this sweep no longer has, from a rerun with fewer, is not counted)."""
        started = [0] * len(self.shares)
        for trial in trials:
            segment = trial.user_attrs.get(SEGMENT)
            if (
                segment
                and segment.get("kind") == self.kind
                and bracket_of(segment) < len(started)
                and RESUMED_FROM not in trial.user_attrs
                and not trial.user_attrs.get(LOST)
            ):
                started[bracket_of(segment)] += 1
        return min(range(len(self.shares)), key=lambda b: started[b] / self.shares[b])

    def rung_members(
        self, trials: Sequence[FrozenTrial], bracket: int, rung: int
    ) -> list[FrozenTrial]:
        """The trials of ``bracket`` that paused at ``rung``, best first."""
        members = [
            t
            for t in trials
            if is_paused(t)
            and t.user_attrs[SEGMENT].get("kind") == self.kind
            and bracket_of(t.user_attrs[SEGMENT]) == bracket
            and t.user_attrs[SEGMENT].get("rung") == rung
        ]
        return sorted(members, key=self.score, reverse=True)

    def next_continuation(self, trials: Sequence[FrozenTrial]) -> Continuation | None:
        continued = {resumed_number(t) for t in trials}
        for rung in reversed(range(len(self.rungs) - 1)):
            for bracket in range(min(rung + 1, len(self.shares))):
                for trial in self.promotable(self.rung_members(trials, bracket, rung)):
                    if trial.number not in continued and self.usable(trial):
                        segment = {**trial.user_attrs[SEGMENT], "rung": rung + 1}
                        segment["epochs"] = self.rungs[rung + 1]
                        return Continuation(trial, dict(trial.params), segment)
        return None

    def promotable(self, members: list[FrozenTrial]) -> list[FrozenTrial]:
        """Of a rung's paused trials (best first), those that may continue, best first: the
        top ``1/eta`` of them now, and under eager promotion any that was at or above the
        ``1 - 1/eta`` quantile of the rung's earlier values when it paused (Ray Tune's
        ``cutoff``, linear interpolation; the rung's first always)."""
        top = members[: len(members) // self.eta]
        if not self.eager:
            return top
        chosen = {t.number for t in top}
        arrivals = sorted(members, key=lambda t: (t.datetime_complete, t.number))
        for i, trial in enumerate(arrivals):
            earlier = [self.score(t) for t in arrivals[:i]]
            if not earlier or self.score(trial) >= np.percentile(earlier, 100 * (1 - 1 / self.eta)):
                chosen.add(trial.number)
        return [t for t in members if t.number in chosen]
