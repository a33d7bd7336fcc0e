"""``hydra.sweeper.scheduler`` checked before the first trial, each error naming its key."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial

from hydratune.attrs import SEGMENT, WARM_START_FROM
from hydratune.errors import StudyConfigError
from hydratune.schedule.asha import AshaSchedule, max_brackets
from hydratune.schedule.base import CheckpointSchedule
from hydratune.storage import is_in_memory, mask_url

KEY = "hydra.sweeper.scheduler"


@dataclass(frozen=True)
class ScheduleSettings:
    """A checked scheduler: its options, and the budget key and value it schedules."""

    conf: Any
    resource_key: str
    max_epochs: int

    def check_budget(self, trials: Sequence[FrozenTrial]) -> None:
        """A study's scheduled runs share one budget (their rungs, pauses and complete runs are
        counted in it): a rerun with another is refused, naming the key. Trials ``warm_start``
        copied from another study keep that study's plan, not this one's."""
        for trial in trials:
            if WARM_START_FROM in trial.user_attrs:
                continue
            segment = trial.user_attrs.get(SEGMENT)
            budget = segment.get("budget") if isinstance(segment, dict) else None
            if budget is not None and budget != self.max_epochs:
                raise StudyConfigError(
                    f"{self.resource_key}={self.max_epochs}, but this study's schedule trains "
                    f"its runs to {budget} epochs (trial #{trial.number}'s plan): run it with "
                    f"{self.resource_key}={budget}, or start a new study with "
                    "hydra.sweeper.study_name=<new>"
                )

    def build(self, study: optuna.Study, space: Any, url: str) -> CheckpointSchedule:
        """The schedule of ``study``, stored at ``url``."""
        budget = (self.resource_key, self.max_epochs)
        folder = checkpoint_dir(self.conf.checkpoint_root, study.study_name, url)
        if self.conf.name == "pb2":  # scikit-learn's GP: imported only when a sweep uses it
            from hydratune.schedule.pb2 import Pb2Schedule

            return Pb2Schedule(self.conf, study, *budget, folder, space=space)
        if self.conf.name == "pbt":
            from hydratune.schedule.pbt import PbtSchedule

            return PbtSchedule(self.conf, study, *budget, folder, space=space)
        return AshaSchedule(self.conf, study, *budget, folder)


def checkpoint_dir(root: str | None, study_name: str, url: str) -> Path | None:
    """``<root>/<study>-<8 hex of its storage>``: a study's own dir under ``checkpoint_root``,
    apart from another storage's study of the same name (the default name is the sweep's).
    An in-memory study lives in one process only: its dir is that process's."""
    if root is None:
        return None
    where = mask_url(url) + (f" pid {os.getpid()}" if is_in_memory(url) else "")
    return Path(root, f"{study_name}-{hashlib.sha256(where.encode()).hexdigest()[:8]}")


