"""The best trial: one definition for everything that names it.

Optuna never changes a finished trial, so a trial failed by hand (``hydratune steer fail``)
stays COMPLETE in the study and ``study.best_trial`` / ``study.best_trials`` would still name
it. The results file, ``hydratune export``, the report, ``steer show``, the live line, MLflow
and the page ask here instead: the best complete trial that no one failed by hand (for several
objectives, the Pareto front of those trials), ties to the lower number as Optuna breaks them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hydratune import compat
from hydratune.steering.record import read_state


def failed_by_hand(study: optuna.Study) -> dict[int, str]:
    """Trial number: the reason it was failed by hand, from the study's steering record."""
    return read_state(compat.study_user_attrs(study)).failed


def best_trial(
    study: optuna.Study,
    trials: Sequence[FrozenTrial] | None = None,
    failed: Mapping[int, str] | None = None,
) -> FrozenTrial | None:
    """The best trial of a one-objective study (None if no complete trial counts).

    ``trials`` and ``failed`` (``failed_by_hand``) save a read when the caller has them."""
    front = best_trials(study, trials, failed)
    return front[0] if len(study.directions) == 1 and front else None


def best_trials(
    study: optuna.Study,
    trials: Sequence[FrozenTrial] | None = None,
    failed: Mapping[int, str] | None = None,
) -> list[FrozenTrial]:
    """The trials that count as best, by number: the one best for one objective, else the
    Pareto front of the complete trials not failed by hand."""
    failed = failed_by_hand(study) if failed is None else failed
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    counted = [t for t in trials if t.state == TrialState.COMPLETE and t.number not in failed]
    return _front(counted, study.directions)


def passed_over(
    study: optuna.Study,
    trials: Sequence[FrozenTrial] | None = None,
    failed: Mapping[int, str] | None = None,
    why: bool = True,
) -> str | None:
    """One line naming the trials failed by hand that would be best otherwise, with their
    reasons unless ``why`` is False (the output shows the steering log already); None if there
    are none. Each command that names the best says it once."""
    failed = failed_by_hand(study) if failed is None else failed
    if not failed:
        return None
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    would_be = [t for t in _front(complete, study.directions) if t.number in failed]
    if not would_be:
        return None
    named = "; ".join(
        f"#{t.number} ({failed[t.number]})" if why else f"#{t.number}" for t in would_be
    )
    return f"not counted as best, failed by hand: {named}"


def _front(
    trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]
) -> list[FrozenTrial]:
    """The trials no other one dominates; for one objective the single best (lowest number
    among ties). Sorted best first on the first objective, a trial can only be dominated by
    one before it: O(trials x front)."""
    signs = [1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions]
    if len(signs) == 1:  # the page asks on every refresh: no sort (10,000 trials: 3 ms)
        sign = signs[0]
        return [min(trials, key=lambda t: (sign * t.values[0], t.number))] if trials else []

    def key(t: FrozenTrial) -> tuple[list[float], int]:
        return [s * v for s, v in zip(signs, t.values, strict=True)], t.number

    ranked = sorted(trials, key=key)
    front: list[FrozenTrial] = []
    for trial in ranked:
        values = key(trial)[0]
        if not any(_dominates(key(f)[0], values) for f in front):
            front.append(trial)
    return sorted(front, key=lambda t: t.number)


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b
