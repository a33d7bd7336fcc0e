"""Task functions the benchmarks sweep with hydratune; importable in worker processes.

Each records what the benchmark reads afterwards: when the task started and finished (the
framework's overhead is the rest of the trial's wall time), in which process, and how many
epochs it used. Trials in the sweeper's process write to module globals (free); trials in
worker processes write user attributes to the study.

The pruning benchmark gives a sweep an epoch budget (``EPOCHS.budget``): once it is spent the
next trial fails on purpose, and with ``hydra.sweeper.max_failure_rate=0`` the sweep stops.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import optuna
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import hydratune
from bench.common import STAMP, rss_mb
from bench.objectives import closed_form, learning_curve, noop_value

BUDGET_SPENT = "bench: epoch budget spent"
# The process that runs the sweeps; worker processes inherit it and so know they are workers.
SWEEPER_PID = "BENCH_SWEEPER_PID"
os.environ.setdefault(SWEEPER_PID, str(os.getpid()))


@dataclass
class InProcessLog:
    """What tasks running in the sweeper's process record, by trial number."""

    times: dict[int, dict[str, float]] = field(default_factory=dict)
    study: optuna.Study | None = None  # the live study (an in-memory one is gone after the sweep)
    rss: list[tuple[int, float]] = field(default_factory=list)

    def reset(self) -> None:
        self.times, self.study, self.rss = {}, None, []


LOG = InProcessLog()


@dataclass
class EpochBudget:
    """Epochs a sweep may still train (None: no limit); in the sweeper's process only."""

    budget: int | None = None

    def check(self) -> None:
        if self.budget is not None and self.budget <= 0:
            raise RuntimeError(BUDGET_SPENT)

    def spend(self) -> bool:
        """Count one epoch; whether the budget is now spent."""
        if self.budget is None:
            return False
        self.budget -= 1
        return self.budget <= 0


EPOCHS = EpochBudget()


# Set to "1" in the environment a sweep's workers inherit: each worker freezes its heap once
# (``gc.freeze()``), the fix proposed for loky's per-task ``gc.collect()`` (bench.parallel).
GC_FREEZE = "BENCH_GC_FREEZE"
_FROZEN: list[bool] = []


def _maybe_freeze() -> None:
    if os.environ.get(GC_FREEZE) == "1" and not _FROZEN:
        gc.collect()
        gc.freeze()
        _FROZEN.append(True)


def _number() -> int:
    return int(HydraConfig.get().job.num)


def _capture_study() -> None:
    if LOG.study is None:
        LOG.study = hydratune.current_trial().study


def noop(cfg: DictConfig) -> float:
    """The no-op task (``bench/conf/noop.yaml``): stamps its start and end, computes nothing."""
    started = time.time()
    _capture_study()
    value = noop_value(cfg.x, cfg.y, cfg.kind)
    _stamp(started)
    return value


def closed_form_task(cfg: DictConfig) -> float:
    """Branin or Hartmann6 (``bench/conf/closed_form.yaml``)."""
    _capture_study()
    return closed_form(cfg.function, {k: float(v) for k, v in cfg.items() if k.startswith("x")})


def sleep_task(cfg: DictConfig) -> float:
    """Sleeps ``cfg.x`` seconds: trials of uneven length, for the idle-slot measurement."""
    _maybe_freeze()
    started = time.time()
    time.sleep(float(cfg.x))
    _stamp(started)
    return float(cfg.x)


def _stamp(started: float) -> None:
    """Record the task's start and end: in ``LOG`` in the sweeper's process (no storage write
    to distort what is measured), as user attributes from a worker process."""
    import torch

    finished, pid, threads = time.time(), os.getpid(), torch.get_num_threads()
    if os.environ[SWEEPER_PID] == str(pid):
        LOG.times[_number()] = {
            "started": started,
            "finished": finished,
            "pid": pid,
            "threads": threads,
        }
        return
    stamp = {"started": started, "finished": finished, "pid": pid, "threads": threads}
    hydratune.current_trial().set_user_attr(STAMP, stamp)  # one storage write


def simulated_curve(cfg: DictConfig) -> float:
    """A simulated training run (``bench.objectives.learning_curve``): reports every epoch
    through ``hydratune.report`` and stops when ``hydratune.should_prune()`` says so."""
    EPOCHS.check()
    _capture_study()
    best = float("inf")
    for epoch in range(cfg.trainer.max_epochs):
        loss = learning_curve(cfg.lr_exp, cfg.dropout, epoch, cfg.seed)
        best = min(best, loss)
        hydratune.report(loss, epoch)
        if EPOCHS.spend():
            break
        if hydratune.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")
    return best


class _EpochLedger(L.Callback):
    """Counts validation epochs against the budget; stops training when it is spent."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and EPOCHS.spend():
            trainer.should_stop = True


def timed_train(cfg: DictConfig) -> Any:
    """hydratune's training task, stamped (started/finished/pid in the study) and within the
    sweep's epoch budget when one is set."""
    from hydratune.training.task import train

    EPOCHS.check()
    _maybe_freeze()
    started = time.time()
    try:
        # The ledger only where a budget is set: an extra callback costs every Lightning hook.
        return train(cfg, callbacks=[_EpochLedger()] if EPOCHS.budget is not None else [])
    finally:
        _stamp(started)


def rss_train(cfg: DictConfig) -> Any:
    """hydratune's training task; records this process's RSS before each trial."""
    from hydratune.training.task import train

    LOG.rss.append((_number(), rss_mb()))
    return train(cfg)
