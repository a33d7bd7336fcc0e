"""Steer a sweep with what is already known: enqueue chosen points, warm-start from a study.

- ``enqueue_trials``: the sweep YAML's ``enqueue:`` list, evaluated first. Each item is either
  a mapping of search-space parameters (``{model.optimizer.lr: 0.003, model.n_layers: 2}``;
  the parameters it leaves out are sampled) or a list of overrides (``[experiment=mlp_digits]``)
  that is composed like a trial and read back at every searched key, so a hand-tuned
  experiment becomes a trial of this sweep. Points the study has already evaluated or queued
  are skipped, so a resumed sweep does not queue them again.
- ``warm_start``: copy the finished trials of another study whose parameters fit this
  sweep's space, so the sampler starts from them instead of from scratch.

Both check everything against the search space before the first trial and say what they
skipped and why.

Example (the sweep config)::

    hydra:
      sweeper:
        enqueue:
          - {model.optimizer.lr: 0.002, model.n_layers: 2}
          - [experiment=mlp_digits]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.study import StudyDirection
from optuna.trial import TrialState

from hydratune.attrs import ENQUEUED_FROM, WARM_START_FROM
from hydratune.errors import StudyConfigError
from hydratune.space import SearchSpace, format_value, is_sequence
from hydratune.steering import (
    SteeringError,
    fit_value,
    params_from_mapping,
)
from hydratune.storage import StudyNotFoundError, load_study, mask_url

log = logging.getLogger(__name__)

Compose = Callable[[Sequence[str]], DictConfig]


@dataclass
class EnqueuedTrial:
    """One ``enqueue`` item: the parameters it became and whether it was queued."""

    index: int
    source: str  # the item as written, for logs
    params: dict[str, Any]
    enqueued: bool  # False: the study already has (or queues) a trial with these parameters
    sampled: dict[str, str] = field(default_factory=dict)  # param -> why the sampler picks it


@dataclass
class WarmStart:
    """What ``warm_start`` copied and what it left out, with the reason per trial."""

    source: str
    copied: int = 0
    already_copied: int = 0  # copied by an earlier run of the same sweep
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (trial number, reason)


def plan_enqueue(
    space: SearchSpace, items: Iterable[Any], compose: Compose | None = None
) -> list[EnqueuedTrial]:
    """Check each item of the sweep's ``enqueue:`` list and turn it into parameters; nothing is
    written, so a bad item stops the sweep before its study is touched.

    ``compose(overrides)`` returns the composed config of a trial with those overrides and
    ``hydra.runtime.choices`` (in the sweeper: ``lambda o: loader.load_sweep_config(config,
    list(o))``); needed only for items that are override lists. The space's fixed overrides
    come first, so an item is composed exactly as a trial of this sweep would be.

    Raises ``SteeringError`` for an item that names no searched parameter, a value outside
    its distribution, or an item of another shape.
    """
    plans = []
    for index, item in enumerate(items):
        where = f"hydra.sweeper.enqueue[{index}]"
        if isinstance(item, Mapping):
            params = params_from_mapping(space, _plain(item), where)
            sampled = {k: "not given" for k in space.distributions if k not in params}
            source = ", ".join(f"{k}={format_value(v)}" for k, v in params.items())
        elif isinstance(item, str) or is_sequence(item):
            overrides = [item] if isinstance(item, str) else [str(o) for o in _plain(item)]
            if compose is None:
                raise SteeringError(f"{where}: override lists need a compose function")
            params, sampled = params_from_overrides(space, overrides, compose, where)
            source = " ".join(overrides)
        else:
            raise SteeringError(
                f"{where}: expected a mapping of parameters or a list of overrides, got "
                f"{type(item).__name__} {item!r}"
            )
        plans.append(EnqueuedTrial(index, source, params, False, sampled))
    return plans


def enqueue_trials(study: optuna.Study, plans: list[EnqueuedTrial]) -> list[EnqueuedTrial]:
    """Queue one trial per planned item (``plan_enqueue``), skipping points the study already
    has or queues; returns the plans with ``enqueued`` set."""
    for plan in plans:
        before = len(study.get_trials(deepcopy=False))
        study.enqueue_trial(
            plan.params, user_attrs={ENQUEUED_FROM: plan.source}, skip_if_exists=True
        )
        plan.enqueued = len(study.get_trials(deepcopy=False)) > before
        state = "queued" if plan.enqueued else "already in the study"
        log.info("enqueue[%d] %s: %s", plan.index, state, plan.source)
        for key, why in plan.sampled.items():
            if why != "not given":
                log.warning(
                    "enqueue[%d] %s: %s is left to the sampler: %s",
                    plan.index,
                    plan.source,
                    key,
                    why,
                )
    return plans


def params_from_overrides(
    space: SearchSpace, overrides: Sequence[str], compose: Compose, where: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Compose the trial config for ``overrides`` and read each searched key from it.

    A config-group parameter (``model``) reads the group's choice; a value key reads the
    composed value. A key the composed config lacks (``+added``), or whose value the space
    cannot produce (an experiment's ``weight_decay: 0.0`` for a log-scale interval), is left to
    the sampler; the second dict says which and why.
    """
    try:
        config = compose([*space.fixed, *overrides])
    except Exception as error:
        raise SteeringError(
            f"{where}: cannot compose {' '.join(overrides)}: {type(error).__name__}: {error}"
        ) from None
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    params: dict[str, Any] = {}
    sampled: dict[str, str] = {}
    for key in space.order():
        if not space.is_active(key, params):
            continue  # inactive for this point, as it would be in a trial
        pair = space.pairs.get(key)
        if pair is not None:
            row = [_read(config, choices, k) for k in pair.keys]
            value: Any = _ABSENT if _ABSENT in row else pair.label(row)
        else:
            value = _read(config, choices, key)
        if value is _ABSENT:
            sampled[key] = "not in the composed config"
            continue
        try:
            params[key] = fit_value(space, key, value, key)
        except SteeringError as error:
            sampled[key] = str(error)
    return params, sampled


