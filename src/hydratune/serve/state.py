"""A study as the page sees it, read incrementally: each trial is turned into a row once it
has finished, and a page asks only for what changed since its cursor.

A finished trial never changes in Optuna (notes and failing by hand live in the study's
steering record, not on the trial), so a refresh re-reads only the trials that were not
finished last time and the ones added since; the rows carry the version at which they last
changed, and ``delta(since)`` returns the rows newer than the page's cursor ``since`` with the
summary (counts, target, best so far, steering), which is small. A cursor names the ``Feed``
(``epoch``) as well as the version: each server process counts its versions from 0, so a page
that reconnects to a restarted server gets the whole state, not only what is newer than a
number the new server never gave. With 10,000 trials an update is a few
milliseconds (``python -m bench.serve``). On the wire (``Feed.wire``) the rows are lists in the
order of ``COLUMNS`` and a trial's parameters a flat list of (index into the message's parameter
names, value): 10,000 trials are 1.3 MB of JSON instead of 3 MB of row objects, less to write,
send and parse; the first state of every page is written once per version. A scheduled
study's rungs or lineage (``schedule.schedule_data``, as the report draws them) go with a delta
only when they changed.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from hydratune import compat
from hydratune.attrs import FAIL_REASON, OWNER, PRUNE_REQUESTED, STOPPED_REASON
from hydratune.owner import gone
from hydratune.schedule import (
    STATE_NAMES,
    is_paused,
    is_scheduled,
    schedule_data,
    segment_of,
    state_name,
)
from hydratune.steering import (
    RUNNING,
    SteeringState,
    best_trial,
    counts_toward_n_trials,
    declared_n_trials,
    n_trials_in_force,
    printable,
    read_state,
    recorded_space,
    sweep_mode,
    why_ended,
    worker,
)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
MIN_REFRESH_S = 0.25  # pages polling together share one read of the storage
COLUMNS = ("number", "state", "values", "params", "start", "duration", "counts", "reason")
COLUMNS += ("worker", "paused", "curve")


def _number(value: float | None) -> float | str | None:
    """A value JSON can carry: NaN and infinities as text."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


