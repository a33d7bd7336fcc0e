"""Reading a scheduled study's runs: which trial paused, which it continued from.

Plain functions over ``FrozenTrial`` and the keys in ``hydratune.attrs``, imported by the
schedules, ``hydratune steer show`` and MLflow tracking alike (one definition of "paused").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from optuna.trial import FrozenTrial, TrialState

from hydratune.attrs import PAUSED, RESUMED_FROM, SEGMENT, STOPPED_REASON


def is_paused(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is a run a schedule paused (it may be continued)."""
    reason = str(trial.user_attrs.get(STOPPED_REASON) or "")
    return trial.state == TrialState.PRUNED and reason.startswith(PAUSED)


def resumed_number(trial: FrozenTrial) -> int | None:
    """The trial whose checkpoint ``trial`` continued from, if any."""
    resumed = trial.user_attrs.get(RESUMED_FROM)
    return resumed.get("trial") if isinstance(resumed, Mapping) else None


def lineage_root(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> int:
    """The first run of the chain of checkpoints ``trial``'s weights came through (itself when
    it continued from none): one configuration's runs in ASHA, an exploit's ancestry in PBT.
    ``trials``: the study's, in number order."""
    root, seen = trial.number, {trial.number}
    number = resumed_number(trial)
    while number is not None and number not in seen and number < len(trials):
        root = number
        seen.add(number)
        number = resumed_number(trials[number])
    return root


def epochs_of(trial: FrozenTrial) -> int:
    """The epochs a schedule planned ``trial`` to have trained when it ends."""
    return int(trial.user_attrs[SEGMENT]["epochs"])


def waiting_to_continue(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Paused runs no trial has continued from yet."""
    continued = {resumed_number(t) for t in trials}
    return [t for t in trials if is_paused(t) and t.number not in continued]


def segment_of(trial: FrozenTrial) -> Mapping | None:
    """The schedule's plan for ``trial`` (``{kind, rung | member, epochs}``), if scheduled."""
    segment = trial.user_attrs.get(SEGMENT)
    return segment if isinstance(segment, Mapping) else None


def value_at_end(trial: FrozenTrial) -> float | None:
    """The objective where the run stopped: its value, else its report at its last epoch."""
    if trial.state == TrialState.COMPLETE and trial.values:
        return trial.values[0]
    segment = segment_of(trial)
    if segment is None:
        return None
    return trial.intermediate_values.get(int(segment["epochs"]) - 1)
