"""Warnings about a sweep that runs but cannot do what its config asks.

A pruner needs intermediate values: hydratune's training task reports them, an app of one's
own (a LightningModule in another project) reports nothing unless it adds the callback, and
then every trial runs to the end while the config says ``pruner: median``.
"""

from __future__ import annotations

import logging

import optuna
from optuna.trial import TrialState

log = logging.getLogger(__name__)

CALLBACK_LINE = (
    "+callbacks.prune._target_=hydratune.PruningCallback.for_current_trial "
    "+callbacks.prune.metric=<the metric the sweep optimises>"
)


def warn_if_pruner_idle(study: optuna.Study) -> bool:
    """Warn (once, at the end of a sweep) when the study has a pruner but none of its complete
    trials reported an intermediate value: the pruner never had anything to judge."""
    if isinstance(study.pruner, optuna.pruners.NopPruner):
        return False
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete or any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        return False
    log.warning(
        "hydra.sweeper.pruner is %s but no trial reported an intermediate value, so nothing was "
        "pruned. In a Lightning app, add the pruning callback (command line, or the same keys "
        "in your callbacks config):\n  %s\nor call hydratune.report(value, epoch) and "
        "hydratune.should_prune() in your own loop.",
        type(study.pruner).__name__,
        CALLBACK_LINE,
    )
    return True
