"""A study's report: one offline HTML page, PNG figures and a Markdown summary.

Every figure is Optuna's own (``optuna.visualization``), every importance Optuna's own
evaluator (``optuna.importance``: fANOVA and PED-ANOVA); this module picks what applies to the
study, lays it out and says why a section is left out (too few trials, one parameter, no
intermediate values) instead of failing. Multi-objective studies get each plot per objective,
the Pareto front and the hypervolume history.

Example::

    >>> study = optuna.load_study(study_name="mlp_digits", storage=open_storage(url))
    >>> files = write_report(study, Path("outputs/sweeps/mlp_digits/report"), url)
    >>> files.html       # report.html: plotly.js embedded, opens without a network
    >>> files.markdown   # report.md: best trial, importances, top trials, links to PNGs

PNG export uses kaleido, which drives a Chrome or Chromium (Debian: ``apt-get install
chromium``). Without one the PNGs are skipped with a note; the HTML is complete either way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.importance import (
    BaseImportanceEvaluator,
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hydratune.study import mask_url

if TYPE_CHECKING:
    import plotly.graph_objects as go

log = logging.getLogger(__name__)

HTML_FILE = "report.html"
MARKDOWN_FILE = "report.md"
FIGURES_DIR = "figures"
# fANOVA and PED-ANOVA say little below this many complete trials.
MIN_TRIALS_FOR_IMPORTANCE = 4
PNG_SIZE = {"width": 1000, "height": 560}


@dataclass
class ReportFiles:
    """What ``write_report`` wrote, and the sections it left out with the reason."""

    html: Path
    markdown: Path
    plots: list[str] = field(default_factory=list)  # figure names, in page order
    pngs: dict[str, Path] = field(default_factory=dict)  # figure name -> PNG (empty: none)
    notes: dict[str, str] = field(default_factory=dict)  # section key -> why it was skipped


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


def write_report(
    study: optuna.Study,
    out_dir: Path,
    storage_url: str | None = None,
    *,
    metric_names: Sequence[str] | None = None,
    png: bool = True,
    top_k: int = 10,
) -> ReportFiles:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` for ``study`` into ``out_dir``.

    ``metric_names`` label the objectives (default: the study's metric names, else
    "objective"); ``png=False`` skips the PNGs (the slow part: a headless browser renders
    them). ``top_k`` complete trials are listed best first; pruned and failed trials are
    listed with their reasons.
    """
    _require_plotly()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    objectives = objectives_of(study, metric_names)
    # Optuna's own log lines (e.g. "no intermediate values") give way to the report's notes.
    with warnings.catch_warnings(), _loggers_at(logging.ERROR, "optuna"):
        # Experimental-API and "not enough trials" warnings: the report states what it skipped.
        warnings.simplefilter("ignore")
        trials = study.get_trials(deepcopy=False)
        sections = build_sections(study, trials, objectives, top_k)

    files = ReportFiles(html=out_dir / HTML_FILE, markdown=out_dir / MARKDOWN_FILE)
    figures = [(name, fig) for s in sections for name, fig in s.figures]
    files.plots = [name for name, _ in figures]
    files.notes = {s.key: s.note for s in sections if s.note}
    if png and figures:
        try:
            files.pngs = _write_pngs(figures, out_dir / FIGURES_DIR)
        except Exception as error:  # no Chrome for kaleido, or it crashed: the HTML still stands
            files.notes["png"] = (
                f"PNG figures skipped: {type(error).__name__}: {error}. kaleido needs Chrome or "
                "Chromium (Debian: apt-get install chromium); the HTML report is complete."
            )
            log.warning("%s", files.notes["png"])
    header = _header(study, trials, objectives, storage_url)
    files.html.write_text(_html_page(study, header, sections, files), encoding="utf-8")
    files.markdown.write_text(_markdown(study, header, sections, files), encoding="utf-8")
    return files


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