def check_scheduler(
    sweeper: Any, config: DictConfig, n_directions: int, searched: set[str]
) -> ScheduleSettings | None:
    """The scheduler's settings, or None for ``none``; ``StudyConfigError`` naming the first
    setting that cannot work (before any trial runs)."""
    conf = sweeper.scheduler
    if conf is None or conf.get("name", "none") == "none":
        return None
    name = conf.name

    def fail(key: str, problem: str) -> None:
        raise StudyConfigError(f"{KEY}{'.' + key if key else ''} ({name}): {problem}")

    if n_directions != 1:
        fail("", f"ranks trials by one objective; this study has {n_directions} directions")
    sampler = str((sweeper.sampler or {}).get("_target_", ""))
    if sampler.endswith("GridSampler"):
        fail("", "cannot run with the grid sampler (a grid point runs once); use sampler=tpe")
    pruner = str((sweeper.pruner or {}).get("_target_", ""))
    if pruner and not pruner.endswith("NopPruner"):
        fail("", f"decides when trials stop; leave hydra/sweeper/pruner=nop (got {pruner})")
    resource_key = conf.resource_key or sweeper.resource_key
    if not resource_key:
        fail("resource_key", "set it (or hydra.sweeper.resource_key) to the epochs' config key")
    max_epochs = OmegaConf.select(config, resource_key, default=None)
    if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs < 2:
        fail(
            "resource_key",
            f"{resource_key} must be a whole number of epochs >= 2, got {max_epochs!r}",
        )
    if resource_key in searched:
        fail("resource_key", f"{resource_key} is searched; the schedule sets it per trial")
    for key, raw, value in _following(config, resource_key, max_epochs, searched):
        raise StudyConfigError(
            f"{key}: {raw} follows {resource_key}, which {name} sets to each run's pause: a "
            "paused run would not train as the uninterrupted run does (a cosine decay would "
            f"end at every pause); give it the last epoch's value: {key}={value}"
        )
    for key in ("load_key", "save_key"):
        app_key = conf.get(key)
        if app_key and not _has_key(config, app_key):
            fail(key, f"the app's config has no key '{app_key}' (add `{app_key}: null`)")
    if conf.checkpoint_root is not None and not conf.save_key:
        fail("checkpoint_root", "needs save_key, the app key that says where to save")
    asha = name in ("asha", "hyperband")
    if asha:
        if conf.eta < 2:
            fail("eta", f"must be at least 2 (the top 1/eta continue), got {conf.eta}")
        if conf.promotion not in ("eager", "paper"):
            fail("promotion", f"must be eager or paper, got {conf.promotion!r}")
        if not 1 <= conf.min_resource < max_epochs:
            fail(
                "min_resource",
                f"must be 1 to {resource_key}-1 ({max_epochs - 1}), got {conf.min_resource}",
            )
        most = max_brackets(conf.min_resource, conf.eta, max_epochs)
        brackets = conf.get("brackets")
        if brackets is not None and not 1 <= brackets <= most:
            fail(
                "brackets",
                f"must be 1 to {most} (one per rung at min_resource * eta^b epochs up to "
                f"{resource_key}={max_epochs}) or null, got {brackets}",
            )
    elif name in ("pbt", "pb2"):
        interval = conf.perturbation_interval
        if not 1 <= interval < max_epochs:
            fail(
                "perturbation_interval",
                f"must be 1 to {resource_key}-1 ({max_epochs - 1}), got {interval}",
            )
        if not 2 <= conf.population <= sweeper.n_trials:
            fail("population", f"must be 2 to n_trials ({sweeper.n_trials}), got {conf.population}")
        if not 0 < conf.quantile_fraction <= 0.5:
            fail("quantile_fraction", f"must be in (0, 0.5], got {conf.quantile_fraction}")
        if not 0 <= conf.resample_probability <= 1:
            fail("resample_probability", f"must be in [0, 1], got {conf.resample_probability}")
        listed = isinstance(conf.explore, Sequence) and not isinstance(conf.explore, str)
        if conf.explore is not None and not listed:
            fail("explore", f"must be a list of searched keys or null, got {conf.explore!r}")
        unknown = sorted(set(conf.explore or ()) - searched)
        if unknown:
            fail("explore", f"{unknown} are not searched; name keys of the search space")
    else:
        fail("name", f"unknown scheduler {name!r}; use none, asha, hyperband, pbt or pb2")
    min_epochs = OmegaConf.select(config, "trainer.min_epochs", default=None) or 0
    first_pause = conf.min_resource if asha else conf.perturbation_interval  # both in range
    if isinstance(min_epochs, int) and min_epochs > first_pause:
        fail("", f"trainer.min_epochs={min_epochs} trains past the first pause ({first_pause})")
    return ScheduleSettings(conf, resource_key, max_epochs)


def _following(
    config: DictConfig, resource_key: str, max_epochs: int, searched: set[str]
) -> list[tuple[str, str, Any]]:
    """The app's values (not ``hydra``'s, not searched ones) that interpolate ``resource_key``,
    directly or through others, a list's items too: ``(key, as written, value at
    max_epochs)``, found by resolving each interpolation at two budgets, and at the first
    twice: one that moves by itself (``${now:...}``), or cannot resolve here, is left alone."""
    raw = OmegaConf.to_container(config, resolve=False)
    written = {k: v for k, v in _leaves(raw) if "${" in str(v)}
    written = {k: v for k, v in written.items() if k.split(".")[0] != "hydra" and k not in searched}
    reads = []
    for epochs in (max_epochs, max_epochs + 1, max_epochs):
        copy = OmegaConf.create(raw)
        OmegaConf.update(copy, resource_key, epochs, merge=False)
        reads.append({k: _resolved(copy, k) for k in written})
    at, other, again = reads
    return [
        (key, written[key], value)
        for key, value in at.items()
        if value is not _UNRESOLVED and value == again[key] and value != other[key]
    ]


_UNRESOLVED = object()


def _resolved(config: DictConfig, key: str) -> Any:
    try:
        value = OmegaConf.select(config, key)
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    except Exception:  # a resolver only a job has (${hydra:...}), or a missing value
        return _UNRESOLVED


def _leaves(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted key, value)`` of each value in nested dicts (a list is one value)."""
    if not isinstance(node, dict):
        return [(prefix, node)]
    return [
        leaf for k, v in node.items() for leaf in _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    ]


def _has_key(config: DictConfig, key: str) -> bool:
    """Whether ``key`` exists, without resolving it (``${hydra:...}`` resolves only in a job)."""
    parent_key, _, name = key.rpartition(".")
    parent = OmegaConf.select(config, parent_key) if parent_key else config
    return isinstance(parent, DictConfig) and name in parent
