"""Memory across studies: ``warm_start: {studies: related}`` transfers what finished studies of
the same parameters learned, and falls back to the sweep's own search when it does not help.

Where ``warm_start: {study_name: x}`` (``enqueue_warm_start.py``) copies another study's trials
as they are, a transfer acts *here*. ``transfer: prior`` (the default) shows the sources'
trials to the sampler as earlier observations, each value as its quantile in its own study
(``transfer_prior.py``), so it models the good region from its first trial instead of its
random start-up (the first 10 trials); the study holds only what ran. ``seed`` runs the
sources' best configurations (rank-interleaved across sources: each one's best, then each
one's second); ``box`` points drawn in the bounding box of their best quarter (after Perrone
et al. 2019, "Learning search spaces for Bayesian optimization"); their trials alternate with
the sampler's own, at most ``max_trials`` of them (default: 10% of ``n_trials``, the most a
useless transfer may cost). The guard: for
``seed``/``box``, once two of each have finished, transferred trials whose median does worse
than the own trials' median mean the sources are unrelated here; for ``prior``, the same test
of the first two trials against the third, drawn without the prior. Then the transfer stops,
the sweep says so, and the study records it.

The record (study user attribute ``warm_start_transfer``; an on-disk format, read
defensively) holds the mode, the sources, the planned configurations (``prior``: how many
source trials, before which trial, which were controls) and the guard's verdict; each
transferred trial carries ``transferred_from: <study>#<number>``. The report shows both.
Measured in ``bench/studies/transfer.py`` and ``transfer_mlp.py`` (``bench/studies/RESULTS.md``).
"""

from __future__ import annotations

import logging
import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hydratune.attrs import SWEEP_SPACE, TRANSFER, TRANSFERRED_FROM
from hydratune.errors import ConfigError
from hydratune.space import SearchSpace, is_sequence, on_step
from hydratune.storage import mask_url, open_storage, setting_of, storage_url
from hydratune.sweep.enqueue_warm_start import WarmStartSource, open_warm_start
from hydratune.sweep.settings import no_such_setting
from hydratune.sweep.transfer_prior import (
    CONTROLS,
    HORIZON,
    PriorPoint,
    PriorSampler,
    prior_points,
)

log = logging.getLogger(__name__)

MODES = ("seed", "box", "prior")
DEFAULT_MODE = "prior"
GUARD_AFTER = 2  # finished trials of each kind before the guard judges


@dataclass
class TransferPlan:
    """What a sweep will transfer, checked before its study is opened."""

    mode: str
    sources: list[str]
    candidates: list[dict[str, Any]]  # {"params": {...}, "from": "<study>#<n>" or "box"}
    max_trials: int
    storage: str | None = None  # the sources' storage (password masked); None: the sweep's
    prior: list[PriorPoint] = field(default_factory=list)  # ``prior``: the sampler's view

    def record(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "sources": self.sources,
            "storage": self.storage,
            "candidates": self.candidates,
            "max_trials": self.max_trials,
            "prior_trials": len(self.prior),
            "fallback": None,
        }


# warm_start: {study_name, storage} copies a study's trials; {studies, transfer, max_trials,
# storage} transfers from related studies
WARM_START_KEYS = ("study_name", "storage", "studies", "transfer", "max_trials")


