"""Reading a scheduled study's runs: which trial paused, which it continued from, and what
that makes of the whole study (ASHA's rungs, PBT's lineage: ``schedule_data``).

Plain functions over ``FrozenTrial`` and the keys in ``hydratune.attrs``, imported by the
schedules, by ``hydratune steer show``, the report, ``hydratune serve`` and MLflow tracking
alike (one definition of "paused", one of a rung and of an edge: they cannot disagree).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hydratune.attrs import LOST, PAUSED, RESUMED_FROM, RETRY_OF, SEGMENT, STOPPED_REASON


def is_paused(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is a run a schedule paused (it may be continued)."""
    reason = str(trial.user_attrs.get(STOPPED_REASON) or "")
    return trial.state == TrialState.PRUNED and reason.startswith(PAUSED)


# Trial states as hydratune shows them: Optuna's, with a paused run apart from the pruned ones
STATE_NAMES = ("running", "complete", "pruned", "paused", "fail", "waiting")


def state_name(trial: FrozenTrial) -> str:
    """``trial``'s state as ``steer show``, the page, the report and MLflow say it: Optuna's,
    except that a run a schedule paused (PRUNED in Optuna: it stopped early) is "paused"."""
    return "paused" if is_paused(trial) else trial.state.name.lower()


def state_counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """How many of ``trials`` are in each of ``STATE_NAMES``."""
    counts = dict.fromkeys(STATE_NAMES, 0)
    for trial in trials:
        counts[state_name(trial)] += 1
    return counts


def resumed_number(trial: FrozenTrial) -> int | None:
    """The trial whose checkpoint ``trial`` continued from, if any."""
    resumed = trial.user_attrs.get(RESUMED_FROM)
    return resumed.get("trial") if isinstance(resumed, Mapping) else None


