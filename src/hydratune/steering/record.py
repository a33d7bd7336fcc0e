"""The steering record: every action taken on a running sweep, kept in its study.

Each action is one study user attribute of its own, ``steer:<time ns>:<host>:<pid>:<n>``, so
two people steering at once never overwrite each other (append-only, in every storage), the
keys sort in time order, and replaying them in that order gives the steering in force (the
later action wins per parameter). Workers on every host read it from the storage before each
trial; a rerun of the sweep reads it again, so steering survives restarts.

The sweep also records its search space (``sweep_space``), so ``hydratune steer`` in another
shell validates against exactly what the workers search.

An on-disk format, read defensively: another version of hydratune or a script may have written
a ``steer:*`` attribute. One that does not parse (or, given the space, whose values lie outside
it) is skipped with one warning naming its key; the rest of the record still applies. Names
and texts are read with control characters escaped, so a user name cannot forge log lines.
"""

from __future__ import annotations

import getpass
import itertools
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    distribution_to_json,
    json_to_distribution,
)

from hydratune.attrs import STEER_PREFIX, SWEEP_SPACE
from hydratune.space import (
    Blocks,
    Cell,
    Condition,
    Pair,
    SearchSpace,
    SearchSpaceError,
    describe,
)
from hydratune.steering.points import narrowing_problem

log = logging.getLogger(__name__)

RUNNING, PAUSED, STOPPED = "running", "paused", "stopped"
_MODES = {"pause": PAUSED, "resume": RUNNING, "stop": STOPPED}
_LOGGED_ONLY = ("enqueue", "prune")  # they act on the study and its trials directly
_ON_TRIALS = ("note", "fail")  # about one trial, finished ones too (whose attributes are frozen)
_counter = itertools.count()
_skipped: set[str] = set()  # keys already warned about in this process


@dataclass(frozen=True)
class Action:
    """One steering action as stored: what (``verb``, ``args``, ``text``), when, by whom, and
    ``from_trial``: trials with this number or later, asked after it was written, honour it."""

    key: str
    verb: str
    args: dict[str, Any]
    text: str
    at: str  # ISO 8601, UTC
    user: str
    host: str
    from_trial: int

    @property
    def by(self) -> str:
        return f"{self.user}@{self.host}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "by": self.by,
            "from_trial": self.from_trial,
            "action": self.text,
        }


@dataclass
class SteeringState:
    """The steering in force: the actions replayed in time order, the later one winning."""

    mode: str = RUNNING
    n_trials: int | None = None  # None: the sweep's own n_trials
    fixed: dict[str, Any] = field(default_factory=dict)
    narrowed: dict[str, BaseDistribution] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)  # paused trials a schedule must not continue
    actions: list[Action] = field(default_factory=list)
    notes: dict[int, list[Action]] = field(default_factory=dict)  # trial number: its notes
    failed: dict[int, str] = field(default_factory=dict)  # trial number: why failed by hand

    @property
    def launching(self) -> bool:
        return self.mode == RUNNING

    def apply(self, action: Action) -> None:
        self.actions.append(action)
        args = action.args
        if action.verb in _MODES:
            self.mode = _MODES[action.verb]
        elif action.verb == "n_trials":
            self.n_trials = int(args["n_trials"])
        elif action.verb == "fix":
            for key, value in args["params"].items():
                self.fixed[key] = value
                self.narrowed.pop(key, None)
        elif action.verb == "unfix":
            for key in args["keys"]:
                self.fixed.pop(key, None)
                self.narrowed.pop(key, None)
        elif action.verb == "pause_trial":
            self.held.add(int(args["trial"]))
        elif action.verb == "resume_trial":
            self.held.discard(int(args["trial"]))
        elif action.verb == "narrow":
            for key, dist in args["distributions"].items():
                self.narrowed[key] = json_to_distribution(dist)
                self.fixed.pop(key, None)
        elif action.verb == "note":
            self.notes.setdefault(int(args["trial"]), []).append(action)
        elif action.verb == "fail":
            self.failed[int(args["trial"])] = printable(args["reason"])
        # enqueue and prune act on the study and its trials directly; they are only logged


