"""Sampler and pruner configs -> Optuna objects, by the Optuna classes' own signatures.

Used on both sides of a sweep: the sweeper builds its sampler and pruner, and every job builds
the sweep's pruner to decide on its own trial, in any process. ``WrappedSampler`` is the base
of the wrappers the sweep (``sweep/``) and steering (``steering/``) put around the sampler.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from hydratune.errors import StudyConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

SAMPLERS: dict[str, type] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
    "nsgaiii": optuna.samplers.NSGAIIISampler,
    "qmc": optuna.samplers.QMCSampler,
    "gp": optuna.samplers.GPSampler,
}

PRUNERS: dict[str, type] = {
    "nop": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "patient": optuna.pruners.PatientPruner,
}

# Arguments the sweeper supplies itself: never options in YAML.
SUPPLIED = {"self", "search_space", "args", "kwargs"}


def optuna_class(options: Any, classes: dict[str, type], where: str) -> type:
    """The Optuna class a sampler or pruner config's ``_target_`` names."""
    target = str(options["_target_"])
    for cls in classes.values():
        if target.endswith(f".{cls.__name__}"):
            return cls
    raise StudyConfigError(f"{where}: unknown class '{target}'; known: {', '.join(classes)}")


def build_pruner(options: Any) -> optuna.pruners.BasePruner:
    """The pruner ``hydra.sweeper.pruner`` describes (``nop`` by default)."""
    if options is None:
        return optuna.pruners.NopPruner()
    where = "hydra.sweeper.pruner"
    cls = optuna_class(options, PRUNERS, where)
    kwargs = optuna_kwargs(cls, options, where)
    if cls is optuna.pruners.HyperbandPruner:  # its brackets are SHA pruners made at the first
        # prune, whose constructor checks these; a trial would fail with ZeroDivisionError
        shared = {k: kwargs[k] for k in ("min_resource", "reduction_factor") if k in kwargs}
        constructed(optuna.pruners.SuccessiveHalvingPruner, shared, where)
    return constructed(cls, kwargs, where)


def constructed(cls: type, kwargs: dict[str, Any], where: str) -> Any:
    """``cls(**kwargs)``; Optuna checks a sampler's or pruner's options in its constructor, and
    what it refuses is a setting's error naming ``where`` (one line, no traceback)."""
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as error:
        raise StudyConfigError(f"{where}: {error}") from None


def resolve_pruner(options: Any, config: DictConfig, resource_key: str | None) -> Any:
    """The pruner options with hyperband's ``max_resource: auto`` read from ``resource_key``
    (``trainer.max_epochs``), so brackets fit the epochs a trial really runs."""
    if options is None or not str(options.get("_target_", "")).endswith("HyperbandPruner"):
        return options
    from omegaconf import OmegaConf

    budget = OmegaConf.select(config, resource_key) if resource_key else None
    if options.get("max_resource") != "auto" or not isinstance(budget, int):
        return options
    resolved = OmegaConf.create(OmegaConf.to_container(options, resolve=True))
    resolved.max_resource = budget
    return resolved


def optuna_kwargs(cls: type, options: Any, where: str) -> dict[str, Any]:
    """The constructor arguments of ``cls`` that ``options`` sets away from Optuna's defaults.

    Nested ``_target_`` nodes (``independent_sampler``, ``wrapped_pruner``) are instantiated;
    a string given for a callable argument (``gamma``, ``constraints_func``) is imported.
    """
    from hydra.utils import get_method, instantiate
    from omegaconf import OmegaConf

    values = OmegaConf.to_container(options, resolve=True) if options is not None else {}
    values.pop("_target_", None)
    params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if name not in params:
            known = ", ".join(n for n in params if n not in SUPPLIED)
            raise StudyConfigError(
                f"{where}.{name}: {cls.__name__} has no option '{name}'; it has: {known}"
            )
        param = params[name]
        if value == param.default or (value is None and param.default is not None):
            continue  # Optuna's own default
        if isinstance(value, dict) and "_target_" in value:
            value = instantiate(value)
        elif isinstance(value, str) and "Callable" in str(param.annotation):
            value = get_method(value)
        else:
            _check_type(f"{where}.{name}", value, param.annotation)
        kwargs[name] = value
    return kwargs


# Annotations of plain options (``n_startup_trials: int``, ``seed: int | None``): Optuna's
# constructors store them unchecked, and a string met at the first draw raised a TypeError from
# inside the sampler after the study was written. hydra-optuna-sweeper's schema typed them.
_PLAIN = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "None": lambda v: v is None,
}


def _check_type(where: str, value: Any, annotation: Any) -> None:
    """Refuse ``value`` for an option whose annotation is made of plain types only (others,
    classes and callables, are Optuna's to check)."""
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    names = [part.strip() for part in text.split("|")]
    if not all(name in _PLAIN for name in names) or any(_PLAIN[n](value) for n in names):
        return
    raise StudyConfigError(f"{where}: {value!r} is not {' or '.join(names)}")


class WrappedSampler(BaseSampler):
    """Delegates every ``BaseSampler`` call to ``self.base``: the base of hydratune's sampler
    wrappers (its seed per worker, failed trials shown as bad ones, steered parameters); each
    overrides only the calls it changes."""

    def __init__(self, base: BaseSampler) -> None:
        self.base = base

    def base_for(self, trial: FrozenTrial) -> BaseSampler:
        """The sampler that draws ``trial`` (one for all, unless a wrapper switches)."""
        return self.base

    def inner(self) -> list[BaseSampler]:
        """The samplers this one delegates to (``samplers_in`` walks them)."""
        return [self.base]

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.base_for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.base_for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.base_for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base_for(trial).before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.base_for(trial).after_trial(study, trial, state, values)


def samplers_in(sampler: BaseSampler) -> Iterator[BaseSampler]:
    """``sampler`` and every sampler it wraps, outermost first."""
    yield sampler
    if isinstance(sampler, WrappedSampler):
        for inner in sampler.inner():
            yield from samplers_in(inner)


class ViewSampler(WrappedSampler):
    """A wrapper that lets ``base`` draw from a view of the study (``view``): the trials it
    learns from are changed (failed ones shown as bad, other studies' shown first); the study
    itself, and what it stores, are not."""

    def view(self, study: optuna.Study, trial: FrozenTrial) -> Any:
        """The study as ``base`` sees it while it draws ``trial``."""
        raise NotImplementedError

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(self.view(study, trial), trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.base.sample_relative(self.view(study, trial), trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.base.sample_independent(
            self.view(study, trial), trial, param_name, param_distribution
        )

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