def _plain(value: Any) -> Any:
    """A parameter value JSON can carry (Hydra choices are plain values; anything else as text)."""
    if isinstance(value, float):
        return _number(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _json(value: Any) -> Any:
    """Nested lists and dicts with every float JSON can carry (``_number``)."""
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return _number(value) if isinstance(value, float) else value


def _time(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at else None


def row(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as the page shows it; a running trial carries its learning curve, and its
    worker is marked ``(ended: lost)`` once that process has ended (as ``steer show`` marks it)."""
    attrs = trial.user_attrs
    running = trial.state == TrialState.RUNNING
    reason = attrs.get(FAIL_REASON) or attrs.get(STOPPED_REASON) or attrs.get(PRUNE_REQUESTED)
    duration = None
    if trial.datetime_start and trial.datetime_complete:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    shown: dict[str, Any] = {
        "number": trial.number,
        "state": state_name(trial),
        "values": [_number(v) for v in trial.values] if trial.values else None,
        "params": {k: _plain(v) for k, v in trial.params.items()},
        "start": _time(trial.datetime_start),
        "duration": duration,
        "counts": counts_toward_n_trials(trial),
        "reason": printable(reason) if reason else None,
        "worker": worker(attrs.get(OWNER), running and gone(attrs.get(OWNER))) or None,
        "paused": paused_at(trial),
    }
    if running:
        shown["curve"] = [[s, _number(v)] for s, v in sorted(trial.intermediate_values.items())]
    return shown


def paused_at(trial: FrozenTrial) -> str | None:
    """Where a schedule paused ``trial`` ("rung 1, 2 epochs", "member 3, 4 epochs"), else None.

    Fixed once the trial has finished, like the rest of its row: whether a later trial has
    continued from it is shown by that trial, not by rewriting this one."""
    if not is_paused(trial):
        return None
    segment = segment_of(trial) or {}
    where = f"member {segment['member']}" if "member" in segment else f"rung {segment.get('rung')}"
    return f"{where}, {segment.get('epochs')} epochs"


def space_of(dist: BaseDistribution) -> dict[str, Any]:
    """A declared distribution as the page's forms bound their inputs."""
    if isinstance(dist, CategoricalDistribution):
        return {"kind": "choice", "choices": [_plain(c) for c in dist.choices]}
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    kind = "int" if isinstance(dist, IntDistribution) else "float"
    return {"kind": kind, "low": dist.low, "high": dist.high, "log": dist.log, "step": dist.step}


@dataclass
class Feed:
    """The rows of one study and the version at which each last changed."""

    study: optuna.Study
    metric_names: list[str] | None = None
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    unfinished: set[int] = field(default_factory=set)
    version: int = 0
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))  # in each cursor it gives
    summary: dict[str, Any] = field(default_factory=dict)
    schedule: tuple[int, dict[str, Any] | None] = (0, None)  # version, schedule_data's
    _read_at: float = -math.inf
    _best: tuple[dict[int, str], FrozenTrial | None] = ({}, None)  # failed by hand, best then
    _first: tuple[str, str] = ("", "")  # the whole state's cursor, and it on the wire
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, force: bool = False) -> None:
        """Read what changed in the study since the last refresh (at most every 0.25 s
        unless ``force``: after the page steered)."""
        with self._lock:
            if not force and time.monotonic() - self._read_at < MIN_REFRESH_S:
                return
            trials = self.study.get_trials(deepcopy=False)
            fresh = {t.number: t for t in trials[len(self.rows) :]}
            fresh.update({n: trials[n] for n in self.unfinished if n < len(trials)})
            scheduled = False  # a run a schedule planned changed: its rungs or lineage may have
            for number, trial in fresh.items():
                shown = row(trial)
                if self.rows.get(number) != shown:
                    self.version += 1
                    self.rows[number], self.versions[number] = shown, self.version
                    scheduled = scheduled or is_scheduled(trial)
                if trial.state in FINISHED:
                    self.unfinished.discard(number)
                else:
                    self.unfinished.add(number)
            if scheduled:
                self._schedule(trials)
            summary = self._summary(trials, list(fresh.values()))
            if summary != self.summary:
                self.version += 1
                self.summary = summary
            self._read_at = time.monotonic()

    def delta(self, since: str = "") -> dict[str, Any]:
        """The rows changed after the cursor ``since`` (all of them for a cursor this feed did
        not give), the summary, and the cursor of this state (``version``)."""
        self.refresh()
        with self._lock:
            after = self._version(since)
            changed = [self.rows[n] for n, v in self.versions.items() if v > after]
            cursor = f"{self.epoch}.{self.version}"
            delta = {"version": cursor, "trials": changed, "summary": self.summary}
            if self.schedule[0] > after:
                delta["schedule"] = self.schedule[1]
            return delta

    def wire(self, since: str = "") -> tuple[str, str]:
        """``delta(since)`` as the page receives it (``encode``), and its cursor."""
        delta = self.delta(since)
        cursor, whole = delta["version"], self._version(since) == 0
        if whole and self._first[0] == cursor:
            return self._first
        text = (cursor, encode(delta))
        if whole:
            self._first = text
        return text

    def _version(self, cursor: str) -> int:
        """The version a cursor of this feed names; 0 for any other: another server process
        (the one before a restart) counted its own versions from 0, so they name nothing here.
        A cursor this feed gave has no more digits than its version now."""
        epoch, _, version = cursor.partition(".")
        if epoch != self.epoch or not (version.isascii() and version.isdigit()):
            return 0
        return int(version) if len(version) <= len(str(self.version)) else 0

    def _schedule(self, trials: list[FrozenTrial]) -> None:
        """ASHA's rungs or PBT's lineage as the report draws them, sent to a page only when
        they changed (a ``schedule`` key in the delta; none for a sweep without a schedule)."""
        maximize = self.study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        data = _json(schedule_data(trials, maximize))
        if data != self.schedule[1]:
            self.version += 1
            self.schedule = (self.version, data)

    def _summary(self, trials: list[FrozenTrial], fresh: list[FrozenTrial]) -> dict[str, Any]:
        attrs = compat.study_user_attrs(self.study)
        recorded = recorded_space(attrs)
        space = recorded.space if recorded else None
        state = read_state(attrs, space)
        counts = dict.fromkeys(STATE_NAMES, 0)
        finished = 0
        for shown in self.rows.values():
            counts[shown["state"]] += 1
            finished += shown["counts"]
        declared = declared_n_trials(attrs)
        target = n_trials_in_force(declared, state)
        directions = [d.name.lower() for d in self.study.directions]
        ended = why_ended(trials, target, recorded.sampler if recorded else None, state.held)
        lost = [gone(t.user_attrs.get(OWNER)) for t in fresh if t.state == TrialState.RUNNING]
        mode = sweep_mode(state.mode, ended, lost)  # fresh: every unfinished trial
        return {
            "study": self.study.study_name,
            "directions": directions,
            "metrics": self.metric_names,
            "mode": mode,
            "n_trials": target,
            "declared_n_trials": declared,
            "finished": finished,
            "counts": counts,
            "eta_s": self._eta(target, finished, counts["running"]) if mode == RUNNING else None,
            "best": self._best_number(trials, fresh, state),
            "space": {k: space_of(d) for k, d in space.distributions.items()} if space else {},
            "sampler": recorded.sampler if recorded else None,
            **steering(state),
        }

    def _eta(self, target: int | None, finished: int, running: int) -> float | None:
        """Seconds left at the pace of the last 50 finished trials, over the running workers."""
        if target is None or finished >= target:
            return None
        recent = [
            r["duration"]
            for r in list(self.rows.values())[-200:]
            if r["counts"] and r["duration"] is not None
        ][-50:]
        if not recent:
            return None
        return (target - finished) * (sum(recent) / len(recent)) / max(running, 1)

    def _best_number(
        self, trials: list[FrozenTrial], fresh: list[FrozenTrial], state: SteeringState
    ) -> int | None:
        """The best trial's number (one objective), as ``steering.best_trial`` defines it: of
        the trials read again and the last best while no trial was failed by hand since (the
        best of all trials costs 10-30 ms at 10,000 on 2 loaded cores, every refresh)."""
        failed, best = self._best
        if failed != state.failed:
            best = best_trial(self.study, trials, state.failed)
        else:
            best = best_trial(self.study, [*fresh, *([best] if best else [])], state.failed)
        self._best = (dict(state.failed), best)
        return None if best is None else best.number


