"""Open (or resume) the study a sweep writes to: name, directions, sampler, pruner.

Storage URLs are ``hydratune.storage``'s; this module opens the study in one and checks that
the config can continue it (directions, search space) before any trial is written.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    check_distribution_compatibility,
)
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from hydratune import compat
from hydratune.attrs import GRID_QUEUED, OVERRIDES, TRANSFERRED_FROM, WARM_START_FROM
from hydratune.errors import StudyConfigError
from hydratune.optuna_classes import (
    SAMPLERS,
    WrappedSampler,
    constructed,
    optuna_class,
    optuna_kwargs,
)
from hydratune.space import SearchSpace, bare_key, on_step
from hydratune.sweep.failure_aware import failure_aware

log = logging.getLogger(__name__)


def sweep_directions(setting: Any, config: DictConfig) -> list[StudyDirection]:
    """The directions a sweep optimises: ``hydra.sweeper.direction``, or when it is unset the
    app's ``objective.direction`` (hydratune's task returns that metric), else ``minimize`` as
    hydra-optuna-sweeper. A sweep typed on the command line names no direction: it must still
    optimise the way the objective says; a setting that contradicts it, or names another
    number of directions than ``objective.metric`` has metrics, is refused."""
    objective = OmegaConf.select(config, "objective.direction", default=None)
    if setting is None:
        return directions_of("minimize" if objective is None else objective, "objective.direction")
    directions = directions_of(setting)
    metric = OmegaConf.select(config, "objective.metric", default=None)  # hydratune's task
    n_metrics = len(directions) if metric is None else 1 if isinstance(metric, str) else len(metric)
    if n_metrics != len(directions):
        raise StudyConfigError(
            f"hydra.sweeper.direction has {len(directions)} direction(s) but objective.metric "
            f"names {n_metrics} metric(s); give one direction per metric (e.g. "
            "hydra.sweeper.direction: ${objective.direction})"
        )
    if objective is not None and directions != directions_of(objective, "objective.direction"):
        raise StudyConfigError(
            f"hydra.sweeper.direction={_names(directions)} contradicts "
            f"objective.direction={_names(directions_of(objective))}, the direction of the "
            "metric the task returns; leave hydra.sweeper.direction unset (it follows "
            "objective.direction) or change objective.direction"
        )
    return directions


def check_objective(config: DictConfig) -> None:
    """Refuse, before any write, an ``objective`` hydratune's task would refuse when each trial
    starts (``objective.mode=final``): every trial of the sweep would be spent on it."""
    node = OmegaConf.select(config, "objective", default=None)
    if isinstance(node, DictConfig) and "metric" in node:
        from hydratune.training import ObjectiveSpec  # the task's own check; Lightning, lazily

        ObjectiveSpec.from_config(node)  # a ConfigError: one line


def _names(directions: Sequence[StudyDirection]) -> str:
    names = [d.name.lower() for d in directions]
    return names[0] if len(names) == 1 else f"[{','.join(names)}]"


def directions_of(direction: Any, key: str = "hydra.sweeper.direction") -> list[StudyDirection]:
    """``hydra.sweeper.direction`` (one name or a list) as Optuna directions; ``key``: the
    setting it came from, named when it is wrong."""
    listed = isinstance(direction, Sequence) and not isinstance(direction, str)
    names = list(direction) if listed else [direction]
    out = []
    for name in names:
        word = str(name).lower()
        if word not in ("minimize", "maximize"):
            raise StudyConfigError(f"{key}: '{name}' is not 'minimize' or 'maximize'")
        out.append(StudyDirection.MINIMIZE if word == "minimize" else StudyDirection.MAXIMIZE)
    if not out:
        raise StudyConfigError(f"{key}: the list is empty")
    return out


class AskTellGridSampler(optuna.samplers.GridSampler):
    """``GridSampler`` for an ask/tell loop, which knows itself when the grid is used up.

    Optuna's calls ``study.stop()`` after the last grid point, which is an error outside
    ``study.optimize``.
    """

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
        pass


def build_sampler(
    options: Any, space: SearchSpace, seed_offset: int = 0
) -> optuna.samplers.BaseSampler:
    """The sampler ``hydra.sweeper.sampler`` describes; the grid gets the space's grid.

    ``seed_offset`` (the number of trials already in the study) shifts a set seed, so a resumed
    sweep is as reproducible as a fresh one without drawing the same configurations again.
    A set seed also makes the sampler a ``WorkerSeededSampler``: workers sharing the study
    each draw from their own stream.
    """
    cls = optuna_class(options, SAMPLERS, "hydra.sweeper.sampler")
    kwargs = optuna_kwargs(cls, options, "hydra.sweeper.sampler")
    if cls is optuna.samplers.GridSampler:
        return AskTellGridSampler(space.grid(), **kwargs)
    seed = kwargs.pop("seed", None)

    def make(**seeded: Any) -> optuna.samplers.BaseSampler:
        sampler = constructed(cls, {**kwargs, **seeded}, "hydra.sweeper.sampler")
        return DecimalStepSampler(failure_aware(sampler))

    if seed is None:
        return make()
    # wrapped: a seed near 2**32 - 1 shifted past it is still one NumPy takes
    return WorkerSeededSampler(lambda offset: make(seed=(seed + offset) % 2**32), seed_offset)


class DecimalStepSampler(WrappedSampler):
    """Every value drawn from a float ``range`` is one of the decimals Hydra's sweep gives
    (0.3, never 0.30000000000000004): Optuna's samplers compute ``low + k * step`` in binary
    floats, and the value they return is what the study stores and the job receives."""

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        drawn = self.base.sample_relative(study, trial, search_space)
        return {name: on_step(search_space.get(name), value) for name, value in drawn.items()}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        value = self.base.sample_independent(study, trial, param_name, param_distribution)
        return on_step(param_distribution, value)


class WorkerSeededSampler(WrappedSampler):
    """A seeded sampler whose stream is the seed's and the worker's: its seed is shifted by
    the number of the first trial this process runs.

    Workers that open one study together with the same ``sampler.seed`` would otherwise draw
    the same configurations. The first trial's number is this worker's identity: unique, as
    the storage hands out trial numbers atomically, and, for a single process, equal to the
    trials already in the study, so a single-process sweep draws exactly as before.
    """

    def __init__(self, make: Callable[[int], optuna.samplers.BaseSampler], offset: int) -> None:
        super().__init__(make(offset))
        self._make = make
        self._offset = offset
        self._started = False

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if not self._started:
            self._started = True
            if trial.number != self._offset:  # another worker took the numbers before it
                self.base = self._make(trial.number)
        self.base.before_trial(study, trial)


def _queue_grid(study: optuna.Study, sampler: AskTellGridSampler, created: bool) -> None:
    """Queue the grid once per study: by its creator, or by a later run with another sampler."""
    deadline = time.monotonic() + 30
    while not created and GRID_QUEUED not in study.user_attrs:
        if time.monotonic() > deadline:  # the study predates the grid: queue it now
            break
        time.sleep(0.1)  # another worker created the study and is queueing the grid
    if GRID_QUEUED in study.user_attrs:
        return
    grid = compat.grid_of(sampler)
    for values in itertools.product(*grid.values()):
        study.enqueue_trial(dict(zip(grid, values, strict=True)), skip_if_exists=not created)
    study.set_user_attr(GRID_QUEUED, True)


def ask_queued(study: optuna.Study) -> optuna.Trial | None:
    """The next waiting (queued) trial, or None if none is left.

    Like ``study.ask`` but never creates a fresh trial: Optuna takes a waiting trial atomically
    in every storage, which is what keeps workers on a grid from repeating a point.
    """
    return compat.pop_waiting_trial(study)


def trials_in_storage(storage: BaseStorage, study_name: str) -> list[FrozenTrial]:
    """The trials of ``study_name`` in ``storage``; none if the study does not exist yet."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return []
    return storage.get_all_trials(study_id, deepcopy=False)