def build_sections(
    study: optuna.Study,
    trials: list[FrozenTrial],
    objectives: list[Objective],
    top_k: int = 10,
) -> list[Section]:
    """Every section in page order; one that cannot apply carries a note instead of figures."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    params = sorted({name for t in complete for name in t.params})
    importances: dict[int, dict[str, float]] = {}
    builders: list[tuple[str, str, Callable[[], Section | None]]] = [
        ("history", "Optimisation history", lambda: history_section(study, complete, objectives)),
        ("pareto", "Pareto front", lambda: pareto_section(study, complete, objectives)),
        (
            "importance",
            "Hyperparameter importance",
            lambda: importance_section(study, complete, params, objectives, importances),
        ),
        (
            "contour",
            "Contour",
            lambda: contour_section(study, complete, params, objectives, importances),
        ),
        ("slice", "Slice plots", lambda: slice_section(study, complete, params, objectives)),
        (
            "parallel",
            "Parallel coordinates",
            lambda: parallel_section(study, complete, params, objectives),
        ),
        ("intermediate", "Intermediate values", lambda: intermediate_section(study, trials)),
        ("timeline", "Timeline of trials", lambda: timeline_section(study, trials)),
        ("trials", "Trials", lambda: trials_section(study, trials, objectives, top_k)),
    ]
    sections = []
    for key, title, build in builders:
        try:
            section = build()
        except Exception as error:  # one broken plot must not cost the whole report
            log.warning("report: section '%s' failed", key, exc_info=True)
            section = Section(
                key, title, note=f"could not be drawn: {type(error).__name__}: {error}"
            )
        if section is not None:
            sections.append(section)
    return sections


# --- sections ------------------------------------------------------------------------------


def history_section(
    study: optuna.Study, complete: list[FrozenTrial], objectives: list[Objective]
) -> Section:
    from optuna.visualization import plot_hypervolume_history, plot_optimization_history

    section = Section("history", "Optimisation history")
    if not complete:
        section.note = "no complete trial yet"
        return section
    for obj in objectives:
        fig = plot_optimization_history(study, target=obj.target, target_name=obj.name)
        fig.update_layout(
            title=f"Optimisation history: {obj.name}"
            + ("" if obj.multi else " (line: best so far)")
        )
        section.figures.append((f"history{obj.suffix}", fig))
    if len(objectives) > 1:
        # The multi-objective best-so-far: the hypervolume the front encloses, measured from a
        # reference point just beyond the worst value seen for each objective.
        reference = _reference_point(complete, objectives)
        fig = plot_hypervolume_history(study, reference)
        fig.update_layout(title="Hypervolume of the Pareto front (best so far)")
        section.figures.append(("hypervolume", fig))
    return section


def pareto_section(
    study: optuna.Study, complete: list[FrozenTrial], objectives: list[Objective]
) -> Section | None:
    from optuna.visualization import plot_pareto_front

    if len(objectives) == 1:
        return None
    section = Section("pareto", "Pareto front")
    if not complete:
        section.note = "no complete trial yet"
    elif len(objectives) > 3:
        section.note = (
            f"a Pareto-front plot shows 2 or 3 objectives; this study has {len(objectives)}"
        )
    else:
        fig = plot_pareto_front(study, target_names=[o.name for o in objectives])
        section.figures.append(("pareto", fig))
    return section


def importance_section(
    study: optuna.Study,
    complete: list[FrozenTrial],
    params: list[str],
    objectives: list[Objective],
    importances: dict[int, dict[str, float]],
) -> Section:
    """fANOVA and PED-ANOVA importances per objective; fills ``importances`` (fANOVA first)."""
    from optuna.visualization import plot_param_importances

    section = Section("importance", "Hyperparameter importance (fANOVA, PED-ANOVA)")
    if len(params) < 2:
        section.note = (
            f"needs at least 2 searched parameters; the complete trials have {len(params)}"
        )
        return section
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        section.note = (
            f"needs at least {MIN_TRIALS_FOR_IMPORTANCE} complete trials; the study has "
            f"{len(complete)}"
        )
        return section
    rows: list[tuple[str, str, dict[str, float]]] = []
    problems = []
    for obj in objectives:
        for label, evaluator, target in (
            ("fANOVA", FanovaImportanceEvaluator(seed=0), obj.target),
            ("PED-ANOVA", PedAnovaImportanceEvaluator(), _ped_anova_target(obj)),
        ):
            try:
                # Evaluated once; the plot is drawn from the same numbers.
                raw = evaluator.evaluate(study, target=target)
                cached = _Evaluated(raw)
                values = optuna.importance.get_param_importances(
                    study, evaluator=cached, target=target
                )
            except Exception as error:
                problems.append(f"{label} ({obj.name}): {type(error).__name__}: {error}")
                continue
            rows.append((label, obj.name, dict(values)))
            importances.setdefault(obj.index, dict(values))
            fig = plot_param_importances(
                study, evaluator=cached, target=target, target_name=obj.name
            )
            fig.update_layout(title=f"{label} importance for {obj.name}")
            key = "fanova" if label == "fANOVA" else "ped_anova"
            section.figures.append((f"importance-{key}{obj.suffix}", fig))
    if problems:
        section.note = "; ".join(problems)
    if rows:
        head = ["parameter", *(f"{label}: {name}" for label, name, _ in rows)]
        body = [[p, *(_number(values.get(p)) for _, _, values in rows)] for p in params]
        section.tables.append(TableData(None, head, body))
    return section


def contour_section(
    study: optuna.Study,
    complete: list[FrozenTrial],
    params: list[str],
    objectives: list[Objective],
    importances: dict[int, dict[str, float]],
) -> Section:
    from optuna.visualization import plot_contour

    section = Section("contour", "Contour of the two most important parameters")
    if len(params) < 2:
        section.note = f"needs 2 searched parameters; the complete trials have {len(params)}"
        return section
    if len(complete) < 2:
        section.note = f"needs at least 2 complete trials; the study has {len(complete)}"
        return section
    for obj in objectives:
        ranked = list(importances.get(obj.index, {})) or params  # by importance, else by name
        pair = ranked[:2]
        fig = plot_contour(study, params=pair, target=obj.target, target_name=obj.name)
        fig.update_layout(title=f"{obj.name} over {pair[0]} and {pair[1]}")
        section.figures.append((f"contour{obj.suffix}", fig))
    if not importances:
        section.note = "importance unavailable: the first two parameters by name are shown"
    return section


def slice_section(
    study: optuna.Study, complete: list[FrozenTrial], params: list[str], objectives: list[Objective]
) -> Section:
    from optuna.visualization import plot_slice

    section = Section("slice", "Slice plots")
    return _per_objective(
        study, section, plot_slice, "{} against each parameter", complete, params, objectives
    )


def parallel_section(
    study: optuna.Study, complete: list[FrozenTrial], params: list[str], objectives: list[Objective]
) -> Section:
    from optuna.visualization import plot_parallel_coordinate

    section = Section("parallel", "Parallel coordinates")
    return _per_objective(
        study,
        section,
        plot_parallel_coordinate,
        "Parallel coordinates: {}",
        complete,
        params,
        objectives,
    )


def _per_objective(
    study: optuna.Study,
    section: Section,
    plot: Callable[..., go.Figure],
    title: str,
    complete: list[FrozenTrial],
    params: list[str],
    objectives: list[Objective],
) -> Section:
    """One figure per objective from an Optuna plot taking ``target`` and ``target_name``."""
    if not complete or not params:
        section.note = "needs complete trials with searched parameters"
        return section
    for obj in objectives:
        fig = plot(study, target=obj.target, target_name=obj.name)
        fig.update_layout(title=title.format(obj.name))
        section.figures.append((f"{section.key}{obj.suffix}", fig))
    return section


_STATE_COLOURS = {"complete": "#1f77b4", "pruned": "#d62728", "running": "#7f7f7f"}


def intermediate_section(study: optuna.Study, trials: list[FrozenTrial]) -> Section:
    """Learning curves, pruned trials in red: where the pruner stopped them."""
    from optuna.visualization import plot_intermediate_values

    section = Section("intermediate", "Intermediate values (pruned vs complete)")
    if not any(t.intermediate_values for t in trials):
        section.note = (
            "no trial reported intermediate values (the training task reports them each "
            "validation epoch; a custom task calls hydratune.report)"
        )
        return section
    fig = plot_intermediate_values(study)
    states = {f"Trial{t.number}": t.state.name.lower() for t in trials}
    shown: set[str] = set()
    for trace in fig.data:
        number = str(trace.name).removeprefix("Trial")
        state = states.get(str(trace.name), "running")
        colour = _STATE_COLOURS.get(state, _STATE_COLOURS["running"])
        trace.update(
            line={"color": colour, "dash": "dot" if state == "pruned" else "solid"},
            marker={"color": colour},
            legendgroup=state,
            name=state,
            showlegend=state not in shown,
            hovertemplate=f"trial #{number}<br>step %{{x}}: %{{y}}<extra>{state}</extra>",
        )
        shown.add(state)
    fig.update_layout(showlegend=True, title="Intermediate values: complete (blue), pruned (red)")
    section.figures.append(("intermediate", fig))
    return section


def timeline_section(study: optuna.Study, trials: list[FrozenTrial]) -> Section:
    from optuna.visualization import plot_timeline

    section = Section("timeline", "Timeline of trials")
    if not any(t.datetime_start for t in trials):
        section.note = "no trial has started yet"
        return section
    section.figures.append(("timeline", plot_timeline(study)))
    return section


def trials_section(
    study: optuna.Study, trials: list[FrozenTrial], objectives: list[Objective], top_k: int
) -> Section:
    section = Section("trials", "Trials")
    top = rank_trials(study, trials)[:top_k]
    front = _front(study, trials)
    stopped = [t for t in trials if t.state in (TrialState.PRUNED, TrialState.FAIL)]
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
    stopped_rows = [
        [f"#{t.number}", t.state.name.lower(), _reason(t), _overrides(t)] for t in stopped
    ]
    stopped_head = ["trial", "state", "reason", "overrides"]
    title = f"Top {len(top)} complete trials, best first"
    section.tables.append(TableData(title, best_head, best_rows))
    if stopped_rows:
        sub = f"Pruned and failed trials ({len(stopped_rows)})"
        section.tables.append(TableData(sub, stopped_head, stopped_rows))
    return section


def rank_trials(study: optuna.Study, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Complete trials best first: by value; for several objectives the Pareto front first,
    then by the first objective."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    signs = [1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in study.directions]
    front = _front(study, complete)
    return sorted(
        complete,
        key=lambda t: (
            t.number not in front,
            [s * v for s, v in zip(signs, t.values, strict=True)],
            t.number,
        ),
    )


# --- helpers -------------------------------------------------------------------------------


class _Evaluated(BaseImportanceEvaluator):
    """Importances computed once, handed to ``plot_param_importances`` as an evaluator."""

    def __init__(self, values: dict[str, float]) -> None:
        self._values = values

    def evaluate(self, study, params=None, *, target=None):  # noqa: ANN001, ANN201
        return dict(self._values)


def _ped_anova_target(obj: Objective) -> Callable[[FrozenTrial], float] | None:
    """PED-ANOVA takes lower target values as better: negate an objective to maximise."""
    if not obj.multi:
        return None  # it reads the study's direction itself
    sign = -1.0 if obj.direction == StudyDirection.MAXIMIZE else 1.0
    return lambda t: sign * t.values[obj.index]


def _reference_point(complete: list[FrozenTrial], objectives: list[Objective]) -> list[float]:
    point = []
    for obj in objectives:
        values = [t.values[obj.index] for t in complete]
        low, high = min(values), max(values)
        margin = 0.1 * ((high - low) or abs(high) or 1.0)
        point.append(high + margin if obj.direction == StudyDirection.MINIMIZE else low - margin)
    return point


def _front(study: optuna.Study, trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of the Pareto-optimal trials of a multi-objective study (empty otherwise)."""
    if len(study.directions) == 1 or not any(t.state == TrialState.COMPLETE for t in trials):
        return set()
    return {t.number for t in study.best_trials}


