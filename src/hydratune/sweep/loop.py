"""The ask -> launch -> tell loop: up to ``n_jobs`` trials in flight, no batch barrier.

As soon as one trial ends it is told and the next is asked, so no slot waits for the slowest
trial of a batch. ``n_trials`` is the study's total of trials that ended by themselves
(``hydratune.steering.budget``), counted in the storage, so a rerun resumes and several
workers sharing a study stop together.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import nullcontext
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from hydratune import compat
from hydratune.attrs import (
    FAIL_REASON,
    LOST,
    NO_MEMBER,
    NON_FINITE,
    OUTPUT_DIR,
    OVERRIDES,
    PAUSED,
    PRUNE_OVERRULED,
    STOPPED_REASON,
    SURPLUS,
)
from hydratune.errors import ConfigError, FatalTrialError
from hydratune.execute import JobResult, Launcher, interrupts
from hydratune.optuna_classes import samplers_in
from hydratune.schedule import (
    POPULATION_DONE,
    CheckpointSchedule,
    ScheduleError,
    population_end,
    trained_elsewhere,
)
from hydratune.space import SearchSpace
from hydratune.steering import GRID_DONE, LoopSteering, counts_toward_n_trials, finished_count
from hydratune.sweep.failure_aware import FailureAwareSampler
from hydratune.sweep.recovery import Recovery
from hydratune.sweep.study import ask_queued

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """How a job's result is told to Optuna."""

    state: TrialState
    values: list[float] | None = None
    reason: str | None = None
    error: BaseException | None = None
    fatal: bool = False
    lost: bool = False  # not the trial's own failure: its parameters (and plan) run again


@dataclass
class LoopSummary:
    """What one invocation of the loop did."""

    told: dict[TrialState, int] = field(default_factory=dict)
    failures: list[tuple[int, str]] = field(default_factory=list)
    stopped_early: str | None = None
    timed_out: bool = False
    # why no trial was left to run before n_trials (the grid ran, PBT's population ended)
    ran_out: str | None = None

    def count(self, state: TrialState) -> int:
        return self.told.get(state, 0)


def judge(result: JobResult, n_objectives: int) -> Outcome:
    """Turn a job's return value (or exception) into a trial state, values and a reason."""
    if isinstance(result.error, optuna.TrialPruned):
        return Outcome(TrialState.PRUNED, reason=str(result.error) or None)
    if result.lost:  # not the trial's own failure: its parameters are retried
        return Outcome(TrialState.FAIL, reason=f"lost: {result.error}")
    if isinstance(result.error, ScheduleError):  # found inside the app's run
        return app_setup_failed(result.error)
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
            fatal=True,
        )
    numbers = [_number(v) for v in values]
    if None in numbers:
        return Outcome(TrialState.FAIL, reason=f"returned {value!r}, not a number")
    if not all(math.isfinite(v) for v in numbers):
        return Outcome(TrialState.FAIL, reason=f"returned a non-finite value {value!r}")
    return Outcome(TrialState.COMPLETE, values=numbers)


def app_setup_failed(error: ScheduleError) -> Outcome:
    """The app's setup for a schedule failed, not the run: its message, no traceback; the run
    is lost, its checkpoint kept, and the sweep stops."""
    return Outcome(TrialState.FAIL, reason=str(error), fatal=True, lost=True)


def _number(value: Any) -> float | None:
    """``value`` as a float where it is one number: a real that is not a bool, or a
    one-element tensor or array (``.item()``: torch, numpy), as Lightning's logged metrics
    are; None for anything else (a string, None, a list, a tensor of several values)."""
    if not isinstance(value, Real) and hasattr(value, "item"):
        try:
            value = value.item()
        except (ValueError, RuntimeError, TypeError):  # several elements, or no such method
            return None
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    return None


def stopped_by_callback(
    study: optuna.Study, trial: optuna.Trial, outcome: Outcome, verdict: dict[str, Any] | None
) -> Outcome:
    """A trial that ``PruningCallback`` stopped is PRUNED (or failed, for a NaN metric) even
    when the app returned its partial value normally, as an app of one's own does.

    ``verdict`` is the job's (``JobResult.verdict``); where the job could not know it (a
    spawned DDP rank decided), the callback's write is read from the storage, not from this
    Trial's cached attributes."""
    if outcome.state != TrialState.COMPLETE:
        return outcome
    stored = compat.stored_trial_user_attrs(study, trial) if verdict is None else verdict
    reason = stored.get(STOPPED_REASON)
    if not reason:
        if stored.get(PRUNE_OVERRULED):
            log.info("trial #%d complete: %s", trial.number, stored[PRUNE_OVERRULED])
        return outcome
    if reason.startswith(NON_FINITE):
        return Outcome(TrialState.FAIL, reason=reason.removeprefix(NON_FINITE))
    return Outcome(TrialState.PRUNED, reason=reason)


