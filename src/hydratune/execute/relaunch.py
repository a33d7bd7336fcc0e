"""Processes a trial's task starts by running the app's command again: they run that trial.

Lightning's ``ddp`` strategy starts ranks 1..N-1 by running the command line of the process that
trains again, with ``LOCAL_RANK`` set. For a trial in the sweeper's own process that command is
the whole multirun: each rank would start a sweep of its own, and rank 0 would wait for ranks
that never come. So while a trial runs in the sweeper's process its job config is in the
environment (``HYDRATUNE_JOB``); a sweeper that starts with it set runs that one job instead of a
sweep, in the same trial dir, with HydraConfig, working dir and trial as rank 0 has them.
Worker processes (loky, Ray, submitit) are not started by the app's command, so they do not set
it; ``training/distributed.py`` refuses ``ddp`` there with the alternatives.
"""

from __future__ import annotations

import base64
import logging
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict, read_write

from hydratune.attrs import JOB_ENV
from hydratune.execute.job import run_trial_job
from hydratune.execute.trial_config import TrialJob

log = logging.getLogger(__name__)


@contextmanager
def job_in_environment(job: TrialJob, output_dir: str) -> Iterator[None]:
    """Expose the ``job`` to processes started while it runs, with its own dir ``output_dir``
    (since ``${now:...}`` in ``hydra.sweep.dir`` would resolve to another time in another
    process). The ``TrialJob``, not its config: a copy of its base's bytes and a few hundred
    more, where pickling the built config took ~2 ms a trial."""
    previous = os.environ.get(JOB_ENV)
    os.environ[JOB_ENV] = base64.b64encode(pickle.dumps((job, output_dir))).decode()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(JOB_ENV, None)
        else:
            os.environ[JOB_ENV] = previous


def relaunched_job() -> DictConfig | None:
    """The job this process was started to run again, or None for a sweep of its own."""
    text = os.environ.get(JOB_ENV)
    if not text:
        return None
    job, output_dir = pickle.loads(base64.b64decode(text))
    config = job.build()
    with read_write(config), open_dict(config):
        config.hydra.sweep.dir = output_dir
        config.hydra.sweep.subdir = "."
    return config


def run_relaunched_job(config: DictConfig, context: HydraContext, task: TaskFunction) -> None:
    """Run the job as one more process of its trial: its log in ``<job name>_rank<N>.log``, no
    ``.hydra`` files (rank 0 wrote them), and its result left to rank 0, which tells the trial.

    The task's outcome is logged, not raised: Lightning ends every rank when one exits
    non-zero, and rank 0 is the sweeper's process.
    """
    rank = os.environ.get("LOCAL_RANK", "1")
    with read_write(config), open_dict(config):
        config.hydra.job.name = f"{config.hydra.job.name}_rank{rank}"
        config.hydra.output_subdir = None
    result = run_trial_job(config, context, task)
    if result.error is not None:
        error = result.error
        name = type(error).__name__
        log.info("rank %s of trial #%s ended: %s: %s", rank, config.hydra.job.num, name, error)
