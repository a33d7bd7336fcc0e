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

from hydratune.reporting import current_trial, report, should_prune

__all__ = ["PruningCallback", "current_trial", "report", "should_prune"]


def __getattr__(name: str) -> Any:
    if name == "PruningCallback":  # imported on use: it needs Lightning, the rest does not
        from hydratune.pruning import PruningCallback

        return PruningCallback
    raise AttributeError(name)
