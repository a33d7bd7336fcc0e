"""``hydra.sweeper`` settings checked before anything runs, each error naming its key.

``read_settings`` checks keys and types against ``SweeperConf`` (Hydra composed them from YAML
files that nothing checked: see ``hydratune.schema``); ``check_settings`` the values a type
admits that make no sense (``n_trials=-1``, ``heartbeat_interval=0``), and the ones typed
``Any`` (the sampler's ``seed``). A study name becomes part of paths (the sweep dir, the
exported experiment), so it must be one safe path component.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from hydratune.errors import StudyConfigError
from hydratune.insight import ExportError, check_target
from hydratune.schema import SCHEDULER_OPTIONS, SweeperConf
from hydratune.space import is_sequence
from hydratune.steering import MAX_N_TRIALS

# One path component: no separator, no leading dot or dash, no spaces (the printed commands
# stay copyable), any letters and digits of any script.
_SAFE_NAME = re.compile(r"^[^\W_][\w.+=@,-]*$")


def read_settings(settings: Mapping[str, Any]) -> SweeperConf:
    """``hydra.sweeper`` (as Hydra instantiated it) as its schema, checked: a key the schema
    lacks, a value its type refuses or one out of its range is an error naming the key. Nested
    nodes stay the config nodes they were; scalars take the schema's types."""
    checked = _checked(SweeperConf, settings, "hydra.sweeper")
    scheduler = settings.get("scheduler")
    if OmegaConf.is_dict(scheduler) and scheduler.get("name") in SCHEDULER_OPTIONS:
        _checked(SCHEDULER_OPTIONS[scheduler.name], scheduler, "hydra.sweeper.scheduler")
    conf = SweeperConf(
        **{
            key: settings[key] if OmegaConf.is_config(settings.get(key)) else checked[key]
            for key in checked
            if key != "defaults"  # Hydra's, consumed when it composed the config
        }
    )
    check_settings(conf)
    return conf


def _checked(schema: type, values: Mapping[str, Any], where: str) -> Any:
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), values)
    except ConfigKeyError as error:
        parent, _, key = str(error.full_key).rpartition(".")
        node = OmegaConf.select(OmegaConf.structured(schema), parent) if parent else schema
        known = [k for k in OmegaConf.structured(node) if k not in ("defaults", "_target_")]
        raise no_such_setting(f"{where}.{parent}" if parent else where, key, known) from None
    except OmegaConfBaseException as error:
        problem = str(error.msg).splitlines()[0]  # without OmegaConf's full_key/object_type lines
        raise StudyConfigError(f"{where}.{error.full_key}: {problem}") from None


# The settings the schema types ``Any`` (see ``SweeperConf``): the shape each must have.
_MAPPINGS = {
    "params": "keys and their search expressions, {model.lr: tag(log, interval(1e-4, 1e-1))}",
    "search_space": "keys and their {type, low, high} (hydra-optuna-sweeper 1.2's form)",
    "when": "conditions and the parameters they search, {model/optimizer=sgd: {key: ...}}",
    "paired": "names and their {keys: [...], rows: [[...], ...]}",
    "blocks": "keys and their {depth: ..., each: {...}}",
    "cells": "keys and their {nodes: ..., ops: [...]}",
    "warm_start": "{study_name: ..., storage: ...} or {studies: ...}",
}


def no_such_setting(where: str, key: str, known: Sequence[str]) -> StudyConfigError:
    """The error for ``key``, which the mapping at ``where`` does not have: the nearest of
    ``known``, else all of them."""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"it has: {', '.join(known)}"
    return StudyConfigError(f"{where}.{key}: no such setting; {hint}")