def _values_text(trial: FrozenTrial) -> str:
    return ", ".join(_number(v) for v in trial.values or [])


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def _overrides(trial: FrozenTrial) -> str:
    overrides = trial.user_attrs.get("overrides")
    if overrides:
        return " ".join(str(o) for o in overrides)
    return " ".join(f"{k}={v}" for k, v in trial.params.items())


def _reason(trial: FrozenTrial) -> str:
    attrs = trial.user_attrs
    return str(attrs.get("fail_reason") or attrs.get("stopped_reason") or "")


def _duration(trial: FrozenTrial) -> str:
    return f"{trial.duration.total_seconds():.1f}s" if trial.duration else ""


def _header(
    study: optuna.Study,
    trials: list[FrozenTrial],
    objectives: list[Objective],
    storage_url: str | None,
) -> list[tuple[str, str]]:
    counts = {s.name.lower(): 0 for s in TrialState}
    for t in trials:
        counts[t.state.name.lower()] += 1
    rows = [
        ("study", study.study_name),
        ("storage", mask_url(storage_url) or "(not given)"),
        ("objectives", ", ".join(f"{o.name} ({o.direction.name.lower()})" for o in objectives)),
        ("trials", ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "none"),
    ]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete and len(objectives) == 1:
        best = study.best_trial
        rows.append(("best", f"trial #{best.number}: {_number(best.value)}"))
        rows.append(("best overrides", _overrides(best)))
    elif complete:
        rows.append(("Pareto front", f"{len(study.best_trials)} trial(s)"))
    rows.append(("generated", dt.datetime.now().isoformat(timespec="seconds")))
    return rows


