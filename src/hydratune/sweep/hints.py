"""Warnings about a sweep that runs but cannot do what its config asks.

A sweep whose study already has its trials says so; loudly when its sweep dir is new each run.
A pruner needs intermediate values: hydratune's training task reports them, an app of one's
own (a LightningModule in another project) reports nothing unless it adds the callback, and
then every trial runs to the end while the config says ``pruner: median``. A pruner also
saves nothing when Lightning's ``trainer.min_epochs`` reaches ``max_epochs``: Lightning trains
on past a stop request until ``min_epochs``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

log = logging.getLogger(__name__)

# Where apps name the metric they return: hydratune's own config, then lightning-hydra-template's
# convention (its hparams_search configs set it).
METRIC_KEYS = ("objective.metric", "optimized_metric")
UNKNOWN_METRIC = "<the metric the sweep optimises>"


EARLIER_RUNS = " (by earlier runs, in their own sweep dirs)"
# Said when a timestamped sweep dir meets a study that earlier runs filled.
NEW_STUDY_HINT = (
    ". The study is kept by name across runs, though hydra.sweep.dir is new each run; for a "
    "new search set hydra.sweeper.study_name=<a new name> (or hydra.sweeper.storage=memory)"
)


def say_nothing_to_run(
    study_name: str,
    where: str | None,
    finished: int,
    n_trials: int,
    new_dir_each_run: bool,
    written: Sequence[str] = (),
) -> None:
    """The study already has its trials: say so, loudly for an app whose sweep dir is new each
    run (timestamped), which may expect a new search, with how to start one. ``written``: the
    result files written again, as the study now says (none: they were up to date)."""
    say = log.warning if new_dir_each_run else log.info
    say(
        "nothing to run: study '%s' in %s already has %d of n_trials=%d trials finished; a new "
        "hydra.sweeper.n_trials on the command line (or `hydratune steer <sweep dir> n_trials "
        "N`) runs more (%s)%s",
        study_name,
        where,
        finished,
        n_trials,
        f"written again, as the study now says: {', '.join(written)}"
        if written
        else "its result files were up to date",
        NEW_STUDY_HINT if new_dir_each_run else "",
    )


def say_ran_out(finished: int, n_trials: int | None, why: str) -> None:
    """The sweep ended short of ``n_trials`` because nothing was left to run: say why (a larger
    n_trials would run nothing more)."""
    log.info("no trial left to run after %d of n_trials=%s trials: %s", finished, n_trials, why)


def callback_line(metric: str | None) -> str:
    """The command-line overrides that add hydratune's pruning callback to an app's callbacks."""
    return (
        "+callbacks.prune._target_=hydratune.PruningCallback.for_current_trial "
        f"+callbacks.prune.metric={metric or UNKNOWN_METRIC}"
    )


def sweep_metric(config: DictConfig) -> str | None:
    """The (single) metric the app says it optimises, when its config names one."""
    for key in METRIC_KEYS:
        metric = OmegaConf.select(config, key, default=None)
        if isinstance(metric, str) and metric:
            return metric
    return None


class PrunerIdleHint:
    """Warn once, as soon as a trial completes without reporting an intermediate value while
    the study has a pruner (the pruner has nothing to judge), with the line to add."""

    def __init__(self, study: optuna.Study, metric: str | None) -> None:
        self.study, self.metric = study, metric
        self.settled = isinstance(study.pruner, optuna.pruners.NopPruner)

    def told(self, number: int) -> None:
        if self.settled:
            return
        trial = next((t for t in self.study.get_trials(deepcopy=False) if t.number == number), None)
        if trial is None or (trial.state != TrialState.COMPLETE and not trial.intermediate_values):
            return  # a failed trial may have failed before its first report: no verdict yet
        self.settled = True
        if trial.intermediate_values:
            return
        log.warning(
            "hydra.sweeper.pruner is %s but trial #%d reported no intermediate value, so the "
            "pruner cannot stop bad trials. In a Lightning app, add the pruning callback "
            "(command line, or the same keys in your callbacks config):\n  %s\nor call "
            "hydratune.report(value, epoch) and hydratune.should_prune() in your own loop.",
            type(self.study.pruner).__name__,
            number,
            callback_line(self.metric),
        )


def warn_if_min_epochs_defeat_pruner(pruner: optuna.pruners.BasePruner, config: DictConfig) -> bool:
    """Warn before the first trial when ``trainer.min_epochs`` makes every trial train to its
    last epoch whatever the pruner says (lightning-hydra-template's ``experiment=example``)."""
    if isinstance(pruner, optuna.pruners.NopPruner):
        return False
    low = OmegaConf.select(config, "trainer.min_epochs", default=None)
    high = OmegaConf.select(config, "trainer.max_epochs", default=None)
    if not (isinstance(low, int) and isinstance(high, int) and 0 < high <= low):
        return False
    log.warning(
        "trainer.min_epochs=%d is not below trainer.max_epochs=%d: Lightning trains every trial "
        "to its last epoch though %s asks it to stop, so nothing is pruned (such trials are "
        "recorded complete, with a prune_overruled note). For pruning, lower it: "
        "trainer.min_epochs=1",
        low,
        high,
        type(pruner).__name__,
    )
    return True