def check_settings(conf: SweeperConf) -> None:
    """Raise ``StudyConfigError`` naming the first setting out of its range or of the wrong
    shape."""
    for key, shape in _MAPPINGS.items():
        value = getattr(conf, key)
        if value is not None and not isinstance(value, Mapping):
            raise StudyConfigError(f"hydra.sweeper.{key}={value!r}: expected a mapping of {shape}")
    for key, example in (("sampler", "tpe"), ("pruner", "median")):
        value = getattr(conf, key)
        if isinstance(value, Mapping) or (value is None and key == "pruner"):  # null: no pruner
            continue
        name = value if isinstance(value, str) and value.isidentifier() else example
        raise StudyConfigError(
            f"hydra.sweeper.{key}={value!r}: expected a {key} config; choose one from its group "
            f"with hydra/sweeper/{key}={name} (override hydra/sweeper/{key}: {name} in YAML)"
        )
    enqueue = conf.enqueue
    if enqueue is not None and not is_sequence(enqueue):
        raise StudyConfigError(
            f"hydra.sweeper.enqueue={enqueue!r}: expected a list of parameter mappings or "
            "override lists, [{model.lr: 0.01}, [experiment=baseline]]"
        )
    checks: list[tuple[str, Any, bool, str]] = [
        (
            "n_trials",
            conf.n_trials if conf.n_trials <= MAX_N_TRIALS else "a larger number",
            1 <= conf.n_trials <= MAX_N_TRIALS,
            f"a study total from 1 to {MAX_N_TRIALS:,}",
        ),
        ("n_jobs", conf.n_jobs, conf.n_jobs >= 1, "trials run at once, at least 1"),
        (
            "timeout",
            conf.timeout,
            conf.timeout is None or conf.timeout > 0,
            "seconds > 0, or null for no limit",
        ),
        (
            "trial_timeout",
            conf.trial_timeout,
            conf.trial_timeout is None or conf.trial_timeout > 0,
            "seconds > 0 one trial may run, or null for no limit",
        ),
        (
            "max_failure_rate",
            conf.max_failure_rate,
            0.0 <= conf.max_failure_rate <= 1.0,
            "a fraction of this run's trials between 0.0 and 1.0",
        ),
        (
            "threads_per_worker",
            conf.threads_per_worker,
            conf.threads_per_worker is None or conf.threads_per_worker >= 1,
            "at least 1, or null for cores // n_jobs",
        ),
        ("devices_per_trial", conf.devices_per_trial, conf.devices_per_trial >= 0, "0 or more"),
        ("max_retries", conf.max_retries, conf.max_retries >= 0, "0 or more"),
        (
            "heartbeat_interval",
            conf.heartbeat_interval,
            conf.heartbeat_interval >= 0.1,
            "seconds >= 0.1 (each beat is a write to the storage per running trial)",
        ),
        (
            "heartbeat_grace",
            conf.heartbeat_grace,
            conf.heartbeat_grace > conf.heartbeat_interval,
            f"seconds > heartbeat_interval ({conf.heartbeat_interval}), or live trials are "
            "taken for lost",
        ),
    ]
    if not isinstance(conf.export_best, bool):
        try:
            check_target(Path(str(conf.export_best)))
        except ExportError as error:
            raise StudyConfigError(f"hydra.sweeper.export_best: {error}") from None
    for key, value, ok, expected in checks:
        if not ok:
            raise StudyConfigError(f"hydra.sweeper.{key}={value}: expected {expected}")
    seed = (conf.sampler or {}).get("seed") if hasattr(conf.sampler, "get") else None
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise StudyConfigError(
            f"hydra.sweeper.sampler.seed={seed!r}: expected an integer (or null for a random seed)"
        )


def default_study_name(config: DictConfig) -> str:
    """The study a command writes to when ``study_name`` is unset: named after its sweep
    config (``sweep=mlp_digits``), else its experiment, else the app, so that running the same
    command again resumes the same study."""
    choices = config.hydra.runtime.choices
    return str(choices.get("sweep") or choices.get("experiment") or config.hydra.job.name)


def study_name_of(conf: Any, config: DictConfig) -> str:
    """The sweep's study: ``study_name`` checked, else ``default_study_name`` made safe; with
    ``export_best: true``, one its export can be selected by."""
    name = (
        check_study_name(conf.study_name)
        if conf.study_name
        else safe_study_name(default_study_name(config))
    )
    if conf.export_best is True:
        check_exported_name(name)
    return name


def is_safe_study_name(name: str) -> bool:
    """Whether ``name`` is one path component a sweep dir and an export may be named by."""
    return bool(_SAFE_NAME.match(name)) and name not in (".", "..")


def check_study_name(name: str) -> str:
    """``name`` if it is one safe path component (it names the sweep dir and the exported
    ``<name>_best.yaml``), else an error naming ``study_name`` with a name that would do."""
    if is_safe_study_name(name):
        return name
    suggestion = safe_study_name(name)
    raise StudyConfigError(
        f"hydra.sweeper.study_name={name!r}: a study name is used as a directory and file name, "
        "so it must be one path component of letters, digits and . _ - + = @ , (no '/', "
        f"spaces, or leading '.'); e.g. hydra.sweeper.study_name={suggestion}"
    )


def check_exported_name(study_name: str) -> None:
    """``export_best: true`` writes ``experiment/<study>_best.yaml``: a study name Hydra's
    command line cannot select it by (``a,b``: a sweep) is refused before the first trial, not
    found out after the last."""
    try:
        check_target(Path("experiment") / f"{study_name}_best.yaml")
    except ExportError as error:
        raise StudyConfigError(
            f"hydra.sweeper.study_name={study_name!r} with export_best: {error}"
        ) from None


def safe_study_name(name: str) -> str:
    """``name`` with every character a path component must not have replaced by ``_``."""
    safe = re.sub(r"[^\w.+=@,-]", "_", name).lstrip("._-+=@,")
    return safe or "study"