def plan_warm_start(
    settings: Mapping[str, Any] | None,
    space: SearchSpace,
    url: str,
    cwd: str,
    own_study: str,
    directions: Sequence[StudyDirection],
    n_trials: int,
) -> tuple[WarmStartSource | None, TransferPlan | None]:
    """``hydra.sweeper.warm_start``: a study whose trials are copied (``study_name``), or the
    related finished studies whose best are transferred (``studies``), in this sweep's storage
    ``url`` unless the setting names another; checked before the sweep's study opens."""
    if not settings:
        return None, None
    unknown = sorted(set(settings) - set(WARM_START_KEYS))
    if unknown:
        raise no_such_setting("hydra.sweeper.warm_start", str(unknown[0]), WARM_START_KEYS)
    with setting_of("hydra.sweeper.warm_start.storage"):
        source_url = storage_url(settings.get("storage"), cwd)
    if settings.get("study_name") is not None:
        return open_warm_start(source_url, settings["study_name"], directions), None
    if not settings.get("storage") or source_url == url:
        return None, plan_transfer(settings, space, url, own_study, directions, n_trials)
    # In another storage a study of this sweep's name is another study: a source like the rest.
    plan = plan_transfer(settings, space, source_url, own_study, directions, n_trials, False)
    plan.storage = mask_url(source_url)
    return None, plan


def plan_transfer(
    settings: Mapping[str, Any],
    space: SearchSpace,
    storage_url: str,
    own_study: str,
    directions: Sequence[StudyDirection],
    n_trials: int,
    own_storage: bool = True,
) -> TransferPlan:
    """Select the related finished studies in ``storage_url`` (but ``own_study`` when that is
    the sweep's ``own_storage``) and the configurations to run; ``ConfigError`` naming the key
    for a setting that cannot work."""
    where = "hydra.sweeper.warm_start"
    mode = settings.get("transfer") or DEFAULT_MODE
    if mode not in MODES:
        raise ConfigError(f"{where}.transfer: '{mode}' is not one of {', '.join(MODES)}")
    if len(directions) != 1:
        raise ConfigError(
            f"{where}.studies: a transfer ranks configurations by one objective; this sweep has "
            f"{len(directions)} (copy a study's trials with warm_start.study_name instead)"
        )
    default_max = max(1, math.ceil(0.1 * n_trials))
    given = settings.get("max_trials")
    max_trials = default_max if given is None else int(given)
    if max_trials < 1:
        raise ConfigError(f"{where}.max_trials: give at least 1, got {max_trials}")
    names = settings.get("studies")
    if names not in (None, "related") and not is_sequence(names):
        raise ConfigError(f"{where}.studies={names!r}: expected related or a list of study names")
    with setting_of("hydra.sweeper.storage" if own_storage else f"{where}.storage"):
        storage = open_storage(storage_url)
    exclude = own_study if own_storage else None
    sources = select_sources(storage, names, space, directions, exclude, where)
    if not sources:
        log.warning(
            "%s: no finished study in %s searches this sweep's parameters; nothing to transfer",
            where,
            mask_url(storage_url),
        )
    maximize = directions[0] == StudyDirection.MAXIMIZE
    ranked = [(s.study_name, _ranked(s, maximize)) for s in sources]
    names = [s.study_name for s in sources]
    if mode == "box":
        candidates = box_candidates(ranked, space, max_trials, random.Random(own_study))
        return TransferPlan(mode, names, candidates, max_trials)
    if mode == "seed":
        return TransferPlan(mode, names, seed_candidates(ranked, space, max_trials), max_trials)
    return TransferPlan(mode, names, [], max_trials, prior=prior_points(ranked, space, maximize))


def select_sources(
    storage: Any,
    names: Any,
    space: SearchSpace,
    directions: Sequence[StudyDirection],
    own_study: str | None,
    where: str,
) -> list[optuna.Study]:
    """``studies: related``: every other study with this sweep's directions whose parameters
    are this sweep's (its recorded space, else its trials' names); a list names them."""
    available = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if names in (None, "related"):
        wanted, named = [n for n in available if n != own_study], False
    else:
        wanted, named = [str(n) for n in names], True
        missing = [n for n in wanted if n not in available]
        if missing:
            raise ConfigError(f"{where}.studies: no study {', '.join(missing)} in the storage")
    sources = []
    for name in wanted:
        study = optuna.load_study(study_name=name, storage=storage)
        if list(study.directions) != list(directions) or not _same_parameters(study, space):
            if named:
                raise ConfigError(
                    f"{where}.studies: {name} has other parameters or directions than this sweep"
                )
            continue
        if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            sources.append(study)
    return sources


