"""Pruning from inside Lightning: report the objective every validation epoch, stop when told.

The training task adds ``PruningCallback`` when it runs under the hydratune sweeper, so a
user's LightningModule needs no change; in a plain single run there is no trial and no callback.
Under DDP, rank 0 reports and decides, and the decision is broadcast so every rank stops at
the same epoch; the trial is then marked pruned once, by the process that called ``fit``.
"""

from __future__ import annotations

import math

import lightning as L
import optuna

from hydratune.attrs import NON_FINITE, STOPPED_REASON
from hydratune.training.current_trial import TrialRef, current_trial_ref, pruned_by_hand

NAN = NON_FINITE


class NonFiniteMetricError(ValueError):
    """The objective metric became NaN or infinite; the trial fails with this reason."""


class PruningCallback(L.Callback):
    """Report ``metric`` to the running Optuna trial after each validation epoch (step = epoch).

    After ``fit`` returns, call ``raise_if_pruned()``: it raises ``optuna.TrialPruned`` if the
    pruner stopped this trial, or ``NonFiniteMetricError`` if the metric went NaN/inf.
    """

    def __init__(self, metric: str, ref: TrialRef) -> None:
        self.metric = metric
        self.ref = ref
        self.trial: optuna.Trial | None = None
        self.reason = ""

    @classmethod
    def for_current_trial(cls, metric: str) -> PruningCallback | None:
        """The callback for the job running now; None in a plain run (nothing to report to)."""
        ref = current_trial_ref()
        return cls(metric, ref) if ref is not None else None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Runs in the process that trains: a spawned DDP worker reaches the trial by its ref.
        if trainer.is_global_zero:
            self.trial = self.ref.trial()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "trial": None}  # a Trial holds its storage: not picklable

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch = trainer.current_epoch
        reason = ""
        if trainer.is_global_zero and self.trial is not None:
            reason = self._judge(trainer, epoch)
        reason = trainer.strategy.broadcast(reason, src=0)
        if reason and not self.reason:
            trainer.should_stop = True
            self.reason = reason
            if trainer.is_global_zero and self.trial is not None:
                # Spawned DDP workers are other processes: leave the verdict in the storage.
                self.trial.set_user_attr(STOPPED_REASON, reason)

    def _judge(self, trainer: L.Trainer, epoch: int) -> str:
        value = trainer.callback_metrics.get(self.metric)
        if value is None:
            return ""  # ObjectiveTracker reports a missing metric
        value = float(value)
        if not math.isfinite(value):
            return f"{NAN}{self.metric} is {value} at epoch {epoch}"
        self.trial.report(value, epoch)
        by_hand = pruned_by_hand(self.ref.trial())  # `hydratune steer ... prune N`
        if by_hand is not None:
            return by_hand
        if self.trial.should_prune():
            return f"pruned at epoch {epoch} ({self.metric}={value:.6g})"
        return ""

    def raise_if_pruned(self) -> None:
        reason = self.reason or self.ref.trial().user_attrs.get(STOPPED_REASON, "")
        if reason.startswith(NAN):
            raise NonFiniteMetricError(reason.removeprefix(NAN))
        if reason:
            raise optuna.TrialPruned(reason)
