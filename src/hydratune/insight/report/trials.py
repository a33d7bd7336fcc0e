"""The report's text about trials: the header, the top trials and the pruned and failed ones
with their reasons, ranked best first."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hydratune.attrs import AUTO_SAMPLER, FAIL_REASON, OVERRIDES, STOPPED_REASON
from hydratune.insight.report.model import Objective, Section, TableData
from hydratune.schedule import state_counts, state_name
from hydratune.schema import AUTO_UNREADABLE, parse_auto_choice
from hydratune.steering import best_trials, failed_by_hand, passed_over
from hydratune.storage import mask_url


def front_numbers(study: optuna.Study, trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of the Pareto-optimal trials of a multi-objective study (empty otherwise)."""
    if len(study.directions) == 1:
        return set()
    return {t.number for t in best_trials(study, trials)}


def trials_section(
    study: optuna.Study, trials: list[FrozenTrial], objectives: list[Objective], top_k: int
) -> Section:
    section = Section("trials", "Trials")
    top = rank_trials(study, trials)[:top_k]
    front = front_numbers(study, trials)
    by_hand = failed_by_hand(study)
    stopped = [
        t for t in trials if t.state in (TrialState.PRUNED, TrialState.FAIL) or t.number in by_hand
    ]
    if not top:
        section.note = "no complete trial yet"
    value_header = " / ".join(o.name for o in objectives)
    best_rows = [
        [
            f"#{t.number}",
            _values_text(t),
            "yes" if t.number in front else "",
            _overrides(t),
            _duration(t),
        ]
        for t in top
    ]
    best_head = ["trial", value_header, "Pareto-optimal", "overrides", "duration"]
    if len(objectives) == 1:
        best_head.pop(2)
        for row in best_rows:
            row.pop(2)
    stopped_rows = [[f"#{t.number}", *_stopped_how(t, by_hand), _overrides(t)] for t in stopped]
    stopped_head = ["trial", "state", "reason", "overrides"]
    title = f"Top {len(top)} complete trials, best first"
    section.tables.append(TableData(title, best_head, best_rows))
    if stopped_rows:
        paused = "paused, pruned" if any(row[1] == "paused" for row in stopped_rows) else "pruned"
        sub = f"{paused.capitalize()} and failed trials ({len(stopped_rows)})"
        section.tables.append(TableData(sub, stopped_head, stopped_rows))
    return section


def rank_trials(study: optuna.Study, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Complete trials not failed by hand, best first: by value; for several objectives the
    Pareto front first, then by the first objective."""
    by_hand = failed_by_hand(study)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.number not in by_hand]
    signs = [1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in study.directions]
    front = front_numbers(study, complete)
    return sorted(
        complete,
        key=lambda t: (
            t.number not in front,
            [s * v for s, v in zip(signs, t.values, strict=True)],
            t.number,
        ),
    )


# --- helpers -------------------------------------------------------------------------------


def _values_text(trial: FrozenTrial) -> str:
    return ", ".join(number_text(v) for v in trial.values or [])


def number_text(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def _overrides(trial: FrozenTrial) -> str:
    overrides = trial.user_attrs.get(OVERRIDES)
    if overrides:
        return " ".join(str(o) for o in overrides)
    return " ".join(f"{k}={v}" for k, v in trial.params.items())


def _stopped_how(trial: FrozenTrial, by_hand: dict[int, str]) -> tuple[str, str]:
    """State and reason: a trial failed by hand says so, with the person's reason."""
    if trial.number in by_hand:
        return "failed by hand", by_hand[trial.number]
    return state_name(trial), _reason(trial)


def _reason(trial: FrozenTrial) -> str:
    attrs = trial.user_attrs
    return str(attrs.get(FAIL_REASON) or attrs.get(STOPPED_REASON) or "")


def _duration(trial: FrozenTrial) -> str:
    return f"{trial.duration.total_seconds():.1f}s" if trial.duration else ""


def header_rows(
    study: optuna.Study,
    trials: list[FrozenTrial],
    objectives: list[Objective],
    storage_url: str | None,
) -> list[tuple[str, str]]:
    counts = state_counts(trials)
    rows = [
        ("study", study.study_name),
        ("storage", mask_url(storage_url) or "(not given)"),
        ("objectives", ", ".join(f"{o.name} ({o.direction.name.lower()})" for o in objectives)),
        ("trials", ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "none"),
    ]
    if AUTO_SAMPLER in study.user_attrs:  # what sampler: auto chose, and why
        rows.append(("sampler", "auto: " + _auto_summary(study.user_attrs[AUTO_SAMPLER])))
    front = best_trials(study, trials)
    if front and len(objectives) == 1:
        rows.append(("best", f"trial #{front[0].number}: {number_text(front[0].value)}"))
        rows.append(("best overrides", _overrides(front[0])))
    elif front:
        rows.append(("Pareto front", f"{len(front)} trial(s)"))
    passed = passed_over(study, trials, why=False)  # the pruned and failed table says why
    if passed is not None:
        rows.append(("note", passed))
    rows.append(("generated", dt.datetime.now().isoformat(timespec="seconds")))
    return rows


def _auto_summary(record: object) -> str:
    """What ``sampler: auto`` recorded, or what is wrong with the attribute."""
    try:
        return parse_auto_choice(record).describe()
    except AUTO_UNREADABLE:
        return f"unreadable ({AUTO_SAMPLER} attribute: {str(record)[:80]!r})"
