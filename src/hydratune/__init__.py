"""hydratune: declarative hyperparameter tuning with Hydra, Optuna and Lightning.

The public API for task code: ``report(value, step)`` and ``should_prune()`` reach the running
trial of a ``hydra/sweeper: hydratune`` sweep from any process (no-ops outside a sweep).
"""

from hydratune.reporting import current_trial, report, should_prune

__all__ = ["current_trial", "report", "should_prune"]
