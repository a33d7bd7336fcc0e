"""How far a study runs: the ``n_trials`` in force, and which trials count toward it.

One definition for every reader, so they cannot disagree: the sweep loop (when to stop), the
live view (trial k of n), ``optimization_results.yaml`` and ``hydratune steer show``.

- A trial *counts* (is finished) when it ended by itself: complete, pruned, or failed (it
  raised, returned NaN/None, or its worker died on every attempt ``max_retries`` allows). A
  trial lost to a kill, an interrupt or a dead worker does not count: its parameters run again
  and the retry counts. A surplus trial (asked past ``n_trials`` by a worker sharing the
  study) never ran, nor did a configuration ``steer enqueue`` queued into a full PBT population.
- The ``n_trials`` in force is the latest ``n_trials`` steering action, else the sweep's own
  setting. A new ``hydra.sweeper.n_trials=N`` on the command line (explicit, and not what the
  sweep's last run declared) is recorded as such an action by the sweep, so it wins over a
  steered value and every reader sees it; the same command run again to resume keeps the
  steered value.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from optuna.trial import FrozenTrial, TrialState

from hydratune.attrs import FAIL_REASON, LOST, NOT_RUN, SWEEP_SPACE
from hydratune.schedule import population_end
from hydratune.steering.record import RUNNING, SteeringState, read_state

Declared = TypeVar("Declared", int, None)  # a sweep's own n_trials; None: no sweep recorded one


def counts_toward_n_trials(trial: FrozenTrial) -> bool:
    """Whether ``trial`` ended by itself (complete, pruned, failed): see the module's text."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    attrs = trial.user_attrs
    lost_or_not_run = attrs.get(LOST) or attrs.get(FAIL_REASON) in NOT_RUN
    return trial.state == TrialState.FAIL and not lost_or_not_run


def finished_count(trials: Iterable[FrozenTrial]) -> int:
    """How many of ``trials`` count toward ``n_trials``."""
    return sum(counts_toward_n_trials(t) for t in trials)


# The largest n_trials: far beyond any study, and within what counts and estimates compute in
# floats (a steered n_trials of 400 digits broke every later run of the sweep and its page)
MAX_N_TRIALS = 1_000_000_000
N_TRIALS_REACHED = "n_trials reached"
GRID_DONE = "every point of the grid has run"


def why_ended(
    trials: list[FrozenTrial],
    n_trials: int | None,
    sampler: str | None,
    held: Collection[int] = (),
) -> str | None:
    """Why no worker starts another trial of the sweep, or None if one may: nothing runs and
    the finished trials reach ``n_trials``, a grid sweep's grid is used up (``sampler``: the
    recorded sampler's class), or a PBT sweep's population has trained to its end or waits
    only on members a person holds (``held``: steering's)."""
    if any(t.state == TrialState.RUNNING for t in trials):
        return None
    if n_trials is not None and finished_count(trials) >= n_trials:
        return N_TRIALS_REACHED
    if "GridSampler" in (sampler or "") and all(t.state != TrialState.WAITING for t in trials):
        return GRID_DONE
    return population_end(trials, held)


def sweep_mode(mode: str, ended: str | None, lost: Sequence[bool] = ()) -> str:
    """The sweep's mode as ``steer show``, the page and ``optimization_results.yaml`` say it:
    steering's ``mode``, but "not running (why)" where steering says running and nothing runs
    the sweep: it ended (``ended``: ``why_ended``) or the process of every running trial has
    ended (``lost``: ``owner.gone`` of each running trial; a kill -9 leaves its trials RUNNING
    in the study)."""
    if mode == RUNNING and ended:
        return f"not running ({ended})"
    if mode == RUNNING and lost and all(lost):
        return "not running (the processes of its running trials have ended: run it again)"
    return mode


def n_trials_in_force(declared: Declared, state: SteeringState) -> int | Declared:
    """The ``n_trials`` the study runs to: the steered one, else the sweep's own (``declared``)."""
    return declared if state.n_trials is None else state.n_trials


def declared_n_trials(attrs: Mapping[str, Any]) -> int | None:
    """The sweep's own ``n_trials`` as its last run recorded it in the study's user attributes;
    None for a study no hydratune sweep has run (or a record another program wrote)."""
    record = attrs.get(SWEEP_SPACE)
    declared = record.get("n_trials") if isinstance(record, Mapping) else None
    return declared if isinstance(declared, int) and not isinstance(declared, bool) else None


def study_n_trials(attrs: Mapping[str, Any]) -> int | None:
    """``n_trials_in_force`` from a study's user attributes alone."""
    return n_trials_in_force(declared_n_trials(attrs), read_state(attrs))
