"""Trials as submitit jobs (``hydra/launcher=submitit_slurm`` or ``submitit_local``).

hydra-submitit-launcher submits a sweep's jobs as one array per batch and waits for the whole
batch; here each trial is one submitit job, submitted as soon as a slot frees, with the
resources of the launcher config users already write for that plugin (``timeout_min``,
``cpus_per_task``, ``gpus_per_node``, ``partition``, ``additional_parameters``, ``setup``...).
A trial's submitit files (the job's stdout/stderr, its pickles) go to ``<trial dir>/.submitit``.

A job's end is seen by its result file; a job that Slurm ended without one (``scancel``, node
failure) is found by ``squeue``, which answers on clusters without accounting too (submitit's
own watcher asks ``sacct`` only), and its trial is failed as lost, so it is retried. A job out
of time writes a result that says so (see ``_run_trial``), and is lost and retried as well.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydratune.attrs import JOB_CLUSTER, JOB_FOLDER, JOB_ID
from hydratune.errors import FatalTrialError
from hydratune.execute.job import JobResult, job_output_dir
from hydratune.execute.launcher import Launcher
from hydratune.execute.trial_config import TrialConfigFactory, TrialJob
from hydratune.execute.worker import init_worker, run_in_worker

log = logging.getLogger(__name__)

# Slurm states of a job that will never write its result (squeue --states=all).
_ENDED = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
}
# hydra-submitit-launcher's keys that submitit takes without the executor's prefix.
_SHARED_KEYS = {
    "timeout_min",
    "cpus_per_task",
    "gpus_per_node",
    "tasks_per_node",
    "mem_gb",
    "nodes",
    "name",
    "stderr_to_stdout",
}
# The trial dir replaces submitit_folder; max_num_timeout requeues checkpointable jobs only (a
# trial out of time is lost and retried instead).
_NOT_PASSED = {"_target_", "submitit_folder", "max_num_timeout"}


def _run_trial(state: bytes, job: bytes, threads: int) -> JobResult:
    """The job: set up Hydra's state from the sweep's, run the trial. A job out of time is
    lost, not a failure of its params: Slurm signals the time limit (``signal_delay_s`` before
    it) and submitit's handler raises ``UncompletedJobError`` in the trial, which still writes a
    result, so the Slurm state never reaches the sweep; the fail reason names both instead."""
    import submitit
    from submitit.core.utils import UncompletedJobError

    if threads > 0:
        # torch reads these as it loads (with the task's module or in the trial), so the job of
        # a task without torch does not import it (2-3 s of every job) only to set its threads;
        # torch caps them at the machine's cores, which a job's cpus_per_task cannot exceed
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    init_worker(state, 0)
    result = run_in_worker(job)
    if isinstance(result.error, UncompletedJobError):
        job_id = submitit.JobEnvironment().job_id
        result.error = RuntimeError(f"job {job_id} ended (TIMEOUT): {result.error}")
        result.lost = True
    return result


@dataclass
class _Running:
    job: Any  # submitit.Job
    future: Future[JobResult]
    ended_state: str | None = None  # the state Slurm gave when it said the job had ended
    ended_at: float | None = None  # when (the job's result may reach us a little later)


class SubmititLauncher(Launcher):
    """Each trial one submitit job on ``cluster`` (``slurm`` or ``local``); a thread collects
    results every ``poll`` seconds and asks Slurm for the state of jobs without one."""

    def __init__(
        self,
        configs: TrialConfigFactory,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        settings: DictConfig,
        cluster: str,
        poll: float = 0.5,
    ) -> None:
        import cloudpickle

        super().__init__(configs)
        self.cluster = cluster
        self._params = executor_parameters(settings, cluster)
        self._state = cloudpickle.dumps((hydra_context, task_function, Singleton.get_state()))
        self._threads = int(settings.get("cpus_per_task") or 0)
        self._poll = poll
        self._running: dict[int, _Running] = {}
        self._submitted: dict[int, dict[str, str]] = {}  # job attributes not yet recorded
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hydratune-submitit", daemon=True)
        self._thread.start()

    def start(self, job: TrialJob, future: Future[JobResult]) -> None:
        import submitit

        number = job.number
        config = self.built(job, future)  # for its dir; the job builds its own
        if config is None:
            return
        folder = Path(job_output_dir(config)) / ".submitit"
        executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster)
        executor.update_parameters(**self._params)
        try:
            submitted = executor.submit(_run_trial, self._state, pickle.dumps(job), self._threads)
        except Exception as error:  # sbatch refused it (a bad partition): so would it the next
            refused = FatalTrialError(f"submitting the {self.cluster} job failed: {error}")
            future.set_result(JobResult(error=refused, lost=True))  # it never ran
            return
        self._submitted[number] = {
            JOB_ID: str(submitted.job_id),
            JOB_FOLDER: str(submitted.paths.folder),
            JOB_CLUSTER: self.cluster,
        }
        with self._lock:
            self._running[number] = _Running(submitted, future)
        log.info("trial #%d: %s job %s, logs in %s", number, self.cluster, submitted.job_id, folder)

    def submitted(self, number: int) -> dict[str, Any]:
        return self._submitted.pop(number, {})

    def _watch(self) -> None:
        last_query = 0.0
        while not self._stop.wait(self._poll):
            with self._lock:
                running = dict(self._running)
            if not running:
                continue
            states: dict[str, str] = {}
            if self.cluster == "slurm" and time.monotonic() - last_query > 2:
                states = slurm_states([str(r.job.job_id) for r in running.values()])
                last_query = time.monotonic()
            for number, item in running.items():
                ended = self._ended(item, states)
                if ended is not None:
                    with self._lock:
                        self._running.pop(number, None)
                    item.future.set_result(collect(item.job, ended))

    def _ended(self, item: _Running, states: dict[str, str]) -> str | None:
        """How the job ended ("result": it wrote one), or None while it may still run."""
        job = item.job
        if job.task(0).paths.result_pickle.exists():
            return "result"
        if self.cluster != "slurm":
            return "exited" if job.done() else None  # a local job: its process has exited
        state = states.get(str(job.job_id), "").split(" ")[0]
        if state in _ENDED and item.ended_state is None:
            item.ended_state, item.ended_at = state, time.monotonic()
        # a result written as the job ends may reach a shared filesystem a little later
        if item.ended_at is not None and time.monotonic() - item.ended_at > 5:
            return item.ended_state
        return None

    @classmethod
    def settle_orphan(cls, number: int, recorded: Mapping[str, Any]) -> JobResult | None:
        job_id = recorded.get(JOB_ID)
        if job_id is None:
            return None
        cluster = recorded.get(JOB_CLUSTER, "slurm")
        result = settle_job(recorded[JOB_FOLDER], job_id, cluster)
        if result.lost:
            log.warning("trial #%d: cancelled %s job %s of a dead sweep", number, cluster, job_id)
        else:
            log.info("trial #%d: %s job %s had ended; its result is told", number, cluster, job_id)
        return result

    def shutdown(self) -> None:
        """Stop watching; jobs still pending or running are cancelled (the sweep was
        interrupted: their trials are failed as lost and retried by the next run)."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            left = dict(self._running)
            self._running.clear()
        for number, item in left.items():
            item.job.cancel(check=False)
            log.warning("trial #%d: cancelled %s job %s", number, self.cluster, item.job.job_id)


