"""Multi-process fits in a process that trains again: DDP whose ranks Lightning starts itself.

With ``trainer.strategy=ddp`` the process that calls ``fit`` becomes rank 0: Lightning sets
``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in its
environment, starts ranks 1..N-1 by running its command line again, and joins them in a
``torch.distributed`` process group. Both the variables and the group outlive ``fit`` (Lightning
destroys the group at exit), so the next trial in that process would see ``LOCAL_RANK``, start
no ranks and join a group whose other members are gone. :func:`distributed_fit` puts the process
back as it was after each fit.

Under a sweep, running the command again runs the trial only where the command is the app's
(the sweeper's own process, which sets ``HYDRATUNE_JOB``: ``execute/relaunch.py``);
:func:`check_relaunch` refuses ``ddp`` elsewhere, naming what works there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L
import torch.distributed as dist

from hydratune import compat
from hydratune.attrs import JOB_ENV
from hydratune.errors import FatalTrialError
from hydratune.training.current_trial import current_trial_ref

# What Lightning's DDP launcher sets in the environment of the process that calls fit.
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


class RelaunchError(FatalTrialError):
    """``ddp`` in a trial whose process was not started by the app's command."""


def check_relaunch(trainer: L.Trainer) -> None:
    """Refuse, before any epoch, a ``ddp`` fit that would start its ranks with a command that
    is not the app's (a worker process of ``n_jobs > 1``, Ray or submitit)."""
    if JOB_ENV in os.environ or current_trial_ref() is None:
        return  # the app's own process, or a plain run: Lightning re-runs the app
    if compat.relaunches_command(trainer):
        raise RelaunchError(
            "trainer.strategy=ddp starts its other ranks by running this process's command "
            "again, and this trial runs in a worker process (hydra.sweeper.n_jobs > 1, Ray or "
            "submitit), not in the command you typed. Use +trainer.strategy=ddp_spawn; or "
            "hydra.sweeper.n_jobs=1 (trials in the sweeper's process); on Slurm, "
            "hydra.launcher.tasks_per_node equal to trainer.devices (Slurm starts the ranks)"
        )


@contextmanager
def distributed_fit() -> Iterator[None]:
    """Undo what a DDP fit leaves in this process: its process group and DDP variables."""
    had_group = dist.is_available() and dist.is_initialized()
    environment = {name: os.environ.get(name) for name in DDP_ENV}
    try:
        yield
    finally:
        if not had_group and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
