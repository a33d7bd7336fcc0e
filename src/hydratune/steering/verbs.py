"""Steer a running (or paused) sweep from another shell or a notebook, through its study.

Every verb checks its input against the search space the sweep recorded (the same
``SearchSpace`` the workers use: ``fit``, ``contains``, ``active``) and writes nothing when
something is wrong; otherwise it appends one action to the study's steering record, which
every worker reads before its next trial.

Example (a notebook)::

    >>> steer = Steerer.load("outputs/hydratune.journal", "mlp_digits")
    >>> steer.enqueue(["model.optimizer.lr=0.002", "model.n_layers=2"])   # run this point next
    >>> steer.fix(["model.n_layers=2"])                # pin it from now on; unfix to search again
    >>> steer.narrow(["model.optimizer.lr=tag(log, interval(1e-3, 1e-2))"])
    >>> steer.n_trials(80); steer.prune(17); steer.pause(); steer.resume(); steer.stop()
    >>> steer.show().running
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import optuna
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    distribution_to_json,
)
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hydratune import compat
from hydratune.attrs import ENQUEUED_FROM, OWNER, PRUNE_REQUESTED
from hydratune.owner import gone
from hydratune.schedule import is_scheduled, state_counts, waiting_to_continue
from hydratune.space import (
    SearchSpace,
    SearchSpaceError,
    describe,
    format_value,
    make_parser,
    parse_line,
)
from hydratune.steering.best import best_trials, passed_over
from hydratune.steering.budget import (
    MAX_N_TRIALS,
    finished_count,
    n_trials_in_force,
    why_ended,
)
from hydratune.steering.caveats import caveat
from hydratune.steering.points import SteeringError, narrowing_problem, params_from_mapping
from hydratune.steering.record import (
    Action,
    SteeringState,
    read_state,
    recorded_space,
    who,
    write_action,
)
from hydratune.storage import load_study

VERBS = (
    "enqueue",
    "fix",
    "unfix",
    "narrow",
    "n_trials",
    "prune",
    "pause",
    "resume",
    "stop",
    "note",
    "fail",
    "show",
)

Params = Mapping[str, Any] | Iterable[str]  # {key: value} or ["key=value", ...]


class SteerError(SteeringError):
    """A steering request that does not fit the sweep; nothing was written."""


@dataclass
class RunningTrial:
    number: int
    params: dict[str, Any]
    started: datetime | None
    owner: str | None
    prune_requested: str | None
    gone: bool  # its process has ended (killed): nothing runs it until the sweep runs again


@dataclass
class SweepView:
    """What ``show`` says about a sweep: its state, best so far, running trials, the log."""

    study_name: str
    mode: str
    n_trials: int | None  # the target in force
    declared_n_trials: int | None  # the sweep's own setting
    counts: dict[str, int]
    finished: int  # trials that count toward n_trials
    ended: str | None  # why no worker starts a trial now ("n_trials reached"), None if one may
    best: FrozenTrial | None
    running: list[RunningTrial]
    state: SteeringState
    space: SearchSpace
    pareto: list[FrozenTrial] = field(default_factory=list)
    paused: list[FrozenTrial] = field(default_factory=list)  # a schedule's, not continued yet
    passed_over: str | None = None  # trials failed by hand that would be best otherwise


class Steerer:
    """The steering verbs on one study, checked against the search space its sweep recorded."""

    def __init__(self, study: optuna.Study, by: tuple[str, str] | None = None) -> None:
        """``by``: the (user, host) the actions are recorded as coming from; default this
        process's (``hydratune steer``); ``hydratune serve`` passes the page's user."""
        recorded = recorded_space(study.user_attrs)
        if recorded is None:
            raise SteerError(
                f"study '{study.study_name}' has no recorded search space: it was not run by a "
                "hydratune sweep (or by one older than steering); run the sweep once first"
            )
        self.study, self.space = study, recorded.space
        self.sampler, self.declared_n_trials = recorded.sampler, recorded.n_trials
        self.parser = make_parser()
        self.by = by

    @classmethod
    def load(cls, storage_url: str, study_name: str) -> Steerer:
        """The steerer of ``study_name`` in ``storage_url`` (a journal path or database URL)."""
        return cls(load_study(storage_url, study_name))

    # -- the verbs ---------------------------------------------------------------------------

    def enqueue(self, params: Params) -> Action:
        """Queue one trial with these parameters; it runs next, before any other queued trial
        (the others are sampled; a grid sweep needs them all)."""
        values = self._values(params, "enqueue")
        missing = [k for k in self.space.distributions if k not in values]
        if missing and "GridSampler" in self.sampler:
            raise SteerError(
                f"enqueue: this sweep uses the grid sampler, which cannot pick the others; "
                f"give every searched parameter (missing: {', '.join(missing)})"
            )
        text = "enqueue " + _assignments(values)
        tag = f"steer: {text} ({time.time_ns()})"  # finds the queued trial's number again
        self.study.enqueue_trial(values, user_attrs={ENQUEUED_FROM: tag})
        (number,) = [
            t.number
            for t in self._trials((TrialState.WAITING, TrialState.RUNNING))
            if t.user_attrs.get(ENQUEUED_FROM) == tag
        ] or [self._next_trial()]  # already run and finished: a fast worker
        return self._write("enqueue", {"params": values}, text, number)

    def fix(self, params: Params) -> Action:
        """Give these parameters this value in every trial from now on."""
        self._not_grid("fix")
        values = self._values(params, "fix")
        text = "fix " + _assignments(values)
        return self._write("fix", {"params": values}, text, self._next_trial())

    def unfix(self, keys: Iterable[str]) -> Action:
        """Search these parameters again over their declared range (undo fix and narrow)."""
        names = [self._known(str(k).split("=", 1)[0], "unfix") for k in keys]
        if not names:
            raise SteerError("unfix: name the parameter(s) to search again, e.g. unfix model.lr")
        state = read_state(self.study.user_attrs, self.space)
        steered = [*state.fixed, *state.narrowed]
        loose = [n for n in names if n not in steered]
        if loose:
            raise SteerError(
                f"unfix: {', '.join(loose)} is neither fixed nor narrowed; steered now: "
                f"{', '.join(steered) or 'none'}"
            )
        text = "unfix " + " ".join(names)
        return self._write("unfix", {"keys": names}, text, self._next_trial())

    def narrow(self, lines: Params) -> Action:
        """Sample these parameters from a narrower range within the declared one."""
        self._not_grid("narrow")
        items = lines.items() if isinstance(lines, Mapping) else [_split(x) for x in lines]
        dists: dict[str, BaseDistribution] = {}
        for key, expr in items:
            name = self._known(key, "narrow")
            dists[name] = self._narrowed(name, f"{name}={expr}")
        if not dists:
            raise SteerError("narrow: give key=range, e.g. 'model.lr=interval(1e-3, 1e-2)'")
        text = "narrow " + " ".join(f"{k}={describe(d)}" for k, d in dists.items())
        args = {"distributions": {k: distribution_to_json(d) for k, d in dists.items()}}
        return self._write("narrow", args, text, self._next_trial())

    def n_trials(self, n: int) -> Action:
        """Raise or lower the number of finished trials the sweep runs to."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N_TRIALS:
            shown = "a larger number" if isinstance(n, int) and n > MAX_N_TRIALS else repr(n)
            raise SteerError(
                f"n_trials: {shown} is not a whole number of trials from 1 to {MAX_N_TRIALS:,}"
            )
        return self._write("n_trials", {"n_trials": n}, f"n_trials {n}", self._next_trial())

    def prune(self, number: int) -> Action:
        """Stop running trial ``number`` now, as pruned by hand (at its next pruning check)."""
        running, ended = [], []
        for t in self._trials((TrialState.RUNNING,)):
            (ended if gone(t.user_attrs.get(OWNER)) else running).append(t.number)
        if number in ended:
            raise SteerError(
                f"prune: trial #{number} is not running: the process that ran it has ended; the "
                "sweep's command, run again, records it as lost"
            )
        if number not in running:
            raise SteerError(
                f"prune: trial #{number} is not running; running now: "
                f"{', '.join(f'#{n}' for n in running) or 'none'}"
            )
        user, host = self.by or who()
        reason = (
            f"pruned by hand: {user}@{host} at {datetime.now(UTC).isoformat(timespec='seconds')}"
        )
        try:
            compat.trial_by_number(self.study, number).set_user_attr(PRUNE_REQUESTED, reason)
        except UpdateFinishedTrialError:
            raise SteerError(f"prune: trial #{number} finished meanwhile") from None
        return self._write("prune", {"trial": number}, f"prune {number}", number)

    def pause(self, number: int | None = None) -> Action:
        """Start no new trial until ``resume``; running trials go on. With ``number``: a
        checkpointed schedule does not continue that trial (paused at a rung, or running and
        to pause at its next one) until ``resume number``."""
        if number is None:
            return self._mode("pause")
        self._scheduled(number, "pause")
        return write_action(
            self.study, "pause_trial", {"trial": number}, f"pause {number}", self._next_trial()
        )

    def resume(self, number: int | None = None) -> Action:
        """Start trials again after ``pause`` or ``stop`` (a stopped sweep needs a rerun).
        With ``number``: the schedule may continue that trial again."""
        if number is None:
            return self._mode("resume")
        self._scheduled(number, "resume")
        return write_action(
            self.study, "resume_trial", {"trial": number}, f"resume {number}", self._next_trial()
        )

    def stop(self) -> Action:
        """Start no new trial; running ones finish and the sweep ends (a rerun stops too,
        until ``resume``)."""
        return self._mode("stop")

    def note(self, number: int, text: str) -> Action:
        """Keep a note on trial ``number`` (any state) in the study's record."""
        self._trial(number, "note")
        words = _words(text, "note", "note 17 the loss spiked at epoch 3")
        args = {"trial": number, "note": words}
        return self._write("note", args, f"note #{number}: {words}", number)

    def fail(self, number: int, reason: str) -> Action:
        """Mark finished trial ``number`` as wrong (a bug, a bad node): failure-aware samplers
        (TPE, GP) learn from it as from a failure. Optuna never changes a finished trial, so
        the study keeps its state and value; the record says it was failed, and why."""
        trial = self._trial(number, "fail")
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            raise SteerError(
                f"fail: trial #{number} is {trial.state.name.lower()}; only a complete or pruned "
                "trial can be failed by hand"
            )
        if number in read_state(self.study.user_attrs, self.space).failed:
            raise SteerError(f"fail: trial #{number} is failed by hand already")
        words = _words(reason, "fail", "fail 17 the data loader skipped half the set")
        args = {"trial": number, "reason": words}
        return self._write("fail", args, f"fail #{number}: {words}", self._next_trial())

    def show(self) -> SweepView:
        trials = self.study.get_trials(deepcopy=False)
        state = read_state(self.study.user_attrs, self.space)
        counts = state_counts(trials)
        front = best_trials(self.study, trials, state.failed)
        single = len(self.study.directions) == 1
        best, pareto = (front[0] if single and front else None), ([] if single else front)
        running = [
            RunningTrial(
                t.number,
                dict(t.params),
                t.datetime_start,
                t.user_attrs.get(OWNER),
                t.user_attrs.get(PRUNE_REQUESTED),
                gone(t.user_attrs.get(OWNER)),
            )
            for t in trials
            if t.state == TrialState.RUNNING
        ]
        target = n_trials_in_force(self.declared_n_trials, state)
        return SweepView(
            self.study.study_name,
            state.mode,
            target,
            self.declared_n_trials,
            counts,
            finished_count(trials),
            why_ended(trials, target, self.sampler, state.held),
            best,
            running,
            state,
            self.space,
            pareto,
            sorted(waiting_to_continue(trials), key=lambda t: t.number),
            passed_over(self.study, trials, state.failed, why=False),  # the log says why
        )

    def caveat(self, action: Action) -> str | None:
        """What ``action`` will not do now (``caveats.caveat``); None when it applies as
        ``steer`` says."""
        return caveat(action, self.study, self.space, self.declared_n_trials, self.sampler)

    def run_words(self, verb: str, args: Sequence[str]) -> Action:
        """One verb as the command line gives it: ``fix model.n_layers=2``, ``prune 17``."""
        if verb in ("enqueue", "fix", "unfix", "narrow"):
            return getattr(self, verb)(args)
        first = _whole(args[0]) if args else None
        if verb in ("note", "fail"):
            if first is None:
                raise SteerError(f"{verb}: give a trial number, then the text; got {args}")
            return getattr(self, verb)(first, " ".join(args[1:]))
        if verb in ("n_trials", "prune"):
            if len(args) != 1 or first is None:
                raise SteerError(f"{verb}: give one whole number, e.g. {verb} 17; got {args}")
            return getattr(self, verb)(first)
        if verb in ("pause", "resume") and len(args) == 1 and first is not None:
            return getattr(self, verb)(first)
        if verb in ("pause", "resume", "stop"):
            if args:
                what = "a trial number or nothing" if verb != "stop" else "no arguments"
                raise SteerError(f"{verb} takes {what}; got {' '.join(args)}")
            return getattr(self, verb)()
        raise SteerError(f"'{verb}' is not a steering verb; one of: {', '.join(VERBS)}")

    # -- checks -------------------------------------------------------------------------------

    def _write(self, verb: str, args: dict[str, Any], text: str, from_trial: int) -> Action:
        return write_action(self.study, verb, args, text, from_trial, self.by)

    def _trial(self, number: int, verb: str) -> FrozenTrial:
        trials = self.study.get_trials(deepcopy=False)
        if isinstance(number, bool) or not 0 <= number < len(trials):
            raise SteerError(f"{verb}: no trial #{number}; trials are #0 to #{len(trials) - 1}")
        return trials[number]

    def _mode(self, verb: str) -> Action:
        return self._write(verb, {}, verb, self._next_trial())

    def _values(self, params: Params, verb: str) -> dict[str, Any]:
        """Parameter values checked like the sweep's own ``enqueue`` (``SearchSpace.fit``)."""
        items = (
            params.items()
            if isinstance(params, Mapping)
            else [self._parse(p, verb) for p in params]
        )
        given = {self._known(str(k), verb): v for k, v in items}
        if not given:
            raise SteerError(f"{verb}: give key=value, e.g. {verb} model.n_layers=2")
        try:
            return params_from_mapping(self.space, given, verb)
        except SteeringError as error:
            raise SteerError(str(error)) from None

    def _parse(self, line: str, verb: str) -> tuple[str, Any]:
        key, _ = _split(line)
        try:
            override = self.parser.parse_override(line)
        except HydraException as error:
            raise SteerError(f"{verb}: cannot parse '{line}': {error}") from None
        if override.is_sweep_override():
            dist = self.space.distributions.get(key)
            one = getattr(dist, "choices", [getattr(dist, "low", "<value>")])[0]
            raise SteerError(
                f"{verb}: '{line}' is a range; give one value, e.g. {key}={format_value(one)}"
            )
        return key, override.value()

    def _known(self, key: str, verb: str) -> str:
        if key in self.space.distributions:
            return key
        close = difflib.get_close_matches(key, list(self.space.distributions), n=2)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise SteerError(
            f"{verb}: '{key}' is not a searched parameter of this sweep.{hint} Searched: "
            f"{', '.join(self.space.distributions) or 'none'}"
        )

    def _narrowed(self, name: str, line: str) -> BaseDistribution:
        """The distribution ``line`` gives, if it lies within ``name``'s declared one."""
        declared = self.space.distributions[name]
        where = f"narrow {name}"
        if isinstance(declared, CategoricalDistribution):
            raise SteerError(
                f"{where}: {name} is a choice {describe(declared)}; narrow works on numeric "
                "ranges. Fix it to one choice (fix) or enqueue the points to run"
            )
        try:
            _, new = parse_line(line, self.parser, where)
        except SearchSpaceError as error:
            raise SteerError(str(error)) from None
        problem = narrowing_problem(self.space, name, new)
        if problem is not None:
            raise SteerError(f"{where}: {problem}")
        assert new is not None  # narrowing_problem refuses a plain value
        return new

    def _not_grid(self, verb: str) -> None:
        if "GridSampler" in self.sampler:
            raise SteerError(
                f"{verb}: this sweep uses the grid sampler, which runs its queued grid points; "
                "enqueue points, or change n_trials, instead"
            )

    def _scheduled(self, number: int, verb: str) -> None:
        """Refuse a trial number that ``pause``/``resume`` would not change: not a run of a
        checkpointed schedule, a run the schedule never continues (it ended, or a later run
        continued it), held already, or (``resume``) not held."""
        trials = self.study.get_trials(deepcopy=False)
        if not 0 <= number < len(trials):
            raise SteerError(f"{verb}: no trial #{number}; trials are #0 to #{len(trials) - 1}")
        if not is_scheduled(trials[number]):
            raise SteerError(
                f"{verb} {number}: trial #{number} is not a run of a checkpointed schedule "
                "(hydra/sweeper/scheduler=asha|pbt); without a number it applies to the sweep"
            )
        held = read_state(self.study.user_attrs, self.space).held
        if verb == "resume" and number not in held:
            raise SteerError(
                f"resume {number}: trial #{number} is not held; held: {_numbers(held)}"
            )
        if verb == "pause" and number in held:
            raise SteerError(f"pause {number}: trial #{number} is held already")
        open_ = {t.number for t in waiting_to_continue(trials)} | {
            t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)
        }
        if verb == "pause" and number not in open_:
            raise SteerError(
                f"pause {number}: the schedule never continues trial #{number} (it ended, or a "
                f"later run continued it); paused or running now: {_numbers(open_)}"
            )

    def _trials(self, states: tuple[TrialState, ...]) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=states)

    def _next_trial(self) -> int:
        """The first trial that can honour an action written now: the first waiting trial, or
        the next new one."""
        trials = self.study.get_trials(deepcopy=False)
        waiting = [t.number for t in trials if t.state == TrialState.WAITING]
        return min([*waiting, len(trials)])


def _split(line: str) -> tuple[str, str]:
    key, sep, value = str(line).partition("=")
    if not sep or not key.strip():
        raise SteerError(f"'{line}' is not key=value")
    return key.strip(), value.strip()


def _words(text: str, verb: str, example: str) -> str:
    """``text`` stripped, if it says something on one line of at most 500 characters."""
    words = " ".join(str(text).split())
    if not words or len(words) > 500:
        raise SteerError(f"{verb}: give a text of 1 to 500 characters, e.g. {example}")
    return words


def _whole(word: str) -> int | None:
    """``word`` as a whole number (digits only), one past ``MAX_N_TRIALS`` at the most: a
    longer one is no trial's number nor an ``n_trials``, and Python refuses to read one of
    thousands of digits."""
    if not (word.isascii() and word.isdigit()):
        return None
    return int(word) if len(word) <= len(str(MAX_N_TRIALS)) else MAX_N_TRIALS + 1


def _numbers(numbers: Iterable[int]) -> str:
    return ", ".join(f"#{n}" for n in sorted(numbers)) or "none"


def _assignments(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in values.items())