def _same_parameters(study: optuna.Study, space: SearchSpace) -> bool:
    recorded = study.user_attrs.get(SWEEP_SPACE)
    if isinstance(recorded, Mapping) and isinstance(recorded.get("distributions"), Mapping):
        return set(recorded["distributions"]) == set(space.distributions)
    seen = {n for t in study.get_trials(deepcopy=False) for n in t.params}
    always = {n for n in space.distributions if n not in space.conditions}
    return bool(seen) and always <= seen <= set(space.distributions)


def _ranked(study: optuna.Study, maximize: bool) -> list[FrozenTrial]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    finite = [t for t in complete if t.value is not None and math.isfinite(t.value)]
    return sorted(finite, key=lambda t: t.value, reverse=maximize)


Ranked = Sequence[tuple[str, Sequence[FrozenTrial]]]  # (study name, complete trials, best first)


def seed_candidates(ranked: Ranked, space: SearchSpace, n: int) -> list[dict[str, Any]]:
    """Each source's best fitting configuration, then each one's second best, ... (n at most)."""
    candidates: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for rank in range(max((len(r) for _, r in ranked), default=0)):
        for name, trials in ranked:
            if rank >= len(trials) or len(candidates) >= n:
                continue
            trial = trials[rank]
            key = tuple(sorted(trial.params.items()))
            if space.misfit(trial.params) is None and key not in seen:
                seen.add(key)
                candidates.append({"params": dict(trial.params), "from": f"{name}#{trial.number}"})
    return candidates


