"""Cluster jobs whose sweep died: settle their trials before the next run starts any.

A sweep that submits trials as cluster jobs (submitit) records each job on its trial. When the
sweep process dies (``kill -9``, a lost login session), its jobs live on. The next run of the
same command finds the RUNNING trials whose owner is gone: a job that finished meanwhile has
its result told; one still queued or running is cancelled, and recovery then fails its trial
as lost and retries its parameters.
"""

from __future__ import annotations

import time

import optuna
from optuna.trial import TrialState

from hydratune import compat
from hydratune.execute import settle_orphaned_job
from hydratune.sweep.loop import judge, tell
from hydratune.sweep.recovery import Recovery


def settle_orphaned_jobs(study: optuna.Study, recovery: Recovery) -> list[int]:
    """Tell the results of jobs whose sweep is gone, cancel the unfinished ones (each
    launcher's ``settle_orphan``); returns the numbers of the trials told."""
    told, now = [], time.time()
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if recovery.is_lost(frozen, now) is None:
            continue
        result = settle_orphaned_job(frozen.number, frozen.user_attrs)
        if result is None or result.lost:
            continue  # recovery fails the trial as lost (its owner is gone) and retries it
        tell(
            study,
            compat.trial_by_number(study, frozen.number),
            judge(result, len(study.directions)),
        )
        told.append(frozen.number)
    return told
