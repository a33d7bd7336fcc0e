"""Lightning's private APIs: how a strategy starts its other ranks, what a checkpoint holds."""

from __future__ import annotations

from typing import Any


def relaunches_command(trainer: Any) -> bool:
    """Whether ``trainer.fit`` starts its other ranks by running this process's command line
    again (Lightning's ``ddp``: the private ``_SubprocessScriptLauncher``), rather than by
    spawning (``ddp_spawn``) or finding them started already (Slurm tasks, torchrun)."""
    from lightning.pytorch.strategies.launchers.subprocess_script import (
        _SubprocessScriptLauncher,
    )

    launcher = trainer.strategy.launcher
    return isinstance(launcher, _SubprocessScriptLauncher) and not (
        launcher.cluster_environment.creates_processes_externally
    )


def checkpoint_epochs(path: Any) -> int | None:
    """How many epochs the Lightning checkpoint at ``path`` has trained: what a run continued
    from it starts after (its fit loop's processed epochs: a checkpoint of ``ModelCheckpoint``
    at an epoch's validation end and one saved after ``fit`` agree). None where the file is no
    Lightning checkpoint this can read. Its tensors are mapped, not read."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
        return int(checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except Exception:  # not a torch archive, another Lightning's layout: nothing to tell
        return None
