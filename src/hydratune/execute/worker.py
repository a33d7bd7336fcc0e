"""A worker process's side of every launcher that runs trials outside the sweeper's process.

Local pool workers, Ray workers and submitit jobs all get the sweep's state once (Hydra's
context, the task function, Hydra's singletons, pickled) and then one pickled job config per
trial; ``init_worker`` and ``run_in_worker`` are what they share. A worker is reused across
trials because importing torch and Lightning costs seconds.
"""

from __future__ import annotations

import gc
import importlib
import pickle
import sys
import types
from collections.abc import Sequence
from typing import Any

from hydra.core.singleton import Singleton
from hydra.types import TaskFunction

from hydratune.execute.job import JobResult, run_trial_job

# state set once per worker process by init_worker
_WORKER: dict[str, Any] = {}


# Imported into a process after Hydra's job logging is set up, Lightning gives its "lightning"
# logger a console handler of its own and resets its packages' levels to INFO: every banner
# ("GPU available", tips) then prints twice, whatever the job's logging config says.
PRELOAD = ("lightning", "pytorch_lightning")


def modules_to_preload(task: TaskFunction) -> tuple[str, ...]:
    """The Lightning packages the task's module imports: a worker imports them first, as the
    sweeper's process did, so a trial prints what it prints there (once)."""
    module = sys.modules.get(getattr(task, "__module__", "") or "")
    used = {
        value.__name__.split(".")[0]
        for value in (vars(module).values() if module is not None else ())
        if isinstance(value, types.ModuleType)
    }
    return tuple(name for name in PRELOAD if name in used)


def init_worker(state: bytes, threads: int, preload: Sequence[str] = ()) -> None:
    """Set up a worker process from the sweep's pickled (context, task, Hydra singletons),
    importing ``preload`` first (``modules_to_preload``)."""
    import cloudpickle  # noqa: F401  (the state was pickled with it)

    for name in preload:
        importlib.import_module(name)

    context, task, singletons = pickle.loads(state)
    Singleton.set_state(singletons)
    _WORKER.update(context=context, task=task)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def run_in_worker(job_bytes: bytes) -> JobResult:
    """Run one pickled ``TrialJob`` in a worker set up by ``init_worker``."""
    try:
        config = pickle.loads(job_bytes).build(reuse_hydra=True)
    except Exception as error:  # the trial's overrides do not apply: the trial fails
        return JobResult(error=_picklable(error))
    result = run_trial_job(config, _WORKER["context"], _WORKER["task"])
    if not _WORKER.get("frozen"):
        # loky (without psutil) runs gc.collect() between tasks; over all that torch, Lightning
        # and Hydra import, that took 225 ms per trial (bench/RESULTS.md). After the first
        # trial has imported it all, freeze it: later collections see only new garbage.
        gc.collect()
        gc.freeze()
        _WORKER["frozen"] = True
    if result.error is not None:
        result.error = _picklable(result.error)
    return result


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
