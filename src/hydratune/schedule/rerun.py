"""A scheduled run's saved config as its configuration trained from scratch: what reruns it.

A run that a schedule planned gets three more values than its configuration
(``CheckpointSchedule.overrides``): the epochs to reach (``resource_key``), the checkpoint it
continues from (``load_key``) and where it saves at its pause (``save_key``). Its
``.hydra/config.yaml`` keeps them, and the checkpoint it continued from is deleted once used,
so that config no longer runs. ``best_config.yaml``, the exported experiment and ``hydratune
rerun`` take the config with those keys set back to the sweep's own values (its
``multirun.yaml``): the configuration trained from its first epoch to the last. Under ASHA and
Hyperband that is the run the schedule cut into pieces (a continued run equals an
uninterrupted one with the same seed); PBT may have changed the values on the way
(``values_changed``), and then training the last ones from scratch is another run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial

from hydratune.schedule.lineage import resumed_number

SWEEP_CONFIG = "multirun.yaml"  # the sweep's own config, written in its sweep dir


def from_scratch(config: DictConfig, hydra: DictConfig | None, sweep_dir: Path) -> DictConfig:
    """``config`` (a scheduled run's, with its job's ``hydra`` node) with the keys its schedule
    set back to their values in the sweep's config; a key the sweep dir no longer says is
    dropped to null (the checkpoint keys) or kept (the epochs: a complete run's are the last)."""
    keys, resource_key = _schedule_keys(hydra)
    sweep = _plain(Path(sweep_dir) / SWEEP_CONFIG) if keys else None
    for key in keys:
        if OmegaConf.select(config, key, default=_ABSENT) is _ABSENT:
            continue
        value = _at(sweep, key)
        if value is _ABSENT and key == resource_key:
            continue
        OmegaConf.update(config, key, None if value is _ABSENT else value, merge=False)
    return config


def scratch_overrides(config: DictConfig, hydra: DictConfig | None) -> list[str]:
    """The overrides that make a scheduled run's saved config train its configuration from
    scratch, for an app that reruns it itself (``config``: ``from_scratch``'s); none for a run
    no schedule planned."""
    keys, _ = _schedule_keys(hydra)
    values = [(key, OmegaConf.select(config, key, default=_ABSENT)) for key in keys]
    return [f"{k}={'null' if v is None else v}" for k, v in values if v is not _ABSENT]


def _schedule_keys(hydra: DictConfig | None) -> tuple[list[str], str | None]:
    """The keys a schedule sets in a run's config, as the job's ``hydra`` node names them (the
    checkpoint it loads, where it saves, the epochs to reach), and the last of them apart."""
    scheduler = OmegaConf.select(hydra, "sweeper.scheduler") if hydra is not None else None
    if scheduler is None or scheduler.get("name", "none") == "none":
        return [], None
    resource_key = scheduler.get("resource_key") or OmegaConf.select(hydra, "sweeper.resource_key")
    keys = (scheduler.get("load_key"), scheduler.get("save_key"), resource_key)
    return [k for k in keys if k], resource_key


def values_changed(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> str | None:
    """What a rerun of ``trial`` from scratch is not, when a run its weights came through
    trained with other values (a PBT explore): a sentence naming the chain; else None.
    ``trials``: the study's, in number order."""
    chain, number = [trial.number], resumed_number(trial)
    while number is not None and number not in chain and number < len(trials):
        chain.insert(0, number)
        number = resumed_number(trials[number])
    if all(trials[n].params == trial.params for n in chain[:-1]):
        return None
    runs = " -> ".join(f"#{n}" for n in chain)
    return (
        f"trial #{trial.number}'s weights came through runs {runs}, trained with other values "
        "(PBT explored them); its config trains its last values from scratch, which is "
        "another run: expect another value"
    )


_ABSENT = object()


def _plain(path: Path) -> Any:
    """The file's YAML as plain containers, interpolations unresolved; None if unreadable."""
    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except (OSError, ValueError):
        return None


def _at(container: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(container, dict) or part not in container:
            return _ABSENT
        container = container[part]
    return container
