"""hydratune: declarative hyperparameter tuning with Hydra, Optuna and Lightning.

The public API for task code run by ``hydra/sweeper: hydratune`` (all no-ops outside a sweep):

- ``report(value, step)`` / ``should_prune()``: intermediate values and the pruner's verdict,
  from any process, for plain (non-Lightning) training loops;
- ``PruningCallback.for_current_trial(metric)``: the same for a Lightning ``Trainer`` (call its
  ``raise_if_pruned()`` after ``fit``); hydratune's own training task adds it by itself;
- ``current_trial()``: the running ``optuna.Trial``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PruningCallback", "current_trial", "report", "should_prune"]


# Modules of hydratune 0.1's flat layout, and where they live now. ``_target_:
# hydratune.models.MLPClassifier`` in an old config then fails with the new path to write.
MOVED = {
    "models": "hydratune.training.models",
    "data": "hydratune.training.data",
    "train": "hydratune.training.task",
    "objective": "hydratune.training.objective",
    "pruning": "hydratune.training.pruning",
    "reporting": "hydratune.training.current_trial",
    "resolvers": "hydratune.training.resolvers",
    "sweeper": "hydratune.sweep.sweeper",
    "loop": "hydratune.sweep.loop",
    "study": "hydratune.sweep.study (storage URLs: hydratune.storage)",
    "recovery": "hydratune.sweep.recovery",
    "results": "hydratune.sweep.results",
    "progress": "hydratune.sweep.progress",
    "search_space": "hydratune.space.search_space",
    "group_spaces": "hydratune.space.group_spaces",
    "job": "hydratune.execute.job",
    "trial_config": "hydratune.execute.trial_config",
    "launch": "hydratune.execute.local",
    "launch_ray": "hydratune.execute.ray_launcher",
    "study_report": "hydratune.insight.report",
    "export": "hydratune.insight.export",
    "rerun": "hydratune.insight.rerun",
}


def __getattr__(name: str) -> Any:
    # Imported on use: Hydra imports the plugin module (and so this package) in every app run,
    # where Optuna (for the trial functions) and Lightning (for the callback) are not needed.
    if name in ("current_trial", "report", "should_prune"):
        import importlib

        return getattr(importlib.import_module("hydratune.training.current_trial"), name)
    if name == "PruningCallback":
        from hydratune.training import PruningCallback

        return PruningCallback
    if name in MOVED:
        # ImportError, not AttributeError: Hydra's _target_ lookup passes this message on.
        raise ImportError(f"hydratune.{name} moved to {MOVED[name]}; update the import path")
    raise AttributeError(name)