COPIED = {WARM_START_FROM, TRANSFERRED_FROM}  # trials another study's search ran


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


def check_same_search(
    trials: Sequence[FrozenTrial],
    space: SearchSpace,
    is_group: Callable[[str], bool],
    study_name: str,
) -> None:
    """Refuse to continue a study another search made: the config groups its trials chose on
    their command line (``data=wine``, ``hparams_search=depth``; not searched) must be this
    sweep's. Otherwise both searches' values would mix in one study, and the best of either
    would be reported as this sweep's (every command-line sweep without ``sweep=`` shares the
    default study name, as every template search of one experiment does). Other values are
    not compared: a rerun may add a callback (``ConfiguredOptimizer``, a logger) or drop a
    setting that was there to debug. ``is_group``: ``TrialConfigFactory.is_group``."""
    own = [t for t in trials if OVERRIDES in t.user_attrs and not t.user_attrs.keys() & COPIED]
    if not own:
        return
    latest = max(own, key=lambda t: t.number)
    searched = {*latest.params, *space.distributions}  # a group searched now may be anything
    before = _fixed_choices(latest.user_attrs[OVERRIDES], is_group, searched)
    now = _fixed_choices(space.fixed, is_group, searched)
    if before == now:
        return
    differ = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    said = ", ".join(
        f"{k}={before.get(k, '<default>')} there, {k}={now.get(k, '<default>')} here"
        for k in differ
    )
    raise StudyConfigError(
        f"study '{study_name}' holds another search's trials ({said}; its trial "
        f"#{latest.number}): name a study for this one (hydra.sweeper.study_name=<new>), or "
        "give the same groups to continue that one"
    )


def _fixed_choices(
    lines: Sequence[str], is_group: Callable[[str], bool], searched: Collection[str]
) -> dict[str, str]:
    """The config-group choices among override ``lines`` that are not searched."""
    return {
        key: line.split("=", 1)[1]
        for line in lines
        if "=" in line and (key := bare_key(line)) not in searched and is_group(key)
    }


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
    # loaded first: creating an existing study still appends a record to a journal
    try:
        study = optuna.load_study(
            storage=storage, study_name=study_name, sampler=sampler, pruner=pruner
        )
        created = False
    except KeyError:
        try:
            study = optuna.create_study(
                storage=storage,
                study_name=study_name,
                directions=list(directions),
                sampler=sampler,
                pruner=pruner,
            )
            created = True
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it meanwhile
            study = optuna.load_study(
                storage=storage, study_name=study_name, sampler=sampler, pruner=pruner
            )
            created = False
    # checked before the grid is queued: a rejected command leaves the study as it was
    if list(study.directions) != list(directions):
        stored = [d.name.lower() for d in study.directions]
        raise StudyConfigError(
            f"hydra.sweeper.direction: study '{study_name}' was created with {stored}; "
            "keep that direction or set a new hydra.sweeper.study_name"
        )
    if isinstance(sampler, AskTellGridSampler):
        _queue_grid(study, sampler, created)
    return study
