"""The schedule a sweep ran (``hydra/sweeper/scheduler=asha|pbt``): ASHA's rungs and PBT's
lineage, read only through ``hydratune.schedule.lineage``.

ASHA: per rung, how many runs reached it, how many paused there and how many of those were
promoted, with every run's value at its rung (a figure). PBT: each run as a point (epochs
trained, value) and a line from the run it continued from, so an exploit shows as a line
jumping from one member to another.
"""

from __future__ import annotations

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from hydratune.insight.report.model import Objective, Section, TableData
from hydratune.insight.report.trials import number_text
from hydratune.schedule import is_paused, resumed_number, segment_of, value_at_end

RUNG_HEAD = ["rung", "epochs", "runs", "paused", "promoted", "best"]
MEMBER_HEAD = ["member", "runs", "continued from another member", "epochs", "latest value"]


def schedule_section(trials: list[FrozenTrial], objective: Objective) -> Section | None:
    """ASHA's rungs or PBT's lineage; None for a sweep that ran no schedule."""
    scheduled = [t for t in trials if segment_of(t) is not None]
    if not scheduled:
        return None
    kind = segment_of(scheduled[0])["kind"]
    section = Section("schedule", f"Schedule ({kind})")
    if kind == "asha":
        _asha(section, scheduled, objective.direction == StudyDirection.MAXIMIZE)
    elif kind == "pbt":
        _pbt(section, scheduled)
    return section


def _asha(section: Section, trials: list[FrozenTrial], maximize: bool) -> None:
    import plotly.graph_objects as go

    continued = {resumed_number(t) for t in trials}
    rungs: dict[int, list[FrozenTrial]] = {}
    for trial in trials:
        rungs.setdefault(int(segment_of(trial)["rung"]), []).append(trial)
    rows, fig = [], go.Figure()
    for rung, runs in sorted(rungs.items()):
        epochs = int(segment_of(runs[0])["epochs"])
        paused = [t for t in runs if is_paused(t)]
        values = [v for v in map(value_at_end, runs) if v is not None]
        best = (max if maximize else min)(values) if values else None
        promoted = sum(t.number in continued for t in paused)
        rows.append([str(rung), str(epochs), str(len(runs)), str(len(paused)), str(promoted)])
        rows[-1].append(number_text(best))
        fig.add_trace(
            go.Scatter(
                x=[epochs] * len(runs),
                y=[value_at_end(t) for t in runs],
                mode="markers",
                name=f"rung {rung}",
                text=[f"trial #{t.number}" for t in runs],
                marker={"color": ["#d62728" if t.number in continued else "#1f77b4" for t in runs]},
            )
        )
    fig.update_layout(
        title="ASHA: value of each run at its rung (red: promoted to the next rung)",
        xaxis={"title": "epochs (rung)", "type": "log"},
        yaxis_title="value",
    )
    section.figures.append(("schedule", fig))
    section.tables.append(TableData("ASHA rungs", RUNG_HEAD, rows))


def _pbt(section: Section, trials: list[FrozenTrial]) -> None:
    import plotly.graph_objects as go

    by_number = {t.number: t for t in trials}
    fig = go.Figure()
    members: dict[int, list[FrozenTrial]] = {}
    for trial in trials:
        members.setdefault(int(segment_of(trial)["member"]), []).append(trial)
    rows = []
    for member, runs in sorted(members.items()):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for run in runs:  # one line per resumed_from edge, the gaps (None) keep them apart
            source = _source(run, by_number)
            if source is not None:
                xs += [segment_of(source)["epochs"], segment_of(run)["epochs"], None]
                ys += [value_at_end(source), value_at_end(run), None]
        ends = [(segment_of(r)["epochs"], value_at_end(r), r.number) for r in runs]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"member {member}"))
        fig.add_trace(
            go.Scatter(
                x=[e[0] for e in ends],
                y=[e[1] for e in ends],
                text=[f"trial #{e[2]}" for e in ends],
                mode="markers",
                name=f"member {member} runs",
                showlegend=False,
            )
        )
        sources = [_source(r, by_number) for r in runs]
        exploits = sum(s is not None and segment_of(s)["member"] != member for s in sources)
        latest = runs[-1]
        rows.append(
            [
                str(member),
                str(len(runs)),
                str(exploits),
                str(segment_of(latest)["epochs"]),
                number_text(value_at_end(latest)),
            ]
        )
    fig.update_layout(
        title="PBT lineage: each run from the run it continued from",
        xaxis_title="epoch",
        yaxis_title="value",
    )
    section.figures.append(("schedule", fig))
    section.tables.append(TableData("PBT members", MEMBER_HEAD, rows))


def _source(run: FrozenTrial, by_number: dict[int, FrozenTrial]) -> FrozenTrial | None:
    number = resumed_number(run)
    return None if number is None else by_number.get(number)
