"""Multi-process fits in a process that trains again: DDP whose ranks Lightning starts itself.

With ``trainer.strategy=ddp`` the process that calls ``fit`` becomes rank 0: Lightning sets
``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in its
environment, starts ranks 1..N-1 by running its command line again, and joins them in a
``torch.distributed`` process group. Both the variables and the group outlive ``fit`` (Lightning
destroys the group at exit), so the next trial in that process would see ``LOCAL_RANK``, start
no ranks and join a group whose other members are gone. :func:`distributed_fit` puts the process
back as it was after each fit.

Nor does Lightning end a gloo group when a rank's ``fit`` returns (it destroys only NCCL groups, at
exit): rank 0, the host of the group's TCPStore, could leave its last broadcast, exit and close
its sockets while rank 1 was still in its own teardown, and rank 1 then finalized with gloo's
threads running. :class:`RanksEndTogether` makes every rank wait for the others at the end of a
fit and then leave the group, so no rank's exit overlaps another's use of it.

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


class RanksEndTogether(L.Callback):
    """At the end of a fit, every rank waits for the others, then leaves the process group.

    Made before ``fit`` in the process that calls it: a group that was there already (started
    by a script around the trial) is not the fit's to end. Added last by the training task, so
    its teardown runs after every other callback's; a single-process fit has nothing to do.
    """

    def __init__(self) -> None:
        self.group_predates_fit = _group_exists()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.group_predates_fit or not _group_exists():
            return
        trainer.strategy.barrier("hydratune: ranks end together")
        dist.destroy_process_group()


@contextmanager
def distributed_fit() -> Iterator[None]:
    """Undo what a DDP fit leaves in this process: its DDP variables, and its process group
    when the fit raised before :class:`RanksEndTogether` ended it."""
    had_group = _group_exists()
    environment = {name: os.environ.get(name) for name in DDP_ENV}
    try:
        yield
    finally:
        if not had_group and _group_exists():
            dist.destroy_process_group()
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _group_exists() -> bool:
    return dist.is_available() and dist.is_initialized()
