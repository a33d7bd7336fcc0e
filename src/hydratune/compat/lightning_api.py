"""Lightning's private APIs: how a strategy starts its other ranks."""

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
