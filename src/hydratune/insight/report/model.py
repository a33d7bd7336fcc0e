"""What the report is made of: objectives, sections (figures, tables, a note) and tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

if TYPE_CHECKING:
    import plotly.graph_objects as go

TITLE = "hydratune report: "  # then the study's name: the page's title and the summary's heading


@dataclass
class Objective:
    """One objective of the study: what plots call ``target`` and how they label it."""

    index: int
    name: str
    direction: StudyDirection
    multi: bool

    @property
    def target(self) -> Callable[[FrozenTrial], float] | None:
        """None for a single objective: Optuna then draws the best-so-far line itself."""
        return (lambda t: t.values[self.index]) if self.multi else None

    @property
    def suffix(self) -> str:
        return f"-{self.index}" if self.multi else ""


@dataclass
class Section:
    key: str
    title: str
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)
    note: str | None = None  # why (part of) the section is left out
    tables: list[TableData] = field(default_factory=list)


@dataclass
class TableData:
    """A table shown under a section's figures (in both the HTML and the Markdown)."""

    title: str | None
    head: list[str]
    rows: list[list[str]]


def objectives_of(
    study: optuna.Study, metric_names: Sequence[str] | None = None
) -> list[Objective]:
    directions = study.directions
    names = list(metric_names or study.metric_names or [])
    if len(names) != len(directions):
        names = (
            ["objective"]
            if len(directions) == 1
            else [f"objective {i}" for i in range(len(directions))]
        )
    multi = len(directions) > 1
    return [Objective(i, names[i], d, multi) for i, d in enumerate(directions)]