def _html_table(head: list[str] | None, rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head or [])
    thead = f"<thead><tr>{cells}</tr></thead>" if head else ""
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; ``|`` and newlines in cells are escaped."""

    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.note { background: #fff6d6; border-left: 4px solid #e0b000; padding: 0.5em 1em; }
.figure { margin: 1em 0 2em; }
nav a { margin-right: 1em; }
"""


def _html_page(
    study: optuna.Study, header: list[tuple[str, str]], sections: list[Section], files: ReportFiles
) -> str:
    title = f"hydratune report: {study.study_name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _html_table(None, [[k, v] for k, v in header]),
        "<nav>"
        + "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
        + "</nav>",
    ]
    if "png" in files.notes:
        parts.append(f'<p class="note">{html.escape(files.notes["png"])}</p>')
    first = True
    for section in sections:
        parts.append(f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>')
        if section.note:
            parts.append(f'<p class="note">Skipped: {html.escape(section.note)}</p>')
        for name, fig in section.figures:
            # plotly.js once, inlined: the page works offline and stays one file.
            div = fig.to_html(
                full_html=False,
                include_plotlyjs=first,
                div_id=f"plot-{name}",
                config={"displaylogo": False, "responsive": True},
            )
            parts.append(f'<div class="figure" data-figure="{name}">{div}</div>')
            first = False
        for table in section.tables:
            if table.title:
                parts.append(f"<h3>{html.escape(table.title)}</h3>")
            parts.append(_html_table(table.head, table.rows))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _markdown(
    study: optuna.Study, header: list[tuple[str, str]], sections: list[Section], files: ReportFiles
) -> str:
    lines = [f"# hydratune report: {study.study_name}", ""]
    lines += [f"- **{k}**: {v}" for k, v in header]
    lines += ["", f"Interactive figures: [{HTML_FILE}]({HTML_FILE})", ""]
    if "png" in files.notes:
        lines += [f"> {files.notes['png']}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.note:
            lines += [f"> Skipped: {section.note}", ""]
        for name, _ in section.figures:
            if name in files.pngs:
                rel = files.pngs[name].relative_to(files.markdown.parent).as_posix()
                lines += [f"![{name}]({rel})", ""]
        for table in section.tables:
            if table.title:
                lines += [f"### {table.title}", ""]
            lines += [markdown_table(table.head, table.rows)]
    return "\n".join(lines)


def _write_pngs(figures: list[tuple[str, go.Figure]], folder: Path) -> dict[str, Path]:
    """All figures in one browser session (starting Chromium is most of the cost)."""
    import kaleido

    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.png" for name, _ in figures}
    specs = [
        {"fig": fig.to_dict(), "path": paths[name], "opts": {"format": "png", **PNG_SIZE}}
        for name, fig in figures
    ]
    # mathjax=False: no CDN fetch for a library the figures do not use.
    with _loggers_at(logging.WARNING, "kaleido", "choreographer"):  # ~50 INFO lines per export
        kaleido.write_fig_from_object_sync(specs, kopts={"mathjax": False})
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise RuntimeError(f"kaleido wrote no PNG for {', '.join(missing)}")
    return paths


def _require_plotly() -> None:
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise ImportError(
            "the report needs plotly and kaleido: pip install 'hydratune[report]'"
        ) from None


@contextlib.contextmanager
def _loggers_at(level: int, *names: str) -> Iterator[None]:
    """The named loggers at ``level`` meanwhile; their own levels restored afterwards."""
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, old in zip(loggers, before, strict=True):
            logger.setLevel(old)