def continues_from(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> int | None:
    """The trial whose checkpoint ``trial`` continues from; for a lost run's queued retry, which
    takes its plan only when it starts, the one the lost run continued from."""
    retry_of = trial.user_attrs.get(RETRY_OF)
    if RESUMED_FROM not in trial.user_attrs and retry_of is not None:
        return resumed_number(trials[int(retry_of)])
    return resumed_number(trial)


def lineage_root(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> int:
    """The first run of the chain of checkpoints ``trial``'s weights came through (itself when
    it continued from none): one configuration's runs in ASHA, an exploit's ancestry in PBT.
    ``trials``: the study's, in number order."""
    root, seen = trial.number, {trial.number}
    number = resumed_number(trial)
    while number is not None and number not in seen and number < len(trials):
        root = number
        seen.add(number)
        number = resumed_number(trials[number])
    return root


def epochs_of(trial: FrozenTrial) -> int:
    """The epochs a schedule planned ``trial`` to have trained when it ends."""
    return int(trial.user_attrs[SEGMENT]["epochs"])


def waiting_to_continue(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Paused runs a schedule may still continue: under ASHA those no trial has continued from
    yet; under PBT each member's latest run, whoever else copied it (a member that exploited
    another's checkpoint has left its own behind)."""
    continued = {resumed_number(t) for t in trials}
    latest: dict[Any, int] = {}
    for trial in trials:
        member = (segment_of(trial) or {}).get("member")
        if member is not None:
            latest[member] = max(latest.get(member, trial.number), trial.number)

    def waits(trial: FrozenTrial) -> bool:
        member = (segment_of(trial) or {}).get("member")
        if member is None:  # ASHA: a run is continued once
            return trial.number not in continued
        return latest[member] == trial.number  # PBT: the member's own latest run

    return [t for t in trials if is_paused(t) and waits(t)]


POPULATION_DONE = "every member of the population has trained to its last epoch or cannot continue"


def trained_elsewhere(numbers: Collection[int]) -> str:
    """Why a process sharing a PBT study has nothing left to run while ``numbers``, runs of
    another process, still train: that process continues them (and so the population)."""
    runs = ", ".join(f"#{n}" for n in sorted(numbers))
    return (
        f"the members still training ({runs}) run in another process, which goes on with the "
        "population"
    )


def population_end(trials: list[FrozenTrial], held: Collection[int] = ()) -> str | None:
    """Why a PBT sweep's population trains nothing more, as ``<kind>: <why>``, or None while
    it may: it ran, no run is running, and no member's latest run is paused (each reached its
    last epoch, or failed) or the paused ones are all ``held`` by a person (``steer pause``:
    the sweep cannot continue them until ``steer resume``)."""
    members = [t for t in trials if "member" in (segment_of(t) or {})]
    if not members or any(t.state == TrialState.RUNNING for t in trials):
        return None
    kind = segment_of(members[0])["kind"]
    waiting = [t.number for t in waiting_to_continue(members)]
    if not waiting:
        return f"{kind}: {POPULATION_DONE}"
    if set(waiting) <= set(held):
        numbers = ", ".join(f"#{n}" for n in waiting)
        return (
            f"{kind}: the members left to train are held by `steer pause` ({numbers}): "
            "`steer resume` them, then run the sweep's command again"
        )
    return None


def segment_of(trial: FrozenTrial) -> Mapping | None:
    """The schedule's plan for ``trial`` (``{kind, rung | member, epochs}``), if scheduled."""
    segment = trial.user_attrs.get(SEGMENT)
    return segment if isinstance(segment, Mapping) else None


def is_scheduled(trial: FrozenTrial) -> bool:
    """Whether a schedule planned ``trial``'s run (its config has the schedule's values)."""
    return segment_of(trial) is not None


def bracket_of(segment: Mapping[str, Any]) -> int:
    """A run's Hyperband bracket; plain ASHA's runs (no ``bracket`` key) are bracket 0's."""
    return int(segment.get("bracket", 0))


def value_at_end(trial: FrozenTrial) -> float | None:
    """The objective where the run stopped: its value, else its report at its last epoch."""
    if trial.state == TrialState.COMPLETE and trial.values:
        return trial.values[0]
    segment = segment_of(trial)
    if segment is None:
        return None
    return trial.intermediate_values.get(int(segment["epochs"]) - 1)


def schedule_data(trials: list[FrozenTrial], maximize: bool) -> dict[str, Any] | None:
    """``{"kind": "asha", "rungs": asha_rungs(...)}`` or ``{"kind": "pbt", "members":
    pbt_lineage(...)}`` for the trials a schedule ran; None for a sweep that ran none. A lost
    run trained nothing the study keeps (its retry runs its plan again): it is left out."""
    scheduled = [t for t in trials if is_scheduled(t) and not t.user_attrs.get(LOST)]
    if not scheduled:
        return None
    kind = segment_of(scheduled[0])["kind"]
    if kind == "asha":
        return {"kind": kind, "rungs": asha_rungs(scheduled, maximize)}
    if kind == "pbt":
        return {"kind": kind, "members": pbt_lineage(scheduled)}
    return {"kind": kind}


def asha_rungs(trials: list[FrozenTrial], maximize: bool) -> list[dict[str, Any]]:
    """Per rung, lowest first: its epochs, each run that reached it as ``[number, value at its
    rung, promoted]``, how many paused there and were promoted from there, the best value.
    Under Hyperband a run ranks within its bracket, so each bracket's rungs are apart, bracket
    by bracket, each with its ``bracket``. A run still training has not reached its rung."""
    continued = {resumed_number(t) for t in trials}
    bracketed = any("bracket" in segment_of(t) for t in trials)
    rungs: dict[tuple[int, int], list[FrozenTrial]] = {}
    for trial in (t for t in trials if t.state.is_finished()):
        segment = segment_of(trial)
        rungs.setdefault((bracket_of(segment), int(segment["rung"])), []).append(trial)
    shown = []
    for (bracket, rung), runs in sorted(rungs.items()):
        ends = [[t.number, value_at_end(t), t.number in continued] for t in runs]
        values = [end[1] for end in ends if end[1] is not None]
        shown.append(
            {
                **({"bracket": bracket} if bracketed else {}),
                "rung": rung,
                "epochs": int(segment_of(runs[0])["epochs"]),
                "runs": ends,
                "paused": sum(map(is_paused, runs)),
                "promoted": sum(is_paused(t) and t.number in continued for t in runs),
                "best": (max if maximize else min)(values) if values else None,
            }
        )
    return shown


def rung_name(rung: Mapping[str, Any]) -> str:
    """``rung 1``, or ``bracket 0 rung 1`` under Hyperband (an entry of ``asha_rungs``)."""
    where = f"bracket {rung['bracket']} " if "bracket" in rung else ""
    return f"{where}rung {rung['rung']}"


def pbt_lineage(trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    """Per member: each run as ``[number, epochs, value]``, each resumed_from edge as
    ``[[epochs, value] of the run continued from, [epochs, value] of the run]``, and how many
    runs continued from another member (exploits)."""
    by_number = {t.number: t for t in trials}
    members: dict[int, list[FrozenTrial]] = {}
    for trial in trials:
        members.setdefault(int(segment_of(trial)["member"]), []).append(trial)
    shown = []
    for member, runs in sorted(members.items()):
        edges, exploits = [], 0
        for run in runs:
            source = _source(run, by_number)
            if source is not None:
                edges.append([_end(source), _end(run)])
                exploits += segment_of(source)["member"] != member
        ends = [[r.number, *_end(r)] for r in runs]
        shown.append({"member": member, "runs": ends, "edges": edges, "exploits": exploits})
    return shown


def _end(run: FrozenTrial) -> list[Any]:
    """Where ``run`` stopped: ``[epochs, value]``."""
    return [segment_of(run)["epochs"], value_at_end(run)]


def _source(run: FrozenTrial, by_number: dict[int, FrozenTrial]) -> FrozenTrial | None:
    number = resumed_number(run)
    return None if number is None else by_number.get(number)
