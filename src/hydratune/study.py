"""Open (or resume) the study a sweep writes to: storage, name, directions, sampler, pruner.

Storage forms accepted in ``hydra.sweeper.storage``:

- ``null``: the default, a journal file ``outputs/hydratune.journal`` under the directory the
  command runs in. Journal files are safe for many processes writing at once, and open in
  ``optuna`` CLI (``--storage-class JournalFileStorage``) and ``optuna-dashboard``;
- ``memory``: in-memory, gone when the sweep ends;
- a path (``studies/mnist.journal``): a journal file there;
- a SQLAlchemy URL (``sqlite:///x.db``, ``postgresql://user:pw@host/db``): Optuna's RDB storage.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    check_distribution_compatibility,
)
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from hydratune.schema import PRUNERS, SAMPLERS, optuna_kwargs
from hydratune.search_space import SearchSpace

log = logging.getLogger(__name__)

DEFAULT_STORAGE = "outputs/hydratune.journal"
MEMORY = "memory"


class StudyConfigError(ValueError):
    """A ``hydra.sweeper`` setting that cannot open the study it names."""


_PASSWORD_IN_URL = re.compile(r"(\b[\w+.-]+://[^:/@\s]*:)([^@\s]+)(@)")


def mask_url(url: str | None) -> str | None:
    """The storage URL (or any text holding URLs) with passwords replaced by ``***``."""
    return None if url is None else _PASSWORD_IN_URL.sub(r"\1***\3", url)


def storage_url(storage: str | None, cwd: str | Path) -> str:
    """The storage the setting names, with the default and relative paths made absolute."""
    if storage is None:
        return str(Path(cwd) / DEFAULT_STORAGE)
    storage = str(storage)
    if storage in (MEMORY, ":memory:") or "://" in storage:
        return storage
    return str(Path(cwd) / storage)


def open_storage(url: str) -> BaseStorage:
    """An Optuna storage for a URL from ``storage_url``; fails fast if it cannot be opened."""
    if url in (MEMORY, ":memory:"):
        return InMemoryStorage()
    try:
        if "://" in url:
            return _rdb_storage(url)
        path = Path(url)
        if path.suffix in {".db", ".sqlite", ".sqlite3"}:
            raise StudyConfigError(
                f"hydra.sweeper.storage: '{url}' looks like SQLite; write it as a URL, "
                f"sqlite:///{path}, or use a .journal file"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    except StudyConfigError:
        raise
    except Exception as error:
        # the driver's message may quote the URL: mask it too
        raise StudyConfigError(
            mask_url(
                f"hydra.sweeper.storage: cannot open '{url}': {type(error).__name__}: {error}. "
                "Check the URL, the server and its credentials, or leave storage null for a "
                "journal file under outputs/."
            )
        ) from None


def _rdb_storage(url: str, attempts: int = 5) -> RDBStorage:
    """RDB storage; workers starting together on a fresh database race to create its tables,
    and the losers' errors (a duplicate table or type) go away on a second try."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts - 1):
        try:
            return RDBStorage(url)
        except (IntegrityError, ProgrammingError):
            time.sleep(0.2 * (attempt + 1))
    return RDBStorage(url)


def directions_of(direction: Any) -> list[StudyDirection]:
    """``hydra.sweeper.direction`` (one name or a list) as Optuna directions."""
    names = [direction] if isinstance(direction, str) else list(direction)
    out = []
    for name in names:
        key = str(name).lower()
        if key not in ("minimize", "maximize"):
            raise StudyConfigError(
                f"hydra.sweeper.direction: '{name}' is not 'minimize' or 'maximize'"
            )
        out.append(StudyDirection.MINIMIZE if key == "minimize" else StudyDirection.MAXIMIZE)
    if not out:
        raise StudyConfigError("hydra.sweeper.direction: the list is empty")
    return out


class AskTellGridSampler(optuna.samplers.GridSampler):
    """``GridSampler`` for an ask/tell loop, which knows itself when the grid is used up.

    Optuna's calls ``study.stop()`` after the last grid point, which is an error outside
    ``study.optimize``.
    """

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
        pass


def optuna_class(options: Any, classes: dict[str, type], where: str) -> type:
    """The Optuna class a sampler or pruner config's ``_target_`` names."""
    target = str(options["_target_"])
    for cls in classes.values():
        if target.endswith(f".{cls.__name__}"):
            return cls
    raise StudyConfigError(f"{where}: unknown class '{target}'; known: {', '.join(classes)}")


