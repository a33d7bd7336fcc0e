"""Cluster jobs whose sweep died: settle their trials before the next run starts any.

A sweep that submits trials as cluster jobs (submitit) records each job on its trial. When the
sweep process dies (``kill -9``, a lost login session), its jobs live on. The next run of the
same command finds the RUNNING trials whose owner is gone: a job that finished meanwhile has
its result told; one still queued or running is cancelled, and recovery then fails its trial
as lost and retries its parameters.
"""

from __future__ import annotations

import logging
import time

import optuna
from optuna.trial import TrialState

from hydratune import compat
from hydratune.attrs import JOB_CLUSTER, JOB_FOLDER, JOB_ID
from hydratune.execute.submitit_launcher import settle_job
from hydratune.sweep.loop import judge, tell
from hydratune.sweep.recovery import Recovery

log = logging.getLogger(__name__)


def settle_orphaned_jobs(study: optuna.Study, recovery: Recovery) -> list[int]:
    """Tell the results of jobs whose sweep is gone, cancel the unfinished ones; returns the
    numbers of the trials told."""
    told, now = [], time.time()
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        job_id = frozen.user_attrs.get(JOB_ID)
        if job_id is None or recovery.is_lost(frozen, now) is None:
            continue
        cluster = frozen.user_attrs.get(JOB_CLUSTER, "slurm")
        result = settle_job(frozen.user_attrs[JOB_FOLDER], job_id, cluster)
        number = frozen.number
        if result.lost:
            log.warning("trial #%d: cancelled %s job %s of a dead sweep", number, cluster, job_id)
            continue  # recovery fails the trial as lost (its owner is gone) and retries it
        outcome = judge(result, len(study.directions))
        tell(study, compat.trial_by_number(study, number), outcome)
        log.info("trial #%d: %s job %s had ended; its result is told", number, cluster, job_id)
        told.append(number)
    return told
