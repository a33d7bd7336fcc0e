"""The report's sections: what applies to the study, as Optuna figures, tables and notes.

Every figure is Optuna's own (``optuna.visualization``), every importance Optuna's own
evaluator (``optuna.importance``: fANOVA and PED-ANOVA); a section that cannot apply (too few
trials, one parameter, no intermediate values) carries a note saying why instead of failing.
Multi-objective studies get each plot per objective, the Pareto front and the hypervolume
history. The plots of the best (history's best-so-far line, hypervolume, Pareto front) count
trials as ``steering.best`` does: a trial failed by hand (``hydratune steer fail``) is drawn as
the failure it was declared, not as a best. Rendering is elsewhere (``render_html``,
``render_markdown``, ``png``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import optuna
from optuna.importance import (
    BaseImportanceEvaluator,
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hydratune.insight.report.architecture import architecture_section
from hydratune.insight.report.model import Objective, Section, TableData
from hydratune.insight.report.schedule import schedule_section
from hydratune.insight.report.steering import mark_steering, steering_section
from hydratune.insight.report.transfer import transfer_section
from hydratune.insight.report.trials import number_text, trials_section
from hydratune.steering import best_trials, read_state

if TYPE_CHECKING:
    import plotly.graph_objects as go

log = logging.getLogger(__name__)

# fANOVA and PED-ANOVA say little below this many complete trials.
MIN_TRIALS_FOR_IMPORTANCE = 4


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
    state = read_state(study.user_attrs)
    steering = state.actions
    counted, counted_complete = counted_study(study, trials, state.failed)
    builders: list[tuple[str, str, Callable[[], Section | None]]] = [
        (
            "history",
            "Optimisation history",
            lambda: history_section(counted, counted_complete, objectives, steering),
        ),
        ("steering", "Steering", lambda: steering_section(steering)),
        ("transfer", "Warm start", lambda: transfer_section(study.user_attrs, trials)),
        (
            "architecture",
            "Architecture",
            lambda: architecture_section(study.user_attrs, complete, objectives),
        ),
        ("schedule", "Schedule", lambda: schedule_section(trials, objectives[0])),
        ("pareto", "Pareto front", lambda: pareto_section(counted, counted_complete, objectives)),
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


def counted_study(
    study: optuna.Study, trials: list[FrozenTrial], failed: Mapping[int, str]
) -> tuple[optuna.Study, list[FrozenTrial]]:
    """``study`` as ``steering.best`` counts it, and its complete trials: each trial failed by
    hand shown FAIL in an in-memory copy numbered alike (Optuna's plots read the study itself,
    and Optuna never changes a finished trial); ``study`` itself when none was."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.number not in failed]
    if not failed:
        return study, complete
    view = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), directions=study.directions
    )
    view.add_trials(
        [replace_state(t, TrialState.FAIL) if t.number in failed else t for t in trials]
    )
    return view, complete


def replace_state(trial: FrozenTrial, state: TrialState) -> FrozenTrial:
    """A copy of finished ``trial`` in ``state``, without values."""
    shown = copy.copy(trial)
    shown.state, shown.values = state, None
    return shown


def history_section(
    study: optuna.Study,
    complete: list[FrozenTrial],
    objectives: list[Objective],
    steering: list | None = None,
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
        mark_steering(fig, steering or [])  # dotted lines: where `hydratune steer` applied
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
    elif len(objectives) > 3:  # Optuna's plot draws 2 or 3: one axis per objective instead
        section.figures.append(("pareto", front_axes(study, complete, objectives)))
    else:
        fig = plot_pareto_front(study, target_names=[o.name for o in objectives])
        section.figures.append(("pareto", fig))
    return section


def front_axes(
    study: optuna.Study, complete: list[FrozenTrial], objectives: list[Objective]
) -> go.Figure:
    """The Pareto front (``steering.best``'s) as parallel coordinates: an axis per objective,
    a line per trial on the front."""
    import plotly.graph_objects as go

    front = best_trials(study, complete, {})
    dimensions = [
        {
            "label": f"{o.name} ({o.direction.name.lower()})",
            "values": [t.values[o.index] for t in front],
        }
        for o in objectives
    ]
    fig = go.Figure(go.Parcoords(dimensions=dimensions))
    fig.update_layout(title=f"Pareto front: the {len(front)} trials on it, one axis per objective")
    return fig


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
        body = [[p, *(number_text(values.get(p)) for _, _, values in rows)] for p in params]
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