def steering_keys(attrs: Mapping[str, Any]) -> list[str]:
    """The steering actions' keys among a study's user attributes, in time order."""
    return sorted(k for k in attrs if k.startswith(STEER_PREFIX))


def read_state(attrs: Mapping[str, Any], space: SearchSpace | None = None) -> SteeringState:
    """Replay the steering actions found in a study's user attributes, skipping (with one
    warning each) those that do not parse or, given ``space``, do not fit it."""
    state = SteeringState()
    for key in steering_keys(attrs):
        try:
            action = _action(key, attrs[key])
            if space is not None:
                _check_fits(action, space)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            if key not in _skipped:
                _skipped.add(key)
                log.warning(
                    "steering record %s skipped (written by another version or a script?): %s",
                    printable(key),
                    printable(f"no {error}" if isinstance(error, KeyError) else error),
                )
            continue
        state.apply(action)
    return state


def _action(key: str, record: Any) -> Action:
    """One stored action, its fields checked as ``apply`` will read them."""
    if not isinstance(record, Mapping):
        raise TypeError(f"a {type(record).__name__}, not a mapping")
    verb, args = record["verb"], record.get("args", {})
    if not isinstance(args, Mapping):
        raise TypeError(f"args is a {type(args).__name__}, not a mapping")
    if verb in ("fix", "enqueue"):
        _names(args["params"])
    elif verb == "unfix":
        _names(args["keys"])
    elif verb == "narrow":
        for dist in _names(args["distributions"]).values():
            json_to_distribution(dist)
    elif verb == "n_trials":
        n = args["n_trials"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n_trials {n!r} is not a whole number >= 1")
    elif verb in ("pause_trial", "resume_trial"):
        number = args["trial"]
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"trial {number!r} is not a trial number")
    elif verb in _ON_TRIALS:
        trial, words = args["trial"], args["note" if verb == "note" else "reason"]
        if isinstance(trial, bool) or not isinstance(trial, int) or not isinstance(words, str):
            raise TypeError(f"{verb}: trial {trial!r} or its text {words!r} is malformed")
    elif verb not in _MODES and verb not in _LOGGED_ONLY:
        raise ValueError(f"unknown verb {verb!r}")
    from_trial = record.get("from_trial", 0)
    if isinstance(from_trial, bool) or not isinstance(from_trial, int):
        raise TypeError(f"from_trial {from_trial!r} is not a trial number")
    return Action(
        key=printable(key),
        verb=verb,
        args=dict(args),
        text=printable(record.get("text", verb)),
        at=printable(record.get("at", "")),
        user=printable(record.get("user", "?")),
        host=printable(record.get("host", "?")),
        from_trial=from_trial,
    )


def _names(value: Any) -> Any:
    """``value`` if it is a mapping or list of parameter names (str)."""
    if not isinstance(value, (Mapping, list)) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{value!r} does not name parameters")
    return value


def _check_fits(action: Action, space: SearchSpace) -> None:
    """Raise ``ValueError`` if a ``fix`` or ``narrow`` would put a value outside ``space``:
    workers check the record again before applying it (a script may have written it)."""
    if action.verb == "fix":
        for key, value in action.args["params"].items():
            if key not in space.distributions:
                raise ValueError(f"{action.text}: {key} is not a searched parameter")
            try:
                space.fit(key, value, key)
            except SearchSpaceError as error:
                raise ValueError(f"{action.text}: {error}") from None
    elif action.verb == "narrow":
        for key, dist in action.args["distributions"].items():
            problem = narrowing_problem(space, key, json_to_distribution(dist))
            if problem is not None:
                raise ValueError(f"{action.text}: {key}: {problem}")


