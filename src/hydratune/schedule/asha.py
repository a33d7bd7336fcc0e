"""ASHA: asynchronous successive halving, with promotion from checkpoints (Li et al., 2020).

Rungs are at ``min_resource * eta^k`` epochs, below the last epoch, which is the last rung. A
new configuration trains to rung 0 and pauses. Whenever a slot frees, the highest rung with a
paused trial in the top ``1/eta`` of that rung (by its objective at the rung, among every
trial that paused there) continues it to the next rung from its checkpoint; with none, the
sweep's sampler proposes a new configuration (TPE or GP + ASHA: BOHB-like). No trial waits
for a rung to fill: that is the asynchronous part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hydratune.attrs import SEGMENT
from hydratune.schedule.base import CheckpointSchedule, Continuation
from hydratune.schedule.lineage import is_paused, resumed_number


def rung_epochs(min_resource: int, eta: int, max_epochs: int) -> list[int]:
    """The epochs of each rung: ``[1, 3, 9]`` for min_resource 1, eta 3, 9 epochs."""
    rungs, epochs = [], min_resource
    while epochs < max_epochs:
        rungs.append(epochs)
        epochs *= eta
    return [*rungs, max_epochs]


class AshaSchedule(CheckpointSchedule):
    kind = "asha"

    def __init__(self, conf: Any, study: optuna.Study, resource_key: str, max_epochs: int) -> None:
        super().__init__(conf, study, resource_key, max_epochs)
        self.eta = int(conf.eta)
        self.rungs = rung_epochs(int(conf.min_resource), self.eta, max_epochs)

    def first_segment(self, trial: optuna.Trial) -> dict[str, Any]:
        return {"kind": self.kind, "rung": 0, "epochs": self.rungs[0]}

    def rung_members(self, trials: Sequence[FrozenTrial], rung: int) -> list[FrozenTrial]:
        """The trials that paused at ``rung``, best first."""
        members = [
            t
            for t in trials
            if is_paused(t)
            and t.user_attrs[SEGMENT].get("kind") == self.kind
            and t.user_attrs[SEGMENT].get("rung") == rung
        ]
        return sorted(members, key=self.score, reverse=True)

    def next_continuation(self, trials: Sequence[FrozenTrial]) -> Continuation | None:
        continued = {resumed_number(t) for t in trials}
        for rung in reversed(range(len(self.rungs) - 1)):
            members = self.rung_members(trials, rung)
            for trial in members[: len(members) // self.eta]:
                if trial.number not in continued and self.usable(trial):
                    segment = {"kind": self.kind, "rung": rung + 1, "epochs": self.rungs[rung + 1]}
                    return Continuation(trial, dict(trial.params), segment)
        return None