class SweepLoop:
    """Run trials until ``n_trials`` of the study's trials have ended by themselves (complete,
    pruned or failed; a lost trial is retried and counts once), so a sweep always ends.

    Stops launching when failures exceed ``max_failure_rate`` of the trials this invocation set
    out to run (never at 1.0; lost trials are no failures until their ``max_retries`` are
    spent), when ``timeout`` seconds have passed, or at once on a ``FatalTrialError``.
    ``extend_trial`` is hydra-optuna-sweeper's ``custom_search_space`` hook, called after the
    space's parameters are suggested; ``before_ask`` (a ``warm_start`` transfer) may queue a
    trial before each one is asked. Ctrl-C / SIGTERM fails the running trials as lost (so the
    next run retries them) and re-raises.
    """

    def __init__(
        self,
        study: optuna.Study,
        space: SearchSpace,
        launcher: Launcher,
        n_trials: int,
        n_jobs: int = 1,
        max_failure_rate: float = 0.0,
        timeout: float | None = None,
        extend_trial: Callable[[optuna.Trial], None] | None = None,
        recovery: Recovery | None = None,
        on_told: Callable[[], None] | None = None,
        on_started: Callable[[], None] | None = None,
        on_launch: Callable[[optuna.Trial], dict[str, str] | None] | None = None,
        on_result: Callable[[optuna.Trial], None] | None = None,
        before_ask: Callable[[optuna.Study], None] | None = None,
        schedule: CheckpointSchedule | None = None,
    ) -> None:
        self.study, self.space, self.launcher = study, space, launcher
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.max_failure_rate, self.timeout = max_failure_rate, timeout
        self.extend_trial, self.before_ask = extend_trial, before_ask
        self.recovery = recovery or Recovery(study)
        self.last_asked: int | None = None  # the number of the trial this loop asked last
        self.on_told, self.on_started = on_told, on_started  # the live view
        self.steering = LoopSteering(study, space, n_trials)  # `hydratune steer`, any shell
        for sampler in samplers_in(study.sampler):  # it polls before every ask: one read for both
            if isinstance(sampler, FailureAwareSampler):
                sampler.failed_by_hand_source = lambda: self.steering.state.failed
        # e.g. MLflow runs per trial; on_launch may give variables for the trial's job
        self.on_launch, self.on_result = on_launch, on_result
        self.schedule = schedule  # asha/pbt: continuations first, epochs and checkpoints per run
        self.summary = LoopSummary()
        self.active: dict[int, optuna.Trial] = {}  # asked and not told, by trial number

    def run(self) -> LoopSummary:
        self.n_trials = self.steering.n_trials  # as steered before this run, if it was
        planned = max(0, self.n_trials - finished_count(self.study.get_trials(deepcopy=False)))
        self.allowed_failures = (
            math.inf if self.max_failure_rate >= 1 else math.floor(self.max_failure_rate * planned)
        )
        self.planned = planned
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout
        running: dict[Future[JobResult], optuna.Trial] = {}
        with self.recovery.heartbeat(lambda: list(self.active.values())):
            try:
                while True:
                    while trial := self._next_trial(len(running)):
                        running[self._launch(trial)] = trial
                    if not running:
                        if self.steering.hold():  # paused by hand: wait for resume or stop
                            continue
                        return self.summary
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        with interrupts.deferred():
                            self._tell(running.pop(future), future.result())
            except KeyboardInterrupt as error:
                with interrupts.deferred():
                    self._fail_active(f"lost: {error or 'interrupted'}")
                raise
            except Exception as error:  # a bug in a hook or a sampler: none left RUNNING
                signal_name = interrupts.received()  # a Ctrl-C a child process died of
                # a storage failure alone: a write would wait for it once more
                if signal_name or not _storage_failure(error):
                    why = f"interrupted by {signal_name}, " if signal_name else ""
                    with interrupts.deferred():
                        self._fail_active(f"lost: {why}the sweep stopped on {type(error).__name__}")
                raise

    def _next_trial(self, n_running: int) -> optuna.Trial | None:
        """The next trial to launch, asked and registered before an interrupt can strike."""
        with interrupts.deferred():
            return self._ask() if self._may_launch(n_running) else None

    def _may_launch(self, n_running: int) -> bool:
        if self.summary.stopped_early or n_running >= self.n_jobs:
            return False
        if self.deadline is not None and time.monotonic() > self.deadline:
            if not self.summary.timed_out:
                log.info("hydra.sweeper.timeout=%ss reached: no new trials", self.timeout)
            self.summary.timed_out = True
            return False
        self.recovery.recover()
        self._count_given_up()
        if not self.steering.poll().launching:  # paused or stopped by hand
            return False
        self.n_trials = self.steering.n_trials
        if self.last_asked is not None and self.last_asked < self.n_trials - 1:
            # fewer trials than n_trials existed at this process's last ask, so fewer count:
            # no read (a worker sharing the study may have asked since: _surplus settles it)
            return self.summary.ran_out != GRID_DONE  # a grid that has run asks no more
        busy = sum(  # ended or running: one read of the study
            t.state == TrialState.RUNNING or counts_toward_n_trials(t)
            for t in self.study.get_trials(deepcopy=False)
        )
        return busy < self.n_trials and self.summary.ran_out != GRID_DONE

    def _surplus(self, trial: optuna.Trial) -> bool:
        """Whether workers sharing the study asked past ``n_trials`` at once, this one last.

        A surplus trial is failed at once (never run), so the study ends with exactly
        ``n_trials`` finished trials.
        """
        if trial.number < self.n_trials:
            return False  # fewer trials ahead of it than n_trials: no need to count them
        ahead = sum(
            t.number < trial.number and (t.state != TrialState.FAIL or counts_toward_n_trials(t))
            for t in self.study.get_trials(deepcopy=False)
        )
        if ahead < self.n_trials:
            return False
        tell(self.study, trial, Outcome(TrialState.FAIL, reason=SURPLUS))
        return True

    def _ask(self) -> optuna.Trial | None:
        if self.before_ask is not None:
            self.before_ask(self.study)
        trial = self.steering.take_enqueued()  # `steer enqueue` runs before any queued point
        if trial is not None and self.schedule is not None and not self.schedule.has_room():
            self.space.suggest(trial)  # the values it was enqueued with, for the record
            tell(self.study, trial, Outcome(TrialState.FAIL, reason=NO_MEMBER))
            trial = None
        if trial is None and self.schedule is not None:
            # a paused trial to continue, if one has earned it and no person holds it
            held = frozenset(self.steering.state.held)
            trial = self.schedule.ask(held)
            if trial is None and not self.schedule.takes_new_configurations():
                # PBT's population is full: the slot waits for a member to pause, unless none
                # runs (then this is the end of the schedule, or of what no person holds) or
                # only another process's do (which continues them)
                trials = self.study.get_trials(deepcopy=False)
                elsewhere = [
                    t.number
                    for t in trials
                    if t.state == TrialState.RUNNING and t.number not in self.active
                ]
                why = trained_elsewhere(elsewhere) if elsewhere else POPULATION_DONE
                self.summary.ran_out = population_end(trials, held) or (
                    f"{self.schedule.kind}: {why}"
                )
                return None
        if trial is None and isinstance(self.study.sampler, optuna.samplers.GridSampler):
            trial = ask_queued(self.study)
            if trial is None:
                self.summary.ran_out = GRID_DONE
                return None
        self.summary.ran_out = None
        # owned at once: a RUNNING trial without an owner is never judged lost (it may be an
        # outside ask), so a sweep killed while it samples must already have claimed it
        if trial is None:  # a new trial: created owned, in one write
            trial = compat.ask(self.study, self.recovery.ownership())
        else:
            self.recovery.claim(trial)
        self.last_asked = trial.number
        self.active[trial.number] = trial  # failed as lost if choosing its values raises
        with compat.one_write(self.study):  # its parameters and overrides: one append
            self.space.suggest(trial)
            if self._surplus(trial):
                del self.active[trial.number]
                return None
            if self.extend_trial is not None:
                self.extend_trial(trial)
            trial.set_user_attr(OVERRIDES, self.space.overrides(trial.params))
        return trial

    def _launch(self, trial: optuna.Trial) -> Future[JobResult]:
        overrides = trial.user_attrs[OVERRIDES]
        if self.schedule is not None:  # not in OVERRIDES: a rerun of the config trains it whole
            overrides = overrides + self.schedule.overrides(trial)
        log.info("trial #%d: %s", trial.number, " ".join(overrides))
        env = self.on_launch(trial) if self.on_launch is not None else None
        if self.on_started is not None:  # before submit: in-process, it returns when done
            self.on_started()
        # a job handed over (sbatch, a worker, Ray) is recorded before Ctrl-C can strike, so
        # the interrupt cancels it with the others; a trial run here must stay interruptible
        held_back = interrupts.deferred() if self.launcher.hands_over else nullcontext()
        with held_back:
            future = self.launcher.submit(trial.number, overrides, env)
            if recorded := self.launcher.submitted(trial.number):  # e.g. the cluster's job id
                compat.set_user_attrs(trial, recorded)
        return future

    def _tell(self, trial: optuna.Trial, result: JobResult) -> None:
        try:
            self._record(trial, result)
        except UpdateFinishedTrialError:  # another worker declared it lost and retries it
            log.warning(
                "trial #%d was failed meanwhile as lost; its result is dropped", trial.number
            )
            self.active.pop(trial.number, None)

    def _record(self, trial: optuna.Trial, result: JobResult) -> None:
        outcome = judge(result, len(self.study.directions))
        outcome = stopped_by_callback(self.study, trial, outcome, result.verdict)
        if self.schedule is not None and outcome.state == TrialState.COMPLETE:
            outcome = self._settle(trial, result, outcome)
        never_started = result.lost and isinstance(result.error, FatalTrialError)
        lost = outcome.lost or (
            result.lost and (never_started or not self.recovery.gives_up(trial))
        )
        if result.lost and not lost:  # these parameters killed their worker on every attempt
            outcome.reason = self.recovery.give_up_reason(trial, f"{result.error}")
        with compat.one_write(self.study):  # its output dir, marks and result: one append
            if result.output_dir:
                trial.set_user_attr(OUTPUT_DIR, result.output_dir)
            if lost:
                trial.set_user_attr(LOST, True)
            tell(self.study, trial, outcome)
        del self.active[trial.number]
        if self.schedule is not None:
            self.schedule.told(trial)
        if self.on_told is not None:
            self.on_told()
        if self.on_result is not None:
            self.on_result(trial)
        if lost:
            self.recovery.retry_lost()
        if never_started and not self.summary.stopped_early:
            # never started (a job the cluster refused): not the trial's failure, and not
            # counted; every next start would be refused too, so stop, and let a rerun run it
            self.summary.stopped_early = (
                f"trial #{trial.number} could not start ({result.error}); its parameters run "
                "first when the same command runs again"
            )
        if outcome.lost and outcome.fatal and not self.summary.stopped_early:
            self.summary.stopped_early = outcome.reason  # the app's setup: once it is fixed,
            # the same command runs the trial again
        summary = self.summary
        summary.told[outcome.state] = summary.count(outcome.state) + 1
        if outcome.state != TrialState.FAIL or lost:  # lost: not the trial's failure
            return
        fatal = isinstance(outcome.error, FatalTrialError) or outcome.fatal
        self._count_failure(trial.number, outcome.reason or "", fatal)

    def _settle(self, trial: optuna.Trial, result: JobResult, outcome: Outcome) -> Outcome:
        """A scheduled run that ended at a pause is PRUNED, its checkpoint recorded."""
        try:
            paused = self.schedule.settle(trial, result.output_dir, outcome.values[0])
        except ScheduleError as error:
            return app_setup_failed(error)
        return Outcome(TrialState.PRUNED, reason=paused) if paused else outcome

    def _count_given_up(self) -> None:
        """Count the trials ``recover`` failed for good (their process died on every attempt)."""
        while self.recovery.given_up:
            self._count_failure(*self.recovery.given_up.pop(0))

    def _count_failure(self, number: int, reason: str, fatal: bool = False) -> None:
        summary = self.summary
        summary.failures.append((number, reason))
        if summary.stopped_early:
            return
        if fatal:
            summary.stopped_early = f"trial #{number} hit an error every trial would hit"
        elif len(summary.failures) > self.allowed_failures:
            # "more than": trials that end while the sweep stops add to the list below it
            summary.stopped_early = (
                f"more than {self.allowed_failures} failed trial(s), which "
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate} of {self.planned} "
                "planned allows"
            )

    def _fail_active(self, reason: str) -> None:
        for trial in list(self.active.values()):
            trial.set_user_attr(LOST, True)
            tell(self.study, trial, Outcome(TrialState.FAIL, reason=reason))
        self.active.clear()


