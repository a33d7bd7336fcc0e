"""Where a command's sweep lives: its study, storage and metrics, read from the sweep dir's
``multirun.yaml`` or given on the command line, and where the command writes its files."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import typer
from omegaconf import DictConfig, OmegaConf

from hydratune.errors import StudyConfigError
from hydratune.insight import ExportError, read_config
from hydratune.storage import load_study, storage_url
from hydratune.sweep import is_safe_study_name

log = logging.getLogger(__name__)


@dataclass
class SweepRef:
    """Where a sweep's study lives, read from its sweep dir (or given on the command line)."""

    study: optuna.Study
    url: str
    sweep_dir: Path | None
    metric_names: list[str] | None


def resolve_sweep(
    sweep_dir: Path | None, storage: str | None = None, study_name: str | None = None
) -> SweepRef:
    """Open the study of ``sweep_dir`` (from its ``multirun.yaml``), or the one named by
    ``storage`` and ``study_name``; either given on the command line wins.

    ``StudyConfigError`` when there is none to open: its message says why on one line (no
    such dir, no such study, a storage that is no journal), for the command to print as is.
    """
    settings: dict[str, Any] = {}
    if sweep_dir is not None:
        if not sweep_dir.is_dir():
            raise StudyConfigError(
                f"no directory {sweep_dir}; give the sweep's dir (e.g. outputs/sweeps/<study>) "
                "or --storage and --study"
            )
        settings = read_sweep_settings(sweep_dir)
    name = study_name or settings.get("study_name")
    if not name:
        raise StudyConfigError("no study: give a sweep dir (with multirun.yaml) or --study")
    if storage is not None:
        url = storage_url(storage, Path.cwd())
    elif "url" in settings:
        url = settings["url"]
    else:
        url = storage_url(None, Path.cwd())
    return SweepRef(load_study(url, name), url, sweep_dir, settings.get("metric_names"))


def read_sweep_settings(sweep_dir: Path) -> dict[str, Any]:
    """Study name, storage URL and metric names from the sweep's ``multirun.yaml``.

    The storage setting is resolved against the directory the sweep ran in; the results
    file's storage is only a fallback, since its password is masked.
    """
    settings: dict[str, Any] = {}
    multirun = sweep_dir / "multirun.yaml"
    config = _load_yaml(multirun)
    results = _load_yaml(sweep_dir / "optimization_results.yaml")
    sweeper = OmegaConf.select(config, "hydra.sweeper", default=None) if config else None
    if sweeper:  # a truncated file may lack it: optimization_results.yaml names the study
        settings["study_name"] = _select(sweeper, "study_name")
        stored = _stored_storage(sweeper, multirun)
        cwd = OmegaConf.select(config, "hydra.runtime.cwd", default=None)
        if cwd is not None or _absolute(stored):  # a file cut before runtime.cwd: never guess
            settings["url"] = storage_url(stored, _where_it_ran_now(sweep_dir, cwd, results))
    if config:
        metric = _select(config, "objective.metric")
        if metric is not None:
            settings["metric_names"] = [metric] if isinstance(metric, str) else list(metric)
    if results:
        content = OmegaConf.to_container(results)
        assert isinstance(content, dict)
        if not settings.get("study_name"):
            settings["study_name"] = content.get("study_name")
        stored = content.get("storage")
        if "url" not in settings and stored and "***" not in str(stored):
            settings["url"] = str(stored)
    if not settings.get("study_name"):
        settings.pop("study_name", None)
    return settings


def _where_it_ran_now(sweep_dir: Path, cwd: str | None, results: Any) -> str:
    """The directory the sweep ran in (``cwd``), where it lies now: a project copied or moved
    with its sweep dir (``cp -a project copy``) names its own relative storage, not the
    original's. Told from where the results put the sweep dir then (``best_config``)."""
    recorded = _select(results, "best_config") if results is not None else None
    if cwd is None or not recorded:
        return cwd or "/"
    try:
        inside = Path(recorded).parent.relative_to(cwd).parts  # the sweep dir, from cwd
    except ValueError:  # the sweep dir lay outside the directory it ran in: it moved alone
        return cwd
    now = sweep_dir.resolve().parts
    if not inside or now[len(now) - len(inside) :] != inside:
        return cwd
    return str(Path(*now[: len(now) - len(inside)]))


def _stored_storage(sweeper: Any, multirun: Path) -> str | None:
    """The sweep's storage setting with its ``${oc.env:...}`` resolved now, from this shell."""
    try:
        value = OmegaConf.select(sweeper, "storage", default=None)
    except Exception as error:  # an environment variable the storage URL needs is not set
        raise StudyConfigError(
            f"hydra.sweeper.storage in {multirun}: {str(error).splitlines()[0]}; set it in this "
            "shell (the sweep's password is never stored), or pass --storage"
        ) from None
    return None if value is None else str(value)


def _absolute(storage: str | None) -> bool:
    """Whether the storage setting names the same study from any directory."""
    return storage is not None and ("://" in storage or Path(storage).is_absolute())


def _load_yaml(path: Path) -> DictConfig | None:
    """The config in ``path``, or None when it is missing or unreadable (cut short by a kill,
    saved in another encoding), said on one line."""
    if not path.is_file():
        return None
    try:
        return read_config(path)
    except ExportError as error:
        log.warning("%s; using what else the sweep dir says", error)
        return None


def _select(config: Any, key: str) -> Any:
    try:
        value = OmegaConf.select(config, key, default=None)
    except Exception:  # an interpolation that only resolves inside the app (${hydra:...})
        return None
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


@contextlib.contextmanager
def output_dir(ref: SweepRef, out: Path | None, name: str) -> Iterator[Path]:
    """``out``, or ``<sweep dir>/<name>``, created now: a place it cannot be made is a bad
    ``--out`` before any work, not a traceback after it. A command that then refuses (or
    fails) leaves no folder it made behind while nothing was written in it."""
    if out is None and ref.sweep_dir is None and not is_safe_study_name(ref.study.study_name):
        raise typer.BadParameter(  # ../sweeps/other would write into another sweep's dir
            f"study {ref.study.study_name!r} is not one folder name, so it names no sweep dir "
            "here; give the folder to write in",
            param_hint="--out",
        )
    path = out or (ref.sweep_dir or Path("outputs") / "sweeps" / ref.study.study_name) / name
    made = [folder for folder in (path, *path.parents) if not folder.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file on the way (notes.txt/sub), a read-only sweep dir
        reason = error.strerror or error
        hint = "--out" if out is not None else "--out, to write elsewhere"
        raise typer.BadParameter(f"cannot create {path}: {reason}", param_hint=hint) from None
    try:
        yield path
    except BaseException:
        for folder in made:  # deepest first; one that holds something stays, with its parents
            try:
                folder.rmdir()
            except OSError:
                break
        raise
