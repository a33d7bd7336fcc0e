"""The training task: one config in, the objective value(s) out.

``train(cfg)`` is what ``hydratune`` runs once and what the sweeper runs per trial. Everything is
built from the config with Hydra's ``instantiate`` (data, model, callbacks, loggers, trainer), so
swapping any of them is a config change. The objective is read by an :class:`ObjectiveTracker`
during ``fit``; a wrong metric name fails at the end of the first validation epoch.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import lightning as L
from hydra.errors import CompactHydraException, InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from omegaconf import DictConfig

import hydratune.training.resolvers  # noqa: F401  (registers ${hydratune.*} used by conf/callbacks)
from hydratune.training.checkpoints import (
    ConfiguredOptimizer,
    RandomState,
    check_save_target,
    save_checkpoint,
)
from hydratune.training.current_trial import current_trial_ref
from hydratune.training.distributed import RanksEndTogether, check_relaunch, distributed_fit
from hydratune.training.objective import ObjectiveSpec, ObjectiveTracker
from hydratune.training.pruning import PruningCallback

log = logging.getLogger(__name__)

# Optional packages a config group may need, and how to get them (hydratune installs from a
# clone: make setup has every extra).
_EXTRAS_HINT = {
    "tensorboard": "pip install -e '.[tensorboard]' in hydratune's clone",
    "mlflow": "pip install -e '.[mlflow]' in hydratune's clone",
}


class TargetImportError(CompactHydraException, ImportError):
    """A ``_target_`` that cannot be imported, with the reason Hydra keeps for
    ``HYDRA_FULL_ERROR=1`` (a moved path names its new one; a missing package how to get it)."""


def train(cfg: DictConfig, callbacks: list[L.Callback] | None = None) -> float | list[float]:
    """Fit the configured model on the configured data; return ``cfg.objective``'s value(s).

    ``callbacks`` are added to those in ``cfg.callbacks`` (the sweeper passes its pruning
    callback here). Returns a float, or a list of floats when ``cfg.objective.metric`` is a list.
    """
    spec = ObjectiveSpec.from_config(cfg.objective)  # a malformed objective fails before any work
    L.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate_node(cfg.data, "data")
    model = instantiate_node(
        cfg.model,
        "model",
        input_shape=list(datamodule.input_shape),
        num_classes=datamodule.num_classes,
        _convert_="all",
    )
    # The tracker goes first so a missing metric is reported by it, before EarlyStopping,
    # ModelCheckpoint or a pruning callback trip over the same name with a vaguer message.
    tracker = ObjectiveTracker(spec)
    all_callbacks = [tracker, *instantiate_group(cfg.get("callbacks"), "callbacks")]
    all_callbacks += callbacks or []
    # Under the hydratune sweeper each validation epoch reports to the trial, which may be
    # pruned; Optuna cannot prune multi-objective studies.
    ref = None if spec.multi else current_trial_ref()
    pruning = PruningCallback(spec.metrics[0], ref) if ref is not None else None
    if pruning is not None:
        all_callbacks.append(pruning)
    # A schedule's pause (ckpt_save) and continuation (ckpt_path): the random generators travel
    # with the checkpoint, so a continued run trains as an uninterrupted one would.
    resume_from, save_to = cfg.get("ckpt_path"), cfg.get("ckpt_save")
    if resume_from or save_to:
        all_callbacks += [RandomState(), ConfiguredOptimizer()]
    if save_to:
        check_save_target(save_to)
    all_callbacks.append(RanksEndTogether())  # last: its teardown ends a DDP fit's group
    loggers = instantiate_group(cfg.get("logger"), "logger")
    # _partial_: the callback and logger objects are passed to the constructor as they are,
    # not merged into the config (which would copy them).
    make_trainer = instantiate(cfg.trainer, _partial_=True, _convert_="all")
    flags = _callback_flags(cfg.trainer, all_callbacks)

    with warnings.catch_warnings():
        # num_workers=0 is deliberate: the data is in memory, worker processes only cost start-up.
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        # torch 2.13 deprecates a class Lightning 2.6 still uses internally; nothing to act on here.
        warnings.filterwarnings("ignore", ".*LeafSpec.*", FutureWarning)
        # Lightning's hint to prefix `srun` on a machine with Slurm: trials reach Slurm through
        # hydra/launcher=submitit_slurm instead (twice per trial on a login node otherwise).
        warnings.filterwarnings("ignore", ".*`srun` command is available on your system.*")
        trainer: L.Trainer = make_trainer(callbacks=all_callbacks, logger=loggers or False, **flags)
        check_relaunch(trainer)
        try:
            with distributed_fit():
                trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from)
        finally:  # a pruned or failed spawned run's record too: its file is the tracker's own
            tracker.collect()
        if save_to:
            save_checkpoint(trainer, save_to)

    if pruning is not None:
        pruning.raise_if_pruned()
    result = tracker.result()
    if trainer.is_global_zero:  # DDP's other ranks train the same trial: one line for it
        log.info(tracker.summary())
    return result


def _callback_flags(trainer_cfg: Mapping[str, Any], callbacks: list[L.Callback]) -> dict[str, bool]:
    """Let the callbacks group decide checkpointing and the progress bar.

    Lightning adds a ModelCheckpoint (a file write every epoch) and a TQDM bar (a line per refresh
    in a log file) when none is given; with ``callbacks=none``, as sweeps use, neither should
    appear. A flag set in the trainer config wins.
    """
    present = {
        "enable_checkpointing": any(isinstance(c, ModelCheckpoint) for c in callbacks),
        "enable_progress_bar": any(isinstance(c, ProgressBar) for c in callbacks),
    }
    return {flag: value for flag, value in present.items() if flag not in trainer_cfg}


def instantiate_group(group: Mapping[str, Any] | None, key: str) -> list[Any]:
    """Instantiate each ``_target_`` node of a name -> node mapping, skipping null entries
    (and nodes whose factory returns None: an MLflow logger with nothing to log into).

    ``key`` is the config key (``callbacks``, ``logger``) used in error messages.
    """
    objects = []
    for name, node in (group or {}).items():
        if node is not None and (made := instantiate_node(node, f"{key}.{name}")) is not None:
            objects.append(made)
    return objects


def instantiate_node(node: Any, key: str, **kwargs: Any) -> Any:
    """Hydra's ``instantiate``; a ``_target_`` that cannot be imported raises
    :class:`TargetImportError` naming ``key`` and the reason."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        reason = _import_failure(error)
        if reason is None:
            raise
        hint = _EXTRAS_HINT.get(key.rpartition(".")[2])
        if isinstance(reason, ModuleNotFoundError) or hint:
            raise TargetImportError(
                f"{key} needs a package that is not installed; "
                f"{hint or 'install the package named here'} ({str(reason).splitlines()[0]})"
            ) from error
        raise TargetImportError(f"{key}._target_: {str(reason).splitlines()[0]}") from error


def _import_failure(error: BaseException) -> ImportError | None:
    """The innermost ImportError behind an instantiation error, if one caused it."""
    found = None
    cause = error.__cause__ or error.__context__
    while cause is not None:
        if isinstance(cause, ImportError):
            found = cause
        cause = cause.__cause__ or cause.__context__
    return found