def executor_parameters(settings: DictConfig, cluster: str) -> dict[str, Any]:
    """submitit's parameters from a hydra-submitit-launcher config, named as that plugin
    names them: the shared keys as they are, the others prefixed with the cluster."""
    plain = OmegaConf.to_container(settings, resolve=True)
    assert isinstance(plain, dict)
    params = {
        (key if key in _SHARED_KEYS else f"{cluster}_{key}"): value
        for key, value in plain.items()
        if key not in _NOT_PASSED and value is not None and not str(key).startswith("_")
    }
    if cluster == "slurm":
        # The sweep retries a lost trial itself (max_retries). A job Slurm requeued (after a
        # node failure or a preemption) would run its trial again later, perhaps after the
        # sweep has ended; `requeue: true` in additional_parameters keeps Slurm's way.
        extra = dict(params.get("slurm_additional_parameters") or {})
        if "requeue" not in extra:
            extra.setdefault("no_requeue", True)
        params["slurm_additional_parameters"] = extra
    return params


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """Each job's Slurm state by id, from ``squeue`` (jobs ended within ``MinJobAge`` included);
    a job Slurm no longer knows (ended long ago) is reported ``COMPLETED``."""
    if not job_ids:
        return {}
    jobs = ",".join(job_ids)
    command = ["squeue", "--noheader", "--states=all", "--format=%i|%T", f"--jobs={jobs}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if out.returncode != 0 and "Invalid job id" not in out.stderr:
        log.warning("squeue failed (%s); job states unknown", out.stderr.strip())
        return {}
    states = dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)
    return {job_id: states.get(job_id, "COMPLETED") for job_id in job_ids}


def collect(job: Any, ended: str) -> JobResult:
    """The ended job's ``JobResult`` (its first task's, with several tasks: rank 0 of a DDP
    trial); a job that wrote none was lost (cancelled, killed, out of time), as ``ended``
    (its Slurm state) says."""
    rank0 = job.task(0)
    if not rank0.paths.result_pickle.exists():
        reason = f"job {job.job_id} ended ({ended}) without a result; see {rank0.paths.stderr}"
        return JobResult(error=RuntimeError(reason), lost=True)
    try:
        return rank0.result()
    except Exception as error:  # the job's process failed outside the trial
        return JobResult(error=RuntimeError(f"job {job.job_id} failed: {error}"))


def settle_job(folder: str, job_id: str, cluster: str = "slurm") -> JobResult:
    """The result of a job a dead sweep submitted: its own if it wrote one; else it is
    cancelled (when still queued or running) and its trial lost."""
    import submitit

    job_cls = submitit.SlurmJob if cluster == "slurm" else submitit.LocalJob
    job = job_cls(folder=folder, job_id=job_id, tasks=(0,))
    if job.paths.result_pickle.exists():
        return collect(job, "result")
    if cluster == "slurm":
        subprocess.run(["scancel", job_id], capture_output=True, timeout=60)
    return JobResult(error=RuntimeError(f"job {job_id} outlived its sweep: cancelled"), lost=True)


def cluster_of(target: str) -> str:
    """``slurm`` or ``local``: the submitit executor a hydra-submitit-launcher target names."""
    return "local" if target.endswith("LocalLauncher") else "slurm"
