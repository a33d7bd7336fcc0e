"""Pruning from inside Lightning: report the objective every validation epoch, stop when told.

The training task adds ``PruningCallback`` when it runs under the hydratune sweeper, so a
user's LightningModule needs no change. An app of one's own adds it from config
(``_target_: hydratune.PruningCallback.for_current_trial``); outside a sweep that gives a
callback that does nothing, so the same config (and a sweep's ``best_config.yaml``) still runs.
Under DDP, rank 0 reports and decides, and the decision is broadcast so every rank stops at
the same epoch; the trial is then marked pruned once, by the process that called ``fit``.

Lightning does not stop before ``trainer.min_epochs``: a trial the pruner stopped that trained
on to its last epoch anyway is recorded as it ran, complete, with a ``prune_overruled`` note.

A run that continues another's checkpoint with other values (a PBT exploit) is stopped before
its first step if its optimizer kept the checkpoint's instead (Lightning restores the param
groups; ``ConfiguredOptimizer`` applies the run's own): the study would record values the run
never trained with.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import lightning as L
import optuna

from hydratune import job_verdict
from hydratune.attrs import NON_FINITE, PRUNE_OVERRULED, RESUMED_FROM, STOPPED_REASON
from hydratune.errors import ScheduleError
from hydratune.training.checkpoints import ConfiguredOptimizer, unapplied
from hydratune.training.current_trial import TrialRef, current_trial_ref, pruned_by_hand

log = logging.getLogger(__name__)

NAN = NON_FINITE


class NonFiniteMetricError(ValueError):
    """The objective metric became NaN or infinite; the trial fails with this reason."""


class PruningCallback(L.Callback):
    """Report ``metric`` to the running Optuna trial after each validation epoch (step = epoch).

    After ``fit`` returns, call ``raise_if_pruned()``: it raises ``optuna.TrialPruned`` if the
    pruner stopped this trial, or ``NonFiniteMetricError`` if the metric went NaN/inf. With
    ``ref=None`` (no trial: a plain run) it does nothing.
    """

    def __init__(self, metric: str, ref: TrialRef | None) -> None:
        self.metric = metric
        self.ref = ref
        self.trial: optuna.Trial | None = None
        self.reason = ""  # the verdict, once training has ended (or a NaN, at once)
        self.asked = ""  # the pruner's stop request, until we know whether Lightning obeyed
        self.asked_epoch = self.last_epoch = -1
        self.checked_continuation = False
        # the job's result carries the verdict once this callback trains in the job's process
        self.verdict = job_verdict.current() if ref is not None else None
        self.trains_here = False
        if self.verdict is not None:
            self.verdict.awaited += 1

    @classmethod
    def for_current_trial(cls, metric: str) -> PruningCallback:
        """The callback for the job running now; in a plain run (no trial to report to) one
        that does nothing, so a config that lists it also runs outside a sweep."""
        ref = current_trial_ref()
        if ref is None:
            log.info("PruningCallback(%s): not in a hydratune sweep, nothing to prune", metric)
        return cls(metric, ref)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Runs in the process that trains: a spawned DDP worker reaches the trial by its ref.
        if trainer.is_global_zero and self.ref is not None:
            self.trial = self.ref.trial()
            if self.verdict is not None and not self.trains_here:  # a spawned rank: a copy
                self.trains_here = True
                self.verdict.awaited -= 1

    def __getstate__(self) -> dict:
        return {**self.__dict__, "trial": None}  # a Trial holds its storage: not picklable

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # after every callback's on_train_start: ConfiguredOptimizer's, where the app has it
        if self.checked_continuation or self.ref is None or not trainer.ckpt_path:
            return
        self.checked_continuation = True
        if any(isinstance(c, ConfiguredOptimizer) for c in trainer.callbacks):
            return
        stale = ""
        if trainer.is_global_zero and self.trial is not None:
            stale = self._stale_values(trainer, pl_module)
        stale = trainer.strategy.broadcast(stale, src=0)
        if stale:
            raise ScheduleError(stale)

    def _stale_values(self, trainer: L.Trainer, pl_module: L.LightningModule) -> str:
        """Why this continuation would train with its source's values, not its own; ""."""
        resumed = self.trial.user_attrs.get(RESUMED_FROM)
        if not resumed or int(resumed["trial"]) == self.trial.number:
            return ""
        source = replace(self.ref, number=int(resumed["trial"])).trial().params
        changed = {k: (source[k], v) for k, v in self.trial.params.items() if source.get(k, v) != v}
        found = unapplied(trainer, pl_module, changed) if changed else []
        if not found:
            return ""
        return (
            f"trial #{self.trial.number} continues trial #{resumed['trial']}'s checkpoint with "
            f"{', '.join(found)}: Lightning restored the checkpoint's optimizer values, so it "
            "would train with those while the study records its own; add the callback "
            "hydratune.training.checkpoints.ConfiguredOptimizer (e.g. "
            "+callbacks.opt._target_=hydratune.training.checkpoints.ConfiguredOptimizer)"
        )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.ref is None:
            return
        epoch = self.last_epoch = trainer.current_epoch
        reason = ""
        if trainer.is_global_zero and self.trial is not None:
            reason = self._judge(trainer, epoch)
        reason = trainer.strategy.broadcast(reason, src=0)
        if not reason or self.asked or self.reason:
            return
        trainer.should_stop = True
        if reason.startswith(NAN):  # a NaN fails the trial however long it trains on
            self._record(trainer, reason)
        else:
            self.asked, self.asked_epoch = reason, epoch

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Pruned unless Lightning trained on after the stop (to ``min_epochs``) and reached its
        last epoch anyway: then the trial is complete."""
        if not self.asked or self.reason:
            return
        if self.last_epoch > self.asked_epoch and _trained_to_the_end(trainer):
            if trainer.is_global_zero and self.trial is not None:
                note = (
                    f"{self.asked}, but the Trainer trained on to its last epoch "
                    f"(trainer.min_epochs={trainer.min_epochs}): not pruned"
                )
                self._leave(PRUNE_OVERRULED, note)
        else:
            self._record(trainer, self.asked)
        self.asked = ""

    def _record(self, trainer: L.Trainer, reason: str) -> None:
        self.reason = reason
        if trainer.is_global_zero and self.trial is not None:
            self._leave(STOPPED_REASON, reason)

    def _leave(self, key: str, value: str) -> None:
        """Leave the verdict on the trial in the study (a spawned DDP rank is another process)
        and in the job's result."""
        self.trial.set_user_attr(key, value)
        if self.verdict is not None:
            self.verdict.attrs[key] = value

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
        if self.ref is None:
            return
        reason = self.reason or self.ref.trial().user_attrs.get(STOPPED_REASON, "")
        if reason.startswith(NAN):
            raise NonFiniteMetricError(reason.removeprefix(NAN))
        if reason:
            raise optuna.TrialPruned(reason)


def _trained_to_the_end(trainer: L.Trainer) -> bool:
    """Whether ``fit`` ran every epoch (or step) it was given, stop request or not."""
    epochs, steps = trainer.max_epochs, trainer.max_steps
    if epochs is not None and epochs >= 0 and trainer.current_epoch >= epochs:
        return True
    return steps is not None and steps >= 0 and trainer.global_step >= steps
