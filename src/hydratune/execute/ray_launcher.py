"""Trials as Ray tasks (``hydra/launcher=hydratune_ray``): a local Ray or an existing cluster.

hydra-ray-launcher runs a sweep's jobs in synchronous batches; here each trial is one Ray task
submitted as soon as a slot is free, so the sweep loop stays asynchronous. Ray reuses its
worker processes, so torch and Lightning are imported once per worker, and a task that lands
on a worker for the first time sets up Hydra's state there from the sweep's own.

Jobs find their trial through the study storage, so use a storage every Ray node can reach
(a PostgreSQL URL on a cluster; the default journal file works for a local instance). Its
config is registered by ``hydra_plugins/hydratune_ray_launcher``.
"""

from __future__ import annotations

import hashlib
import pickle
import socket
from concurrent.futures import Future
from typing import Any

from hydra.core.singleton import Singleton
from hydra.types import HydraContext, TaskFunction
from omegaconf import OmegaConf

from hydratune.errors import ConfigError
from hydratune.execute.job import JobResult
from hydratune.execute.launcher import Launcher, describe
from hydratune.execute.trial_config import TrialConfigFactory, TrialJob
from hydratune.execute.worker import init_worker, run_in_worker

_WORKER_STATE: str | None = None  # digest of the sweep state this Ray worker was set up with


def _run_trial(state: bytes, job: bytes, threads: int) -> JobResult:
    global _WORKER_STATE
    digest = hashlib.sha1(state).hexdigest()
    if digest != _WORKER_STATE:
        init_worker(state, threads)
        _WORKER_STATE = digest
    return run_in_worker(job)


class RayLauncher(Launcher):
    """Runs each job as a Ray task; up to ``n_slots`` at once (the sweep loop keeps it so)."""

    def __init__(
        self,
        configs: TrialConfigFactory,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        settings: Any,
    ) -> None:
        import cloudpickle
        import ray

        super().__init__(configs)
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            init = OmegaConf.to_container(settings.init, resolve=True) if settings.init else {}
            _check_answers(settings.address)
            try:
                ray.init(address=settings.address, log_to_driver=False, **init)
            except ConnectionError as error:  # `auto` with no cluster on this machine
                raise _unreachable(settings.address, describe(error).split(". ")[0]) from None
        state = cloudpickle.dumps((hydra_context, task_function, Singleton.get_state()))
        self._state = ray.put(state)
        self._threads = max(1, int(settings.num_cpus_per_trial))
        self._remote = ray.remote(
            num_cpus=settings.num_cpus_per_trial,
            num_gpus=settings.num_gpus_per_trial,
            max_retries=0,
        )(_run_trial)

    def start(self, job: TrialJob, future: Future[JobResult]) -> None:
        from ray.exceptions import RayError, RayTaskError

        job_bytes = pickle.dumps(job)
        ray_future = self._remote.remote(self._state, job_bytes, self._threads).future()

        def finish(done: Future[JobResult]) -> None:
            error = done.exception()
            if error is None:
                future.set_result(done.result())
            elif isinstance(error, RayTaskError):  # our code raised inside the task
                future.set_result(JobResult(error=error.cause or error))
            elif isinstance(error, RayError):  # the worker or node died: the trial was lost
                lost = RuntimeError(f"Ray task died: {describe(error)}")
                future.set_result(JobResult(error=lost, lost=True))
            else:
                future.set_result(JobResult(error=error))

        ray_future.add_done_callback(finish)

    def shutdown(self) -> None:
        import ray

        if self._started_ray:
            ray.shutdown()


def _check_answers(address: str | None, timeout: float = 10.0) -> None:
    """Fail in seconds when nothing listens at a ``host:port`` (or ``ray://host:port``)
    address: ``ray.init`` would retry connecting to it for good, logging every few seconds."""
    target = (address or "").removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if "://" in target or not host or not port.isdigit():
        return  # a local Ray, `auto`, or a form Ray reads for itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise _unreachable(address, error.strerror or str(error) or type(error).__name__) from None


def _unreachable(address: str | None, reason: str) -> ConfigError:
    return ConfigError(
        f"hydra.launcher.address={address}: no Ray cluster answers there ({reason}); start one "
        "(ray start --head), name its address, or leave address null for a Ray on this machine"
    )
