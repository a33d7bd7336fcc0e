"""How a trial's job runs: Hydra's ``run_job`` on a config from ``TrialConfigFactory``.

A launcher turns (trial number, overrides) into a ``Future`` of the job's ``JobResult``, so the
sweep loop can keep several trials in flight and tell each one as soon as it ends.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from hydra.core.utils import JobStatus, run_job
from hydra.types import HydraContext, TaskFunction

from hydratune.trial_config import TrialConfigFactory

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    """What a job gave back: its return value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None
    output_dir: str | None = None


class Launcher(Protocol):
    def submit(self, number: int, overrides: list[str]) -> Future[JobResult]: ...

    def shutdown(self) -> None: ...


class InProcessLauncher:
    """Runs each job in the sweeper's own process, one at a time.

    Hydra's job runner sets process-global state (working dir, logging, ``HydraConfig``), so
    jobs in one process cannot overlap; parallel trials need worker processes.
    """

    def __init__(
        self,
        configs: TrialConfigFactory,
        hydra_context: HydraContext,
        task_function: TaskFunction,
    ) -> None:
        self._configs = configs
        self._context = hydra_context
        self._task = task_function

    def submit(self, number: int, overrides: list[str]) -> Future[JobResult]:
        future: Future[JobResult] = Future()
        try:
            config = self._configs.make(overrides, number)
            ret = run_job(
                hydra_context=self._context,
                task_function=self._task,
                config=config,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
            output_dir = config.hydra.runtime.output_dir
            if ret.status == JobStatus.COMPLETED:
                future.set_result(JobResult(value=ret.return_value, output_dir=output_dir))
            else:
                future.set_result(JobResult(error=ret._return_value, output_dir=output_dir))
        except Exception as error:  # composing the job's config failed: the trial fails
            future.set_result(JobResult(error=error))
        return future

    def shutdown(self) -> None:
        pass
