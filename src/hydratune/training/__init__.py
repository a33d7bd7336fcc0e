"""The training task: Lightning, objective tracking, the pruning callback, data and models.

It imports nothing from ``hydratune.sweep`` or ``hydratune.execute``: a plain ``hydratune`` run
is just training, and a job reaches its trial only through the study storage
(``current_trial``).
"""

from __future__ import annotations

from hydratune.exports import exports

# what other packages use, imported on first use (hydratune/exports.py)
__all__, __getattr__ = exports(
    __name__,
    {
        "current_trial": ["register_live_study", "unregister_live_study"],
        "mlflow_store": ["prepare_mlflow", "store_lock", "tracking_target"],
        "objective": ["ObjectiveSpec"],
        "pruning": ["PruningCallback"],
        "task": ["train"],
    },
)