_ABSENT = object()


def _read(config: DictConfig, choices: Mapping[str, Any], key: str) -> Any:
    """A config group's choice (``model``) or a composed value (``model.lr``), or _ABSENT."""
    bare = key.lstrip("+~").split("@", 1)[0]
    if bare in choices:
        return choices[bare]
    return _plain(OmegaConf.select(config, bare, default=_ABSENT, throw_on_missing=False))


@dataclass(frozen=True)
class WarmStartSource:
    """The study a warm start copies from, and how messages name it (password masked)."""

    study: optuna.Study
    name: str


def open_warm_start(
    storage_url: str, study_name: str, directions: Sequence[StudyDirection]
) -> WarmStartSource:
    """The warm start's source study, checked before the sweep's own study is opened: it
    exists, and it optimises in the sweep's ``directions``."""
    source_name = f"{study_name} in {mask_url(storage_url)}"
    try:
        source = load_study(storage_url, study_name)
    except StudyNotFoundError:
        raise SteeringError(f"hydra.sweeper.warm_start: no study {source_name}") from None
    except StudyConfigError as error:
        raise SteeringError(f"hydra.sweeper.warm_start: {error}") from None
    if list(source.directions) != list(directions):
        raise SteeringError(
            f"hydra.sweeper.warm_start: {source_name} has directions "
            f"{[d.name.lower() for d in source.directions]}, this sweep "
            f"{[d.name.lower() for d in directions]}"
        )
    return WarmStartSource(source, source_name)


def warm_start(
    study: optuna.Study,
    space: SearchSpace,
    source: WarmStartSource,
    states: Sequence[TrialState] = (TrialState.COMPLETE, TrialState.PRUNED),
) -> WarmStart:
    """Copy the finished trials of ``source`` (``open_warm_start``) that fit ``space``.

    A trial fits when it has exactly the parameters the space would give it (conditional ones
    only while their condition holds) and each value is one the distribution can produce. It
    is added with the space's distributions, its values, intermediate values and user
    attributes, plus ``warm_start_from: <study>#<number>``. Trials copied by an earlier run (a
    resumed sweep) are not copied again. Copied trials count toward ``n_trials`` like any
    finished trial.
    """
    source_name, study_name = source.name, source.study.study_name
    same_name = study_name == study.study_name
    if same_name and _first_trials(source.study) == _first_trials(study):
        raise SteeringError(f"hydra.sweeper.warm_start: {source_name} is this sweep's own study")
    report = WarmStart(source=source_name)
    done = {t.user_attrs.get(WARM_START_FROM) for t in study.get_trials(deepcopy=False)} - {None}
    for trial in source.study.get_trials(deepcopy=False, states=tuple(states)):
        tag = f"{study_name}#{trial.number}"
        if tag in done:
            report.already_copied += 1
            continue
        reason = space.misfit(trial.params)
        if reason is None and trial.state == TrialState.COMPLETE:
            values = trial.values or []
            if not values or not all(math.isfinite(v) for v in values):
                reason = f"its values {values} are not finite numbers"
        if reason is not None:
            report.skipped.append((trial.number, reason))
            continue
        study.add_trial(
            optuna.trial.create_trial(
                state=trial.state,
                values=trial.values,  # a pruned trial keeps its last intermediate value
                params=dict(trial.params),
                distributions={k: space.distributions[k] for k in trial.params},
                user_attrs={**trial.user_attrs, WARM_START_FROM: tag},
                intermediate_values=dict(trial.intermediate_values),
            )
        )
        report.copied += 1
    log.info(
        "warm start from %s: %d trial(s) copied, %d already copied, %d skipped",
        source_name,
        report.copied,
        report.already_copied,
        len(report.skipped),
    )
    for number, reason in report.skipped:
        log.info("  trial #%d skipped: %s", number, reason)
    return report


def _first_trials(study: optuna.Study) -> list[tuple[int, Any]]:
    """Enough to tell two handles of one study from two studies that share a name."""
    return [(t.number, t.datetime_start) for t in study.get_trials(deepcopy=False)[:5]]


def _plain(item: Any) -> Any:
    if OmegaConf.is_config(item):
        return OmegaConf.to_container(item, resolve=True)
    return item