def encode(delta: dict[str, Any]) -> str:
    """A delta as compact JSON: each row a list in ``COLUMNS`` order, its parameters a flat
    list of (index into ``params``, value); the page's ``decode`` makes the rows again."""
    names: dict[str, int] = {}
    rows = []
    for shown in delta["trials"]:
        params: list[Any] = []
        for key, value in shown["params"].items():
            params += [names.setdefault(key, len(names)), value]
        rows.append([params if c == "params" else shown.get(c) for c in COLUMNS])
    wire = {**delta, "columns": COLUMNS, "params": list(names), "trials": rows}
    return json.dumps(wire, separators=(",", ":"))


def steering(state: SteeringState) -> dict[str, Any]:
    """The steering in force and its log, as the page shows them (every text escaped for a
    terminal by the record; the page escapes for HTML)."""
    return {
        "fixed": {k: _plain(v) for k, v in state.fixed.items()},
        "narrowed": {k: space_of(d) for k, d in state.narrowed.items()},
        "log": [a.as_dict() for a in state.actions],
        "notes": {
            str(n): [{"by": a.by, "at": a.at, "note": a.args["note"]} for a in notes]
            for n, notes in state.notes.items()
        },
        "failed_by_hand": {str(n): reason for n, reason in state.failed.items()},
    }
