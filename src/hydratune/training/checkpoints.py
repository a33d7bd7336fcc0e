"""Pause and continue a training run with a full Lightning checkpoint, exactly.

A checkpointed schedule (``hydra/sweeper/scheduler=asha``) stops a trial at a rung by giving it
``trainer.max_epochs=<rung>`` and ``ckpt_save=<path>``, and continues it later with
``ckpt_path=<path>`` and a larger ``max_epochs``. The task only saves and loads where it is
told; the schedule decides when. Lightning's checkpoint holds the weights, optimizers,
schedulers and loop state but not the random generators, so a continued run would shuffle and
drop out differently from an uninterrupted one: :class:`RandomState` stores them too, which
makes a continued run's per-epoch metrics equal the uninterrupted run's (same seed, CPU).
"""

from __future__ import annotations

import os
import random
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig

from hydratune.errors import ConfigError

# The checkpoint key under which RandomState keeps the generators (an on-disk format).
RANDOM_STATE_KEY = "hydratune_random_state"


class RandomState(L.Callback):
    """Save Python's, NumPy's and torch's random generators with a checkpoint; restore them
    when a run continues from it, so the next epoch draws what it would have drawn."""

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[RANDOM_STATE_KEY] = {
            "python": random.getstate(),
            # plain values: Lightning loads checkpoints with torch.load(weights_only=True)
            "numpy": _plain_numpy_state(),
            "torch": torch.get_rng_state(),
        }

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        state = checkpoint.get(RANDOM_STATE_KEY)
        if state is None:  # written without this callback: continue with this run's seed
            return
        random.setstate(state["python"])
        name, keys, position, has_gauss, gauss = state["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
        torch.set_rng_state(state["torch"])


class ConfiguredOptimizer(L.Callback):
    """After a run continues from a checkpoint, its optimizers take this run's configured
    hyperparameters (lr, weight decay, momentum...): Lightning restores the checkpoint's
    param groups, the source run's values, with the optimizer state, so a PBT exploit's
    explored values would never apply. A scheduled lr keeps its progress, scaled to the new
    initial lr. Unchanged values stay as restored, so a plain continuation trains as before."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.ckpt_path:
            return
        for group, new_group in _restored_and_configured(trainer, pl_module):
            for key, value in new_group.items():
                if key in ("params", "initial_lr"):
                    continue
                if key == "lr" and "initial_lr" in group:
                    value = new_group.get("initial_lr", value)
                    if value != group["initial_lr"]:
                        group["lr"] *= value / group["initial_lr"]
                        group["initial_lr"] = value
                else:
                    group[key] = value
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if hasattr(scheduler, "base_lrs"):
                groups = scheduler.optimizer.param_groups
                scheduler.base_lrs = [g.get("initial_lr", g["lr"]) for g in groups]


def unapplied(
    trainer: L.Trainer, pl_module: L.LightningModule, changed: dict[str, tuple[Any, Any]]
) -> list[str]:
    """The values of ``changed`` (``{key: (source's value, this run's)}``) that this run's
    configured optimizer takes but the optimizer restored from the checkpoint does not: it
    trains with the source's. Only exact matches count (an optimizer hyperparameter set from
    the key as it is), so a value the app derives, or a scheduler moved, is never misread."""
    found = []
    for group, new_group in _restored_and_configured(trainer, pl_module):
        for option, value in new_group.items():
            for key, (old, new) in changed.items():
                if option != "params" and value == new and group.get(option) == old:
                    found.append(f"{key}={new} (its optimizer's {option} is {old})")
    return list(dict.fromkeys(found))


def _restored_and_configured(
    trainer: L.Trainer, pl_module: L.LightningModule
) -> list[tuple[dict, dict]]:
    """Each param group the trainer restored, with the same group as this run's
    ``configure_optimizers`` makes it."""
    fresh = _optimizers(pl_module.configure_optimizers())
    return [
        (group, new_group)
        for restored, new in zip(trainer.optimizers, fresh, strict=False)
        for group, new_group in zip(restored.param_groups, new.param_groups, strict=False)
    ]


def _optimizers(configured: Any) -> list[torch.optim.Optimizer]:
    """The optimizers in what ``configure_optimizers`` may return (one, a dict, lists)."""
    if isinstance(configured, torch.optim.Optimizer):
        return [configured]
    if isinstance(configured, dict):
        return _optimizers(configured.get("optimizer"))
    if isinstance(configured, (list, tuple)):
        if len(configured) == 2 and isinstance(configured[0], (list, tuple)):
            return _optimizers(list(configured[0]))
        return [o for item in configured for o in _optimizers(item)]
    return []


def _plain_numpy_state() -> tuple[str, list[int], int, int, float]:
    name, keys, position, has_gauss, gauss = np.random.get_state()
    return str(name), [int(k) for k in keys], int(position), int(has_gauss), float(gauss)


def save_checkpoint(trainer: L.Trainer, path: str | Path) -> Path:
    """Write a full checkpoint of ``trainer`` to ``path`` (relative: to the job's output dir),
    whole or not at all: a run killed meanwhile leaves no file a schedule could mistake for a
    checkpoint. Call it on every rank (Lightning saves on rank 0). Returns the path."""
    target = resolve_path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if trainer.is_global_zero:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        trainer.save_checkpoint(temporary)
        if trainer.is_global_zero:
            os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def check_save_target(path: str | Path) -> None:
    """Before training: ``ckpt_save`` replaces only a checkpoint (a torch archive), never a
    file of the user's that happens to sit at the path."""
    target = resolve_path(path)
    if target.exists() and not _is_torch_archive(target):
        raise ConfigError(
            f"ckpt_save={path}: {target} exists and is not a checkpoint; it is left as it is "
            "(name a new file, or a checkpoint to replace)"
        )


def _is_torch_archive(path: Path) -> bool:
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/data.pkl") for name in archive.namelist())


def resolve_path(path: str | Path) -> Path:
    """``path`` against the job's output dir (a sweep's trial dir), else the working dir."""
    base = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else os.getcwd()
    return Path(base, path)
