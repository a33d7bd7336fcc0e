"""The steering a sweep received (``hydratune steer``): a table, and marks on the history.

Each action is marked on the optimisation history at the trial from which it applied, so a
jump in the best-so-far line can be read against what a person changed there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hydratune.insight.report.model import Section, TableData
from hydratune.steering import Action

if TYPE_CHECKING:
    import plotly.graph_objects as go

STEERING_HEAD = ["at (UTC)", "by", "from trial", "action"]


def steering_section(actions: list[Action]) -> Section | None:
    """The steering log as a table; None (no section) for a sweep nobody steered."""
    if not actions:
        return None
    rows = [[a.at, a.by, f"#{a.from_trial}", a.text] for a in actions]
    section = Section("steering", "Steering")
    section.tables.append(TableData(None, STEERING_HEAD, rows))
    return section


def mark_steering(fig: go.Figure, actions: list[Action]) -> None:
    """A dotted vertical line per trial number from which steering applied, labelled with the
    actions (enqueue and prune name their own trial)."""
    by_trial: dict[int, list[str]] = {}
    for action in actions:
        by_trial.setdefault(action.from_trial, []).append(action.text)
    for number, texts in sorted(by_trial.items()):
        fig.add_vline(
            x=number - 0.5,
            line_dash="dot",
            line_color="#9467bd",
            annotation_text="; ".join(texts),
            annotation_textangle=-90,
            annotation_font_size=10,
            annotation_position="top left",
        )
