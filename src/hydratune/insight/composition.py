"""A trial's composition read back from its saved ``.hydra/``: where its configs came from,
its group choices as an experiment's defaults list, and the values those choices do not give
(``export``'s experiment file is written from these)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from optuna.trial import FrozenTrial

from hydratune import compat


def config_dirs(hydra: DictConfig, told: bool = True) -> list[Path]:
    """The directories of the trial's config sources, in search order: ``file://`` ones and
    ``pkg://`` ones (an installed app, ``hydratune`` itself: ``pkg://hydratune.conf``) alike;
    without ``told``, only those the app searches by itself (not ``--config-dir``)."""
    dirs = []
    for source in hydra.runtime.get("config_sources", []):
        if not told and source.get("provider") == "command-line":
            continue
        found = source_dir(source)
        if found is not None:
            dirs.append(found)
    return dirs


def source_dir(source: DictConfig) -> Path | None:
    """The directory of a ``file://`` or ``pkg://`` config source (None for others)."""
    path = str(source.get("path") or "")
    if source.get("schema") == "file" and path:
        return Path(path)
    if source.get("schema") == "pkg" and path:
        return _package_dir(path.replace("/", "."))
    return None


def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def group_overrides(
    hydra: DictConfig, skip_group: str = "experiment"
) -> tuple[list[dict[str, str | None]], list[str]]:
    """The trial's group choices as ``override /<group>: <choice>`` defaults-list entries.

    Leaves out Hydra's own groups (``hydra/...``), ``skip_group`` and groups whose chosen
    config is a ``# @package _global_`` file. Hydra expands a defaults list from its end, so an
    experiment can only override groups listed before it in the primary config; a group after
    it that the trial changed is returned as a command-line override instead (second list).
    """
    sources = config_dirs(hydra)
    order, optional = _primary_defaults(sources, str(hydra.job.get("config_name") or ""))
    after = set(order[order.index(skip_group) + 1 :]) if skip_group in order else set()
    entries: list[dict[str, str | None]] = []
    command_line: list[str] = []
    for group, choice in hydra.runtime.choices.items():
        if group.startswith("hydra/") or group == skip_group:
            continue
        if choice is not None and _is_global_package(group, str(choice), sources):
            continue
        if group in optional and not _config_file(group, str(choice), sources):
            continue  # ``optional local: default``, whose file is absent (gitignored): unused
        if group.split("/")[0] in after:
            if choice is not None:
                command_line.append(f"{group}={choice}")
            continue
        entries.append({f"override /{group}": None if choice is None else str(choice)})
    return entries, command_line


def _primary_defaults(sources: list[Path], config_name: str) -> tuple[list[str], set[str]]:
    """The groups of the primary config's defaults list, in order, and those marked
    ``optional`` (both empty if it is not a file). ``config_name`` may end in ``.yaml``, as
    lightning-hydra-template's ``@hydra.main(config_name="train.yaml")`` gives it."""
    name = config_name.removesuffix(".yaml")
    for source in sources:
        path = source / f"{name}.yaml"
        if name and path.is_file():
            defaults = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("defaults")
            groups, optional = [], set()
            for entry in defaults or []:
                if isinstance(entry, dict):
                    for key in entry:
                        words = str(key).split()
                        groups.append(words[-1].split("@")[0].lstrip("/"))
                        if words[0] == "optional":
                            optional.add(groups[-1])
            return groups, optional
    return [], set()


def _config_file(group: str, choice: str, sources: list[Path]) -> Path | None:
    """The file of ``group``'s config ``choice`` in the first of ``sources`` that has it."""
    for source in sources:
        path = source / group / f"{choice.removesuffix('.yaml')}.yaml"
        if path.is_file():
            return path
    return None


def _is_global_package(group: str, choice: str, sources: list[Path]) -> bool:
    path = _config_file(group, choice, sources)
    for line in path.read_text(encoding="utf-8").splitlines() if path else []:
        if not line.startswith("#"):
            break
        if line.lstrip("# ").startswith("@package") and "_global_" in line:
            return True
    return False


def set_by_trial(
    config: DictConfig,
    hydra: DictConfig | None,
    overrides: list[dict[str, str | None]],
    later_groups: list[str],
    trial: FrozenTrial,
) -> tuple[DictConfig | dict[str, Any], list[str]]:
    """The values the experiment sets after its group choices: those of the trial's ``config``
    that its groups alone do not compose to (what its sweep, search space and command line
    set), and every searched parameter. So a group chosen on the command line (``trainer=gpu``,
    ``logger=csv``) applies as with any experiment, as lightning-hydra-template's are written.
    Second, the keys the trial deleted (``~callbacks.early_stopping``) as command-line
    deletions: a config can add and change keys, never remove them. The whole config and no
    deletions when the groups cannot be composed again (a config dir moved since)."""
    if hydra is None:
        return config, []
    groups = [
        f"{group}={choice}" if choice is not None else f"~{group}"
        for entry in overrides
        for group, choice in ((k.removeprefix("override /"), c) for k, c in entry.items())
    ]
    try:
        sources = [dict(source) for source in hydra.runtime.get("config_sources", [])]
        name = str(hydra.job.get("config_name") or "")
        base = compat.compose_from_sources(sources, name, [*groups, *later_groups])
    except (HydraException, OmegaConfBaseException, ValueError, KeyError, OSError, ImportError):
        return config, []
    trained = OmegaConf.to_container(config, resolve=False)
    composed = OmegaConf.to_container(base, resolve=False)
    values = _beyond(composed, trained)
    for key in trial.params:  # a searched value that happens to be its group's default too
        _pin(values, trained, key.split("."))
    return values, [f"~{key}" for key in _deleted(composed, trained)]


def _beyond(base: Any, trained: Any) -> dict[str, Any]:
    """The keys of the mapping ``trained`` whose values ``base`` lacks or has otherwise."""
    values: dict[str, Any] = {}
    for key, value in trained.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            inner = _beyond(base[key], value)
            if inner:
                values[key] = inner
        elif key not in base or base[key] != value:
            values[key] = value
    return values


def _deleted(base: dict[str, Any], trained: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of ``base`` that ``trained`` lacks (a missing node once, not its keys)."""
    deleted = []
    for key, value in base.items():
        if key not in trained:
            deleted.append(f"{prefix}{key}")
        elif isinstance(value, dict) and isinstance(trained[key], dict):
            deleted += _deleted(value, trained[key], f"{prefix}{key}.")
    return deleted


def _pin(values: dict[str, Any], trained: dict[str, Any], path: list[str]) -> None:
    """Set ``path``'s value in ``trained`` into ``values`` too, when it is a value (a group's
    parameter names a node: it is a group choice)."""
    value: Any = trained
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None or isinstance(value, (dict, list)):
        return
    for key in path[:-1]:
        values = values.setdefault(key, {})
    values[path[-1]] = value
