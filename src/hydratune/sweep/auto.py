"""``sampler: auto``, the default search: the sampler a sweep gets when it names none.

The choice uses only what the sweep knows before its first trial (the space's kinds and
dimension, ``n_trials``, objectives, workers, the pruner), so a seed reproduces it. It is
recorded in the study (``attrs.AUTO_SAMPLER``), once: workers starting a study together, and a
resumed sweep, run the recorded choice, even when their ``n_trials`` or workers differ. "As
it goes" is one switch by trial number: GP for the first ``GP_TRIALS`` trials, then TPE over
the whole history, whatever ``n_trials`` said when the choice was made. The rules and the
measurements behind them: docs/search.md and bench/search/RESULTS.md.
"""

from __future__ import annotations

import logging
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from hydratune import compat
from hydratune.attrs import AUTO_SAMPLER
from hydratune.errors import StudyConfigError
from hydratune.optuna_classes import SAMPLERS, WrappedSampler, optuna_class
from hydratune.schema import AUTO_UNREADABLE, SAMPLER_OPTIONS, AutoChoice, parse_auto_choice
from hydratune.space import SearchSpace
from hydratune.sweep.study import build_sampler

log = logging.getLogger(__name__)

AUTO_TARGET = "auto"  # ``hydra.sweeper.sampler._target_`` of ``sampler: auto``

# A GP suggestion costs 0.7-1.2 s on 2 shared cores at 50-200 trials, 3.2 s at 200 under load
# (bench/search), against a 1 s ceiling: from trial 100 TPE continues, at milliseconds.
GP_TRIALS = 100
# GP wins with few trials per dimension; past this many numeric parameters it is unmeasured
# here and its fit slows: TPE.
GP_MAX_DIM = 20
# GP's random start: Optuna's 10 trials are half of a 20-trial sweep in 2 parameters. On BBOB
# (24 functions x 2 instances, d=2) 5 beat 10 on 27 of 48 units at 20 trials (7 ties) and 26 at
# 50 (4 ties); at d=3 (7: 13/1/10; 5: 12/2/10, 24 units) and d=5 (5: 23/3/22) it is a wash:
# fewer only up to ``FEW_DIMENSIONS`` parameters (bench/search/heldout.py).
GP_STARTUP = 10
GP_STARTUP_FEW = 5
FEW_DIMENSIONS = 2


def choose(
    distributions: dict[str, BaseDistribution],
    *,
    conditional: bool,
    n_trials: int,
    n_objectives: int,
    n_workers: int,
    pruning: bool,
    scheduled: bool = False,
) -> AutoChoice:
    """The rules, first match wins (Optuna 5's TPE defaults: multivariate, constant liar)."""
    tpe = "tpe"
    group = {"group": True} if conditional else {}  # TPE samples each condition's subspace
    categorical = [n for n, d in distributions.items() if isinstance(d, CategoricalDistribution)]
    if n_objectives > 1:
        return AutoChoice(tpe, f"{n_objectives} objectives", group)
    if pruning or scheduled:  # GP learns from complete trials only: a schedule's are few
        early = "a schedule pauses runs" if scheduled else "a pruner stops trials early"
        return AutoChoice(tpe, f"{early}: TPE learns from pruned trials", group)
    if conditional:
        return AutoChoice(tpe, "conditional parameters", group)
    if categorical:
        return AutoChoice(tpe, f"categorical parameters ({', '.join(categorical[:3])})")
    if len(distributions) > GP_MAX_DIM:
        return AutoChoice(tpe, f"{len(distributions)} parameters > {GP_MAX_DIM}")
    # Integers as floats: on bbob-mixint (4 of 5 parameters integers with 2-16 values, 24
    # functions x 2 instances) GP beat TPE on 32 of 48 units (bench/search/RESULTS.md).
    reason = f"{len(distributions)} numeric parameters, {n_trials} trials"
    startup = gp_startup(len(distributions))
    options = {} if startup == GP_STARTUP else {"n_startup_trials": startup}
    if options:
        reason += f", {startup} random to start"
    if n_workers > 1:
        reason += f", {n_workers} workers (GP sees the running trials)"
    # whatever n_trials: a resumed sweep may go past it, with the choice recorded now
    return AutoChoice("gp", reason, options, switch_at=GP_TRIALS, then=tpe)


def gp_startup(dimension: int) -> int:
    """GP's random trials before its first fit: Optuna's 10 spend half of a 10*d budget on
    random draws in 2 dimensions."""
    return GP_STARTUP_FEW if dimension <= FEW_DIMENSIONS else GP_STARTUP


