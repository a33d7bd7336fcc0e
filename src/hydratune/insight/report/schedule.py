"""The schedule a sweep ran (``hydra/sweeper/scheduler=asha|pbt``): ASHA's rungs and PBT's
lineage, read only through ``hydratune.schedule.lineage``.

ASHA: per rung, how many runs reached it, how many paused there and how many of those were
promoted, with every run's value at its rung (a figure). PBT: each run as a point (epochs
trained, value) and a line from the run it continued from, so an exploit shows as a line
jumping from one member to another.

The data is ``hydratune.schedule.schedule_data``'s, which ``hydratune serve``'s page draws too,
so the two cannot disagree about a rung or an edge.
"""

from __future__ import annotations

from typing import Any

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from hydratune.insight.report.model import Objective, Section, TableData
from hydratune.insight.report.trials import number_text
from hydratune.schedule import rung_name, schedule_data

RUNG_HEAD = ["rung", "epochs", "runs", "paused", "promoted", "best"]
MEMBER_HEAD = ["member", "runs", "continued from another member", "epochs", "latest value"]
# ASHA's two kinds of run, as the page draws them too (serve/static/schedule.js)
PROMOTED = [(True, "promoted to the next rung", "#d62728"), (False, "not promoted", "#1f77b4")]


def schedule_section(trials: list[FrozenTrial], objective: Objective) -> Section | None:
    """ASHA's rungs or PBT's lineage; None for a sweep that ran no schedule."""
    data = schedule_data(trials, objective.direction == StudyDirection.MAXIMIZE)
    if data is None:
        return None
    section = Section("schedule", f"Schedule ({data['kind']})")
    if "rungs" in data:
        _asha(section, data["rungs"])
    elif "members" in data:
        _pbt(section, data["members"])
    return section


def _asha(section: Section, rungs: list[dict[str, Any]]) -> None:
    import plotly.graph_objects as go

    bracketed = any("bracket" in rung for rung in rungs)
    rows = []
    points: dict[bool, list[tuple[int, Any, str]]] = {True: [], False: []}  # by promoted
    for rung in rungs:
        counts = [rung["rung"], rung["epochs"], len(rung["runs"]), rung["paused"], rung["promoted"]]
        counts = [rung["bracket"], *counts] if bracketed else counts
        rows.append([*map(str, counts), number_text(rung["best"])])
        for number, value, up in rung["runs"]:
            points[up].append((rung["epochs"], value, f"trial #{number}, {rung_name(rung)}"))
    fig = go.Figure(
        [  # one trace, one legend entry, per colour
            go.Scatter(
                x=[x for x, _, _ in points[up]],
                y=[y for _, y, _ in points[up]],
                text=[text for _, _, text in points[up]],
                mode="markers",
                name=name,
                marker={"color": color},
            )
            for up, name, color in PROMOTED
        ]
    )
    fig.update_layout(
        title="ASHA: value of each run at its rung",
        xaxis={"title": "epochs (rung)", "type": "log"},
        yaxis_title="value",
    )
    section.figures.append(("schedule", fig))
    head = ["bracket", *RUNG_HEAD] if bracketed else RUNG_HEAD
    section.tables.append(TableData("ASHA rungs", head, rows))


def _pbt(section: Section, members: list[dict[str, Any]]) -> None:
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    fig, rows = go.Figure(), []
    colors = qualitative.Plotly  # a member's, for its lines and its runs alike (the page's too)
    for index, member in enumerate(members):
        color = colors[index % len(colors)]
        xs: list[float | None] = []
        ys: list[float | None] = []
        for (x0, y0), (x1, y1) in member["edges"]:  # one line per edge, gaps (None) between
            xs += [x0, x1, None]
            ys += [y0, y1, None]
        name, runs = member["member"], member["runs"]
        group = {"legendgroup": f"member {name}", "line": {"color": color}}
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"member {name}", **group))
        fig.add_trace(
            go.Scatter(
                x=[epochs for _, epochs, _ in runs],
                y=[value for _, _, value in runs],
                text=[f"trial #{number}" for number, _, _ in runs],
                mode="markers",
                name=f"member {name} runs",
                showlegend=False,
                marker={"color": color},
                **group,
            )
        )
        _, epochs, value = runs[-1]
        rows.append([str(name), str(len(runs)), str(member["exploits"]), str(epochs)])
        rows[-1].append(number_text(value))
    fig.update_layout(
        title="PBT lineage: each run from the run it continued from",
        xaxis_title="epoch",
        yaxis_title="value",
    )
    section.figures.append(("schedule", fig))
    section.tables.append(TableData("PBT members", MEMBER_HEAD, rows))