def box_candidates(
    ranked: Ranked, space: SearchSpace, n: int, rng: random.Random
) -> list[dict[str, Any]]:
    """``n`` points drawn in the smallest box holding the best quarter of every source (a
    categorical: the values they took); structure (conditional parameters) from one of them."""
    best = [t for _, trials in ranked for t in trials[: max(1, len(trials) // 4)]]
    best = [t for t in best if space.misfit(t.params) is None]
    if not best:
        return []
    values: dict[str, list[Any]] = {}
    for trial in best:
        for name, value in trial.params.items():
            values.setdefault(name, []).append(value)
    candidates = []
    for k in range(n):
        params: dict[str, Any] = {}
        for name in space.order():
            if name in values and space.is_active(name, params):
                params[name] = _draw(space.distributions[name], values[name], rng)
        if space.misfit(params) is None:
            candidates.append({"params": params, "from": f"box #{k}"})
    return candidates


def _draw(dist: Any, seen: list[Any], rng: random.Random) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return rng.choice(seen)
    low, high = min(seen), max(seen)
    if isinstance(dist, IntDistribution):
        steps = (high - low) // dist.step
        return low + dist.step * rng.randint(0, steps)
    assert isinstance(dist, FloatDistribution)
    if dist.log:
        return on_step(dist, math.exp(rng.uniform(math.log(low), math.log(high))))
    return on_step(dist, rng.uniform(low, high))


def with_prior(
    sampler: optuna.samplers.BaseSampler, plan: TransferPlan | None, space: SearchSpace
) -> optuna.samplers.BaseSampler:
    """``sampler``, shown the sources' trials when ``plan`` is a ``prior`` transfer."""
    if plan is None or not plan.prior:
        return sampler
    return PriorSampler(sampler, plan.prior, space)


class Transfer:
    """The loop's side: before each trial, queue the next transferred configuration (one for
    each own trial), or fall back for good when the guard finds the transfer does not help."""

    def __init__(self, plan: TransferPlan | None) -> None:
        self.plan = plan

    def start(self, study: optuna.Study) -> None:
        """Record the plan in the study once (a resumed sweep keeps the first)."""
        if self.plan is not None and TRANSFER not in study.user_attrs:
            first = len(study.get_trials(deepcopy=False))
            record = {**self.plan.record(), "first_trial": first}
            if self.plan.prior:
                record["controls"] = [first + c for c in CONTROLS]
                record["prior_until"] = first + HORIZON
            study.set_user_attr(TRANSFER, record)
            what = (
                f"{len(self.plan.prior)} source trial(s) shown to the sampler"
                if self.plan.mode == "prior"
                else f"{len(self.plan.candidates)} configuration(s), "
                f"at most {self.plan.max_trials} trial(s)"
            )
            sources = ", ".join(self.plan.sources) or "no study"
            log.info("warm_start: transfer (%s) from %s: %s", self.plan.mode, sources, what)

    def before_ask(self, study: optuna.Study) -> None:
        if self.plan is None:  # no transfer: nothing read before each trial
            return
        record = study.user_attrs.get(TRANSFER)
        if not isinstance(record, dict) or record.get("fallback"):
            return
        trials = study.get_trials(deepcopy=False)
        if self.plan.prior:
            self._guard_prior(study, record, trials)
            return
        transferred = [t for t in trials if TRANSFERRED_FROM in t.user_attrs]
        own = [
            t
            for t in trials
            if TRANSFERRED_FROM not in t.user_attrs and t.number >= record.get("first_trial", 0)
        ]
        candidates = record.get("candidates") or []
        limit = min(len(candidates), int(record.get("max_trials", 0)))
        if len(transferred) >= limit:
            return  # all run: the guard has nothing left to stop
        verdict = guard(transferred, own, study.directions[0] == StudyDirection.MAXIMIZE)
        if verdict is not None:
            self._fall_back(study, record, f"{verdict}: own search from trial #{len(trials)}")
            return
        if (
            any(t.state == TrialState.WAITING for t in transferred)
            or len(transferred) > len(own)  # one own trial for each transferred one
        ):
            return
        candidate = candidates[len(transferred)]
        study.enqueue_trial(candidate["params"], user_attrs={TRANSFERRED_FROM: candidate["from"]})

    def _guard_prior(
        self, study: optuna.Study, record: dict[str, Any], trials: list[FrozenTrial]
    ) -> None:
        """``transfer: prior``: the trials drawn with the prior against the controls, up to the
        last control; a fallback hides the prior from the sampler from then on."""
        controls = set(record.get("controls") or [])
        if not controls:
            return
        window = [t for t in trials if record.get("first_trial", 0) <= t.number <= max(controls)]
        verdict = guard(
            [t for t in window if t.number not in controls],
            [t for t in window if t.number in controls],
            study.directions[0] == StudyDirection.MAXIMIZE,
            ("trial(s) drawn with the sources' prior", "the {n} drawn without it"),
            len(controls),
        )
        if verdict is not None:
            self._fall_back(study, record, f"{verdict}: own search from trial #{len(trials)}")

    def _fall_back(self, study: optuna.Study, record: dict[str, Any], why: str) -> None:
        record["fallback"] = why
        study.set_user_attr(TRANSFER, record)
        log.warning("warm_start: %s", why)


def guard(
    transferred: Sequence[FrozenTrial],
    own: Sequence[FrozenTrial],
    maximize: bool,
    kinds: tuple[str, str] = ("transferred configuration(s)", "the sweep's own {n}"),
    own_needed: int = GUARD_AFTER,
) -> str | None:
    """Why the transfer does not help here, or None while it may (or before ``GUARD_AFTER``
    transferred and ``own_needed`` own trials finished)."""
    done = [t.value for t in transferred if t.state == TrialState.COMPLETE]
    mine = [t.value for t in own if t.state == TrialState.COMPLETE]
    if len(done) < GUARD_AFTER or len(mine) < own_needed:
        return None
    theirs, ours = statistics.median(done), statistics.median(mine)
    if (theirs < ours) if maximize else (theirs > ours):
        return (
            f"the {len(done)} {kinds[0]} do worse here than {kinds[1].format(n=len(mine))} "
            f"(median {theirs:.4g} against {ours:.4g}): the sources look unrelated"
        )
    return None