def build_sampler(
    options: Any, space: SearchSpace, seed_offset: int = 0
) -> optuna.samplers.BaseSampler:
    """The sampler ``hydra.sweeper.sampler`` describes; the grid gets the space's grid.

    ``seed_offset`` (the number of trials already in the study) shifts a set seed, so a resumed
    sweep is as reproducible as a fresh one without drawing the same configurations again.
    """
    cls = optuna_class(options, SAMPLERS, "hydra.sweeper.sampler")
    kwargs = optuna_kwargs(cls, options, "hydra.sweeper.sampler")
    if kwargs.get("seed") is not None:
        kwargs["seed"] += seed_offset
    if cls is optuna.samplers.GridSampler:
        return AskTellGridSampler(space.grid(), **kwargs)
    return cls(**kwargs)


def build_pruner(options: Any) -> optuna.pruners.BasePruner:
    """The pruner ``hydra.sweeper.pruner`` describes (``nop`` by default)."""
    if options is None:
        return optuna.pruners.NopPruner()
    cls = optuna_class(options, PRUNERS, "hydra.sweeper.pruner")
    return cls(**optuna_kwargs(cls, options, "hydra.sweeper.pruner"))


GRID_QUEUED = "grid_queued"


def _queue_grid(study: optuna.Study, sampler: AskTellGridSampler, created: bool) -> None:
    """Queue the grid once per study: by its creator, or by a later run with another sampler."""
    deadline = time.monotonic() + 30
    while not created and GRID_QUEUED not in study.user_attrs:
        if time.monotonic() > deadline:  # the study predates the grid: queue it now
            break
        time.sleep(0.1)  # another worker created the study and is queueing the grid
    if GRID_QUEUED in study.user_attrs:
        return
    names = list(sampler._search_space)
    for values in itertools.product(*sampler._search_space.values()):
        study.enqueue_trial(dict(zip(names, values, strict=True)), skip_if_exists=not created)
    study.set_user_attr(GRID_QUEUED, True)


def ask_queued(study: optuna.Study) -> optuna.Trial | None:
    """The next waiting (queued) trial, or None if none is left.

    Like ``study.ask`` but never creates a fresh trial: Optuna takes a waiting trial atomically
    in every storage, which is what keeps workers on a grid from repeating a point.
    """
    trial_id = study._pop_waiting_trial_id()  # Optuna's own atomic pop, as study.ask uses it
    if trial_id is None:
        return None
    return optuna.Trial(study, trial_id)


def trials_in_storage(storage: BaseStorage, study_name: str) -> list[FrozenTrial]:
    """The trials of ``study_name`` in ``storage``; none if the study does not exist yet."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return []
    return storage.get_all_trials(study_id, deepcopy=False)


def check_space_change(trials: Sequence[FrozenTrial], space: SearchSpace) -> None:
    """Compare the search space with the one the study's trials were drawn from.

    A change Optuna cannot continue with (a different ``choice`` list, int vs float) is an
    error naming the parameter; a compatible one (a widened interval) is a warning.
    """
    stored: dict[str, BaseDistribution] = {}
    for trial in trials:
        stored.update(trial.distributions)
    for name, new in space.distributions.items():
        old = stored.get(name)
        if old is None or old == new:
            continue
        try:
            check_distribution_compatibility(old, new)
            if isinstance(old, CategoricalDistribution) and old.choices != new.choices:
                raise ValueError("the choice list changed")
        except ValueError as error:
            raise StudyConfigError(
                f"hydra.sweeper.params.{name}: the study's trials used {old}, the config now "
                f"gives {new} ({error}). Optuna cannot continue this study with it: restore "
                "the old expression, or start a new study with hydra.sweeper.study_name=<new>"
            ) from None
        log.warning("%s changed from %s to %s; the study continues with it", name, old, new)


def open_study(
    storage: BaseStorage,
    study_name: str,
    directions: Sequence[StudyDirection],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """Create the study, or load it if it exists; its directions must match the config's.

    With the grid sampler, the process that creates the study queues every grid point as a
    waiting trial; each worker then takes points atomically from the queue, so workers sharing
    the study never evaluate the same point twice.
    """
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            directions=list(directions),
            sampler=sampler,
            pruner=pruner,
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(
            storage=storage, study_name=study_name, sampler=sampler, pruner=pruner
        )
        created = False
    if isinstance(sampler, AskTellGridSampler):
        _queue_grid(study, sampler, created)
    if list(study.directions) != list(directions):
        stored = [d.name.lower() for d in study.directions]
        raise StudyConfigError(
            f"hydra.sweeper.direction: study '{study_name}' was created with {stored}; "
            "keep that direction or set a new hydra.sweeper.study_name"
        )
    return study
