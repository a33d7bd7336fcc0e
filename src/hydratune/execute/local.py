"""Launchers on this machine: in the sweeper's process, or in local worker processes.

- ``InProcessLauncher``: one trial at a time in the sweeper's process (``n_jobs: 1``).
- ``ProcessPoolLauncher``: one long-lived loky worker process per slot (``n_jobs: N``). Hydra's
  job runner sets process-global state, so parallel trials need processes; each is started
  once and reused, since importing torch and Lightning costs seconds. A slot of its own per
  worker lets a slot keep its threads and its GPUs (``CUDA_VISIBLE_DEVICES``) for its lifetime.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from hydra.core.singleton import Singleton
from hydra.types import HydraContext, TaskFunction

from hydratune.execute import interrupts
from hydratune.execute.job import JobResult, job_output_dir, run_trial_job
from hydratune.execute.launcher import Launcher, describe
from hydratune.execute.relaunch import job_in_environment
from hydratune.execute.trial_config import TrialConfigFactory, TrialJob
from hydratune.execute.worker import init_worker, modules_to_preload, run_in_worker

log = logging.getLogger(__name__)


class InProcessLauncher(Launcher):
    """Runs each job in the sweeper's own process, one at a time.

    Hydra's job runner sets process-global state (working dir, logging, ``HydraConfig``), so
    jobs in one process cannot overlap; parallel trials need worker processes.
    """

    hands_over = False  # ``submit`` runs the trial: Ctrl-C must reach it

    def __init__(
        self, configs: TrialConfigFactory, hydra_context: HydraContext, task_function: TaskFunction
    ) -> None:
        super().__init__(configs)
        self._context = hydra_context
        self._task = task_function

    def start(self, job: TrialJob, future: Future[JobResult]) -> None:
        config = self.built(job, future)
        if config is None:
            return
        output_dir = job_output_dir(config)
        with job_in_environment(job, output_dir):  # for processes run with the app's command
            future.set_result(run_trial_job(config, self._context, self._task, output_dir))


def slot_devices(n_slots: int, devices_per_trial: int, visible: Sequence[str]) -> list[str | None]:
    """``CUDA_VISIBLE_DEVICES`` for each slot: its own ``devices_per_trial`` GPUs, or None.

    Raises ValueError when the visible GPUs cannot give every slot its share.
    """
    if devices_per_trial <= 0:
        return [None] * n_slots
    needed = n_slots * devices_per_trial
    if needed > len(visible):
        raise ValueError(
            f"hydra.sweeper.devices_per_trial={devices_per_trial} with n_jobs={n_slots} needs "
            f"{needed} GPUs; {len(visible)} visible ({','.join(visible) or 'none'}). "
            "Lower n_jobs or devices_per_trial."
        )
    return [
        ",".join(visible[i * devices_per_trial : (i + 1) * devices_per_trial])
        for i in range(n_slots)
    ]


def visible_gpus() -> list[str]:
    """The GPU ids this process may hand out: ``CUDA_VISIBLE_DEVICES`` or all CUDA devices."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d for d in env.split(",") if d.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def init_pool_worker(state: bytes, threads: int, sweeper: int, preload: Sequence[str] = ()) -> None:
    """``init_worker`` for a local pool's worker, which lives and dies with its sweeper (the
    process ``sweeper``) and leaves Ctrl-C to it."""
    interrupts.ignore_in_worker()
    _die_with_parent(sweeper)
    init_worker(state, threads, preload)


def _die_with_parent(parent: int, interval: float = 0.2) -> None:
    """End this worker when the sweeper that started it (``parent``) is gone (``kill -9``
    leaves workers orphaned, running their trials on): at once if it died while this worker
    started, else when a watching thread sees the parent change."""
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="hydratune-parent-watch", daemon=True).start()


class ProcessPoolLauncher(Launcher):
    """Runs each job in one of ``n_slots`` reused worker processes, as soon as a slot is free.

    Each worker uses ``threads`` torch threads (default: cores // slots). A worker that dies
    (killed, out of memory) fails only its own trial; the slot starts a fresh worker.
    """

    def __init__(
        self,
        configs: TrialConfigFactory,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        n_slots: int,
        threads: int | None = None,
        devices_per_trial: int = 0,
    ) -> None:
        import cloudpickle

        super().__init__(configs)
        self._state = cloudpickle.dumps((hydra_context, task_function, Singleton.get_state()))
        self._preload = modules_to_preload(task_function)
        self._threads = threads or max(1, (os.cpu_count() or 1) // n_slots)
        visible = visible_gpus() if devices_per_trial > 0 else []  # torch only for GPUs
        self._devices = slot_devices(n_slots, devices_per_trial, visible)
        self._executors: list[Any] = [None] * n_slots
        self._free = list(range(n_slots))

    def _executor(self, slot: int) -> Any:
        from loky import ProcessPoolExecutor

        if self._executors[slot] is None:
            env = {"OMP_NUM_THREADS": str(self._threads), "MKL_NUM_THREADS": str(self._threads)}
            if self._devices[slot] is not None:
                env["CUDA_VISIBLE_DEVICES"] = self._devices[slot]
            self._executors[slot] = ProcessPoolExecutor(
                max_workers=1,
                initializer=init_pool_worker,
                initargs=(self._state, self._threads, os.getpid(), self._preload),
                env=env,
            )
        return self._executors[slot]

    def start(self, job: TrialJob, future: Future[JobResult]) -> None:
        slot = self._free.pop(0)
        inner = self._executor(slot).submit(run_in_worker, pickle.dumps(job))
        inner.add_done_callback(lambda done: self._finish(slot, done, future))

    def _finish(self, slot: int, done: Future[JobResult], future: Future[JobResult]) -> None:
        error = done.exception()
        if error is None:
            result = done.result()
        else:  # the worker died: restart the slot on its next trial
            self._executors[slot] = None
            died = RuntimeError(f"worker process died: {describe(error)}")
            result = JobResult(error=died, lost=True)
        self._free.append(slot)
        future.set_result(result)

    def shutdown(self) -> None:
        for executor in self._executors:
            if executor is not None:
                executor.shutdown(wait=True, kill_workers=True)