def printable(text: Any) -> str:
    """``text`` with control characters escaped (``\\n``): one line in a log or a terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(text))


def write_action(
    study: optuna.Study,
    verb: str,
    args: dict[str, Any],
    text: str,
    from_trial: int,
    by: tuple[str, str] | None = None,
) -> Action:
    """Append one action to the study's steering record (one new attribute, never a rewrite),
    as written by ``by`` (user, host; default: this process's, as ``who`` says)."""
    user, host = (printable(by[0]), printable(by[1])) if by else who()
    pid = os.getpid()
    here = printable(socket.gethostname())  # the writing process, whoever it writes for
    key = f"{STEER_PREFIX}{time.time_ns():020d}:{here}:{pid}:{next(_counter)}"
    action = Action(
        key=key,
        verb=verb,
        args=args,
        text=text,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        user=user,
        host=host,
        from_trial=from_trial,
    )
    study.set_user_attr(
        key,
        {
            "verb": verb,
            "args": args,
            "text": text,
            "at": action.at,
            "user": action.user,
            "host": host,
            "from_trial": from_trial,
        },
    )
    return action


def who() -> tuple[str, str]:
    """The user and host a steering action is recorded as coming from."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in a container without a passwd entry
        user = str(os.getuid())
    return printable(user), printable(socket.gethostname())


def space_record(
    space: SearchSpace, sampler: optuna.samplers.BaseSampler, n_trials: int
) -> dict[str, Any]:
    """What another shell needs to validate and show steering: the space, the sampler's name
    and the sweep's own ``n_trials``."""
    return {
        "distributions": {k: distribution_to_json(d) for k, d in space.distributions.items()},
        "conditions": {
            k: {"parent": c.parent, "values": list(c.values)} for k, c in space.conditions.items()
        },
        "pairs": {
            k: {"keys": list(p.keys), "rows": [list(r) for r in p.rows]}
            for k, p in space.pairs.items()
        },
        "architectures": {
            k: {"each": list(a.each)}
            if isinstance(a, Blocks)
            else {"nodes": a.nodes, "ops": list(a.ops)}
            for k, a in space.architectures.items()
        },
        "sampler": type(sampler).__name__,
        "n_trials": n_trials,
    }


def record_space(study: optuna.Study, space: SearchSpace, n_trials: int) -> None:
    """Store the sweep's search space in the study unless it is already there as it is."""
    record = space_record(space, study.sampler, n_trials)
    if study.user_attrs.get(SWEEP_SPACE) != record:
        study.set_user_attr(SWEEP_SPACE, record)


@dataclass
class RecordedSweep:
    """What a sweep recorded about itself for steering."""

    space: SearchSpace
    sampler: str
    n_trials: int | None


def recorded_space(attrs: Mapping[str, Any]) -> RecordedSweep | None:
    """The search space, sampler name and n_trials the sweep recorded in a study's user
    attributes, or None (a study not run by a hydratune sweep, or by one older than
    steering)."""
    record = attrs.get(SWEEP_SPACE)
    if record is None:
        return None
    space = SearchSpace(
        distributions={k: json_to_distribution(d) for k, d in record["distributions"].items()},
        conditions={
            k: Condition(c["parent"], tuple(c["values"])) for k, c in record["conditions"].items()
        },
        pairs={
            k: Pair(tuple(p["keys"]), tuple(tuple(r) for r in p["rows"]))
            for k, p in record["pairs"].items()
        },
        architectures={  # absent in a record older than hydra.sweeper.blocks/cells
            k: Blocks(k, tuple(a["each"])) if "each" in a else Cell(k, a["nodes"], tuple(a["ops"]))
            for k, a in record.get("architectures", {}).items()
        },
    )
    return RecordedSweep(space, record.get("sampler", ""), record.get("n_trials"))


def steering_summary(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The steering in force and its log, for ``optimization_results.yaml``; None if none."""
    recorded = recorded_space(attrs)
    state = read_state(attrs, recorded.space if recorded else None)
    if not state.actions:
        return None
    return {
        "state": state.mode,
        "n_trials": state.n_trials,
        "fixed": dict(state.fixed),
        "narrowed": {k: describe(d) for k, d in state.narrowed.items()},
        "log": [a.as_dict() for a in state.actions],
    }