def _storage_failure(error: Exception) -> bool:
    """Whether ``error`` says the storage failed (its file, the database, the proxy: one line
    was said already), not the code that chose or ran a trial."""
    if isinstance(error, (OSError, ConfigError, optuna.exceptions.StorageInternalError)):
        return True
    return type(error).__module__.split(".")[0] in ("sqlalchemy", "psycopg2", "psycopg", "grpc")


def tell(study: optuna.Study, trial: optuna.Trial, outcome: Outcome) -> None:
    """Record the outcome; a failure's reason goes to the trial's user attributes and the log
    (``fail_reason``), as does why a trial was pruned (``stopped_reason``)."""
    if outcome.state == TrialState.FAIL:
        trial.set_user_attr(FAIL_REASON, outcome.reason)
        log.warning("trial #%d failed: %s", trial.number, outcome.reason, exc_info=outcome.error)
    elif outcome.state == TrialState.PRUNED:
        if outcome.reason and STOPPED_REASON not in trial.user_attrs:
            trial.set_user_attr(STOPPED_REASON, outcome.reason)
        paused = str(outcome.reason).startswith(PAUSED)  # a schedule's pause, not a prune
        log.info("trial #%d %s%s", trial.number, "" if paused else "pruned: ", outcome.reason)
    compat.tell(study, trial, outcome.values, outcome.state if outcome.values is None else None)
