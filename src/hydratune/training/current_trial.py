"""Report intermediate values of the running trial, from any process, and ask to prune.

A job finds its trial through the study storage: the sweeper hands every job the study name,
the storage setting and the trial number (``hydra.job.num``) in its Hydra config, and the
resolved pruner options, so the pruner decides in the job exactly as it would in the sweeper.
Trials that run in the sweeper's own process use the sweeper's live study instead (no storage
round trip; in-memory storages work there too).

Example, in any task function run by ``hydra/sweeper: hydratune``::

    for epoch in range(epochs):
        loss = train_one_epoch()
        hydratune.report(loss, step=epoch)
        if hydratune.should_prune():
            raise optuna.TrialPruned()
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from hydratune import compat
from hydratune.attrs import PRUNE_REQUESTED
from hydratune.optuna_classes import build_pruner
from hydratune.storage import mask_url, open_storage, setting_of, storage_url

_LIVE: dict[tuple[str, str], optuna.Study] = {}


def study_key(url: str, study_name: str) -> tuple[str, str]:
    # masked: a job's config holds the URL without its password (sweep/sweeper.py)
    return (mask_url(url) or url, study_name)


def register_live_study(url: str, study: optuna.Study) -> None:
    """Let jobs in this process reach ``study`` without reopening its storage."""
    _LIVE[study_key(url, study.study_name)] = study


def unregister_live_study(url: str, study: optuna.Study) -> None:
    _LIVE.pop(study_key(url, study.study_name), None)


@functools.cache
def _opened_study(url: str, study_name: str, pruner_yaml: str | None) -> optuna.Study:
    # Cached per process: worker processes reuse one storage connection across trials.
    pruner = build_pruner(OmegaConf.create(pruner_yaml) if pruner_yaml else None)
    with setting_of("hydra.sweeper.storage"):
        storage = open_storage(url)
    return optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)


@dataclass(frozen=True)
class TrialRef:
    """Where a trial lives: enough to reach it from any process (picklable, unlike a Trial)."""

    url: str
    study_name: str
    number: int
    pruner_yaml: str | None = None

    def trial(self) -> optuna.Trial:
        study = _LIVE.get(study_key(self.url, self.study_name))
        if study is None:
            study = _opened_study(self.url, self.study_name, self.pruner_yaml)
        return compat.trial_by_number(study, self.number)


def current_trial_ref() -> TrialRef | None:
    """The running job's trial, from its Hydra config; None outside a hydratune sweep."""
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    sweeper = hydra.sweeper
    if hydra.mode != RunMode.MULTIRUN or not sweeper.get("study_name"):
        return None
    pruner = sweeper.get("pruner")
    return TrialRef(
        url=storage_url(sweeper.storage, hydra.runtime.cwd),
        study_name=sweeper.study_name,
        number=int(hydra.job.num),
        pruner_yaml=OmegaConf.to_yaml(pruner) if pruner else None,
    )


def current_trial() -> optuna.Trial | None:
    """The Optuna trial of the job running now, or None outside a hydratune sweep."""
    ref = current_trial_ref()
    return ref.trial() if ref is not None else None


def report(value: float, step: int) -> None:
    """Report ``value`` at ``step`` (an epoch) to the running trial; a no-op outside a sweep."""
    trial = current_trial()
    if trial is not None:
        trial.report(float(value), step)


def should_prune() -> bool:
    """Whether the sweep's pruner, or a person (``hydratune steer ... prune N``), wants the
    running trial stopped; False outside a sweep."""
    trial = current_trial()
    return trial is not None and (pruned_by_hand(trial) is not None or trial.should_prune())


def pruned_by_hand(trial: optuna.Trial) -> str | None:
    """Why a person asked to stop ``trial`` (give a fresh handle: it reads the storage as the
    handle was made), or None. The request stays on the trial as ``prune_requested``."""
    return trial.user_attrs.get(PRUNE_REQUESTED)
