"""The ask -> launch -> tell loop: up to ``n_jobs`` trials in flight, no batch barrier.

As soon as one trial ends it is told and the next is asked, so no slot waits for the slowest
trial of a batch. ``n_trials`` is the study's total of finished (complete or pruned) trials,
counted in the storage, so a rerun resumes and several workers sharing a study stop together.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import optuna
from optuna.trial import TrialState

from hydratune.launch import JobResult, Launcher
from hydratune.search_space import SearchSpace

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
FAIL_REASON = "fail_reason"
OUTPUT_DIR = "output_dir"


@dataclass
class Outcome:
    """How a job's result is told to Optuna."""

    state: TrialState
    values: list[float] | None = None
    reason: str | None = None
    error: BaseException | None = None


@dataclass
class LoopSummary:
    """What one invocation of the loop did."""

    told: dict[TrialState, int] = field(default_factory=dict)
    failures: list[tuple[int, str]] = field(default_factory=list)
    stopped_early: str | None = None

    def count(self, state: TrialState) -> int:
        return self.told.get(state, 0)


def judge(result: JobResult, n_objectives: int) -> Outcome:
    """Turn a job's return value (or exception) into a trial state, values and a reason."""
    if isinstance(result.error, optuna.TrialPruned):
        return Outcome(TrialState.PRUNED, reason=str(result.error) or None)
    if result.error is not None:
        reason = f"{type(result.error).__name__}: {result.error}"
        return Outcome(TrialState.FAIL, reason=reason, error=result.error)
    value = result.value
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) != n_objectives:
        return Outcome(
            TrialState.FAIL,
            reason=f"returned {len(values)} value(s) but hydra.sweeper.direction has "
            f"{n_objectives}; make them match",
        )
    bad = [v for v in values if not isinstance(v, Real) or isinstance(v, bool)]
    if bad:
        return Outcome(TrialState.FAIL, reason=f"returned {value!r}, not a number")
    if not all(math.isfinite(v) for v in values):
        return Outcome(TrialState.FAIL, reason=f"returned a non-finite value {value!r}")
    return Outcome(TrialState.COMPLETE, values=[float(v) for v in values])


def count_trials(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def run_trials(
    study: optuna.Study,
    space: SearchSpace,
    launcher: Launcher,
    n_trials: int,
    n_jobs: int = 1,
    max_failure_rate: float = 0.0,
    extend_trial: Callable[[optuna.Trial], None] | None = None,
) -> LoopSummary:
    """Run trials until the study holds ``n_trials`` finished ones (or failures stop it).

    ``extend_trial`` is hydra-optuna-sweeper's ``custom_search_space`` hook, called after the
    space's parameters are suggested. Failures beyond ``max_failure_rate`` of the trials this
    invocation set out to run stop the launching of new trials.
    """
    summary = LoopSummary()
    planned = max(0, n_trials - count_trials(study, FINISHED))
    allowed_failures = math.floor(max_failure_rate * planned)
    running: dict[Future[JobResult], optuna.Trial] = {}
    n_objectives = len(study.directions)

    while True:
        if summary.stopped_early is None:
            busy = count_trials(study, (*FINISHED, TrialState.RUNNING))
            while len(running) < n_jobs and busy < n_trials and not _grid_exhausted(study):
                trial = study.ask(dict(space.distributions))
                if extend_trial is not None:
                    extend_trial(trial)
                overrides = space.overrides(trial.params)
                trial.set_user_attr("overrides", overrides)
                log.info("trial #%d: %s", trial.number, " ".join(overrides))
                running[launcher.submit(trial.number, overrides)] = trial
                busy += 1
        if not running:
            return summary
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            trial = running.pop(future)
            result = future.result()
            if result.output_dir:
                trial.set_user_attr(OUTPUT_DIR, result.output_dir)
            outcome = judge(result, n_objectives)
            tell(study, trial, outcome)
            summary.told[outcome.state] = summary.count(outcome.state) + 1
            if outcome.state == TrialState.FAIL:
                summary.failures.append((trial.number, outcome.reason or ""))
                if len(summary.failures) > allowed_failures and summary.stopped_early is None:
                    summary.stopped_early = (
                        f"{len(summary.failures)} failed trial(s) exceed "
                        f"hydra.sweeper.max_failure_rate={max_failure_rate} of {planned} planned"
                    )


def tell(study: optuna.Study, trial: optuna.Trial, outcome: Outcome) -> None:
    """Record the outcome; a failure's reason goes to the trial's user attributes and the log."""
    if outcome.reason is not None:
        trial.set_user_attr(FAIL_REASON, outcome.reason)
    if outcome.state == TrialState.FAIL:
        log.warning("trial #%d failed: %s", trial.number, outcome.reason, exc_info=outcome.error)
    study.tell(trial, outcome.values, state=outcome.state if outcome.values is None else None)


def _grid_exhausted(study: optuna.Study) -> bool:
    sampler = study.sampler
    return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)