class SwitchSampler(WrappedSampler):
    """``first`` for trials numbered below ``switch_at``, ``then`` from there on: the trial's
    number decides, so every worker and a resumed sweep agree on which one draws it."""

    def __init__(
        self, first: optuna.samplers.BaseSampler, then: optuna.samplers.BaseSampler, at: int
    ) -> None:
        super().__init__(first)
        self.first, self.then, self.at = first, then, at

    def base_for(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        return self.first if trial.number < self.at else self.then

    def inner(self) -> list[optuna.samplers.BaseSampler]:
        return [self.first, self.then]

    def reseed_rng(self) -> None:
        self.first.reseed_rng()
        self.then.reseed_rng()


def recorded_choice(storage: BaseStorage, study_name: str) -> AutoChoice | None:
    """The choice an earlier run of this study recorded, if any."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return None
    text = compat.claimed_user_attr(storage, study_id, AUTO_SAMPLER)
    if text is None:
        return None
    try:
        choice = parse_auto_choice(text)
        build(choice, None, None, 0)  # every sampler and option one this version can run
    except (*AUTO_UNREADABLE, AttributeError, StudyConfigError) as error:
        raise StudyConfigError(
            f"study '{study_name}': its {AUTO_SAMPLER} attribute is not a choice sampler auto "
            f"can run ({type(error).__name__}: {error}); name a sampler "
            "(hydra/sweeper/sampler=<name>) to go on with this study"
        ) from None
    return choice


def sampler_for(
    options: Any,
    space: SearchSpace,
    storage: BaseStorage,
    study_name: str,
    seed_offset: int,
    *,
    n_trials: int,
    n_objectives: int,
    n_workers: int,
    pruner: Any,
    scheduled: bool,
) -> tuple[optuna.samplers.BaseSampler, AutoChoice | None]:
    """The sweep's sampler, and ``auto``'s choice when ``hydra.sweeper.sampler`` is auto
    (``options`` checked by ``check_options``).

    ``auto``'s node is open, so a config written for hydra-optuna-sweeper that gives
    ``sampler._target_: optuna.samplers.TPESampler`` without selecting ``tpe`` gets that sampler
    with the ``tpe`` node's defaults: the TPE that plugin ran, draw for draw.
    """
    if str(options.get("_target_")) != AUTO_TARGET:
        return build_sampler(named_options(options), space, seed_offset), None
    facts = (n_trials, n_objectives, n_workers, pruner, scheduled)
    choice = resolve(options, space, storage, study_name, *facts)
    return build(choice, options.get("seed"), space, seed_offset), choice


def check_options(options: Any, space: SearchSpace) -> None:
    """Refuse, before anything is written, sampler options that cannot work: ``auto`` with
    another option than its seed, or what the named sampler's constructor refuses."""
    if str(options.get("_target_")) != AUTO_TARGET:
        build_sampler(named_options(options), space)
        return
    extra = sorted(set(options) - {"_target_", "seed"})
    if extra:
        raise StudyConfigError(
            f"hydra.sweeper.sampler.{extra[0]}: sampler auto takes only a seed; to set a "
            "sampler's options, name it (override hydra/sweeper/sampler: tpe, or "
            "hydra/sweeper/sampler=tpe on the command line)"
        )


def named_options(options: Any) -> Any:
    """A named sampler's options over its node's defaults (``hydra/sweeper/sampler=<name>``)."""
    cls = optuna_class(options, SAMPLERS, "hydra.sweeper.sampler")
    name = next(n for n, c in SAMPLERS.items() if c is cls)
    defaults = OmegaConf.to_container(OmegaConf.structured(SAMPLER_OPTIONS[name]))
    return OmegaConf.create({**defaults, **OmegaConf.to_container(options, resolve=True)})


def resolve(
    options: Any,
    space: SearchSpace,
    storage: BaseStorage,
    study_name: str,
    n_trials: int,
    n_objectives: int,
    n_workers: int,
    pruner: Any,
    scheduled: bool,
) -> AutoChoice:
    """The choice for this sweep: the study's recorded one, else the rules'; logged."""
    recorded = recorded_choice(storage, study_name)
    if recorded is not None:
        log.info("sampler auto: %s, as recorded in the study", recorded.describe())
        return recorded
    choice = choose(
        space.distributions,
        conditional=bool(space.conditions),
        n_trials=n_trials,
        n_objectives=n_objectives,
        n_workers=n_workers,
        pruning=pruner is not None and not str(pruner.get("_target_")).endswith(".NopPruner"),
        scheduled=scheduled,
    )
    seed = options.get("seed")
    log.info(
        "sampler auto: %s%s; pin a sampler with hydra/sweeper/sampler=<name>",
        choice.describe(),
        "" if seed is None else f", seed {seed}",
    )
    return choice


def record(study: optuna.Study, choice: AutoChoice | None) -> AutoChoice | None:
    """Store ``auto``'s choice in the study once, and return the choice in force (None for a
    named sampler): a resume reads it back, the report its summary.

    The first worker to record wins (``compat.claim_study_user_attr``): workers that start one
    study together with other ``n_trials``, workers or pruners may choose differently, and
    must all run the sampler a resume will read back.
    """
    if choice is None:
        return None
    text = compat.claimed_study_user_attr(study, AUTO_SAMPLER) or compat.claim_study_user_attr(
        study, AUTO_SAMPLER, choice.to_json()
    )
    in_force = parse_auto_choice(text)
    if in_force != choice:
        log.info("sampler auto: %s, as another worker recorded it first", in_force.describe())
    return in_force


def sampler_options(name: str, options: dict[str, Any], seed: Any) -> Any:
    """A sampler config as ``hydra.sweeper.sampler`` would give it, for ``build_sampler``."""
    cls = SAMPLERS[name]
    target = f"{'.'.join(cls.__module__.split('.')[:2])}.{cls.__name__}"
    return OmegaConf.create({"_target_": target, "seed": seed, **options})


def build(
    choice: AutoChoice, seed: Any, space: SearchSpace | None, seed_offset: int
) -> optuna.samplers.BaseSampler:
    """The sampler ``choice`` describes, built as a named one is (``build_sampler``: its seed
    per worker and resume, failures shown to it, decimal steps)."""
    first = build_sampler(sampler_options(choice.sampler, choice.options, seed), space, seed_offset)
    if choice.then is None or choice.switch_at is None:
        return first
    then = build_sampler(
        sampler_options(choice.then, choice.then_options, seed), space, seed_offset
    )
    return SwitchSampler(first, then, choice.switch_at)
