"""Where a trial's job runs: the contract every launcher implements.

A launcher turns (trial number, overrides) into a ``Future`` of the job's ``JobResult``, so the
sweep loop can keep several trials in flight and tell each one as soon as it ends. It gets the
job as a ``TrialJob`` and builds its config where the job runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from omegaconf import DictConfig

from hydratune.execute.job import JobResult
from hydratune.execute.trial_config import TrialConfigFactory, TrialJob


class Launcher:
    """Turns a trial into a running job: its ``TrialJob`` here, then ``start``s it."""

    #: ``submit`` returns once the job is handed to where it runs (a worker, Ray, a cluster),
    #: not when it ends: the loop can hold Ctrl-C back while it submits and records the job
    hands_over = True

    def __init__(self, configs: TrialConfigFactory) -> None:
        self._configs = configs

    def submit(
        self, number: int, overrides: list[str], env: dict[str, str] | None = None
    ) -> Future[JobResult]:
        future: Future[JobResult] = Future()
        try:
            job = self._configs.job(overrides, number, env)
        except Exception as error:  # the trial's config does not compose: the trial fails
            future.set_result(JobResult(error=error))
            return future
        self.start(job, future)
        return future

    @staticmethod
    def built(job: TrialJob, future: Future[JobResult]) -> DictConfig | None:
        """``job``'s config built here, or None with the trial failed on ``future`` when its
        overrides do not apply (a worker process builds its own: ``worker.run_in_worker``)."""
        try:
            return job.build(reuse_hydra=True)
        except Exception as error:
            future.set_result(JobResult(error=error))
            return None

    def start(self, job: TrialJob, future: Future[JobResult]) -> None:
        """Run ``job`` (its config built where it runs, a failure to build its result); set
        ``future``'s result when it ends."""
        raise NotImplementedError

    def submitted(self, number: int) -> dict[str, Any]:
        """What to record on trial ``number`` about where its job runs (a cluster job id)."""
        return {}

    def shutdown(self) -> None:
        """Release workers; called once the sweep's loop has ended."""

    @classmethod
    def settle_orphan(cls, number: int, recorded: Mapping[str, Any]) -> JobResult | None:
        """The end of trial ``number``'s job, run by a sweep that died, from what ``submitted``
        recorded on the trial: the job's own result if it wrote one, else a lost result once
        the job is cancelled. None for launchers whose jobs die with their sweep (the trial
        is then lost, and recovery retries it)."""
        return None


def describe(error: BaseException) -> str:
    """The first line of an error's text, or its type when it has none (``SystemExit()``)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
