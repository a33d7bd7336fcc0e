"""Steering: a person changes a running sweep through its study, and every worker obeys.

Below both ``sweep/`` (the loop reads it before each trial) and ``insight/`` (the report shows
it); it imports neither. ``record``: the steering record, an on-disk format in the study's user
attributes; ``verbs``: ``Steerer``, what ``hydratune steer`` and a notebook call; ``view``: how
the command prints; ``live``: the loop's side; ``points``: values checked against the space;
``budget``: the ``n_trials`` in force and which trials count toward it; ``caveats``: what an
action will not do now; ``best``: the best trial, not counting trials failed by hand.
"""

from __future__ import annotations

from hydratune.steering.best import best_trial, best_trials, failed_by_hand, passed_over
from hydratune.steering.budget import (
    GRID_DONE,
    MAX_N_TRIALS,
    counts_toward_n_trials,
    declared_n_trials,
    finished_count,
    n_trials_in_force,
    study_n_trials,
    sweep_mode,
    why_ended,
)
from hydratune.steering.live import LoopSteering
from hydratune.steering.points import (
    SteeringError,
    fit_value,
    params_from_mapping,
)
from hydratune.steering.record import (
    RUNNING,
    Action,
    SteeringState,
    printable,
    read_state,
    recorded_space,
    steering_summary,
    write_action,
)
from hydratune.steering.verbs import VERBS, Steerer, SteerError, SweepView
from hydratune.steering.view import action_message, print_action, print_view, worker

__all__ = [
    "GRID_DONE",
    "MAX_N_TRIALS",
    "RUNNING",
    "VERBS",
    "Action",
    "LoopSteering",
    "SteerError",
    "SteeringState",
    "Steerer",
    "SteeringError",
    "SweepView",
    "action_message",
    "best_trial",
    "best_trials",
    "counts_toward_n_trials",
    "declared_n_trials",
    "finished_count",
    "failed_by_hand",
    "fit_value",
    "n_trials_in_force",
    "params_from_mapping",
    "passed_over",
    "print_action",
    "printable",
    "print_view",
    "read_state",
    "recorded_space",
    "steering_summary",
    "study_n_trials",
    "sweep_mode",
    "why_ended",
    "worker",
    "write_action",
]
