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
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig

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


def resolve_path(path: str | Path) -> Path:
    """``path`` against the job's output dir (a sweep's trial dir), else the working dir."""
    base = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else os.getcwd()
    return Path(base, path)
