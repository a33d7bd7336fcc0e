"""How ``hydratune steer`` prints what it did and what ``show`` found (rich tables).

Everything printed here holds data others wrote (user names, study names, values), so it is
printed as text, never parsed as rich markup: a user named ``[/i]`` must not crash a reader.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hydratune.attrs import SEGMENT
from hydratune.owner import short
from hydratune.space import describe, format_value
from hydratune.steering.budget import sweep_mode
from hydratune.steering.record import Action, printable
from hydratune.steering.verbs import SweepView

EFFECT = {
    "enqueue": "It runs next, before any other queued trial (a grid's too), on the first "
    "worker free.",
    "prune": "The trial stops at its next pruning check (should_prune, each validation epoch).",
    "stop": "No new trial starts; running ones finish, and a rerun stops too until resume.",
    "pause_trial": "The schedule does not continue this trial (once paused) until resume.",
    "resume_trial": "The schedule may continue this trial again.",
    "note": "It is kept in the study's steering record.",
    "fail": "Failure-aware samplers (TPE, GP) learn from it as from a failure from the next "
    "trial on; the study keeps what it ran.",
}


def action_message(action: Action) -> str:
    """What was recorded and what it does: ``hydratune steer`` prints it, the page shows it."""
    effect = EFFECT.get(action.verb, "Every worker applies it before its next trial.")
    return (
        f"recorded: {printable(action.text)} (by {printable(action.by)} at {action.at}; from trial "
        f"#{action.from_trial}). {effect}"
    )


def print_action(console: Console, action: Action) -> None:
    console.print(action_message(action), markup=False)


def _params(params: dict) -> str:
    """``key=value`` pairs, floats to 4 significant digits (a table cell, not a record)."""
    short = {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in params.items()}
    return " ".join(f"{k}={format_value(v)}" for k, v in short.items())


def print_view(console: Console, view: SweepView) -> None:
    """State, best so far, running trials and the steering log of one sweep."""
    target = "?" if view.n_trials is None else str(view.n_trials)
    note = ""
    mode = sweep_mode(view.mode, view.ended, [t.gone for t in view.running])
    if view.state.n_trials is not None and view.declared_n_trials is not None:
        note = f" (steered; the sweep set {view.declared_n_trials})"
    console.print(
        f"study '{view.study_name}': {mode}, {view.finished} of n_trials {target} finished{note}",
        markup=False,
    )
    counts = ", ".join(f"{n} {state}" for state, n in view.counts.items() if n)
    console.print(f"trials: {counts or 'none yet'}", markup=False)
    if view.best is not None:
        console.print(
            f"best so far: #{view.best.number} value {view.best.value:.6g}  "
            f"{_params(view.best.params)}",
            markup=False,
        )
    elif view.pareto:
        console.print(
            f"Pareto front: {', '.join(f'#{t.number}' for t in view.pareto)}", markup=False
        )
    if view.passed_over is not None:
        console.print(f"  ({view.passed_over})", markup=False)
    for key, value in view.state.fixed.items():
        console.print(f"fixed: {key}={format_value(value)}", markup=False)
    for key, dist in view.state.narrowed.items():
        declared = (
            describe(view.space.distributions[key]) if key in view.space.distributions else "?"
        )
        console.print(f"narrowed: {key} in {describe(dist)} (declared {declared})", markup=False)

    columns = ["trial", "started", "worker", "params"]
    if any(t.prune_requested for t in view.running):
        columns.append("prune requested")
    running = _table("running trials", columns)
    for trial in view.running:
        started = trial.started.strftime("%H:%M:%S") if trial.started else ""
        shown = worker(trial.owner, trial.gone)
        cells = [f"#{trial.number}", started, shown, _params(trial.params)]
        running.add_row(*map(Text, cells + [trial.prune_requested or ""][: len(columns) - 4]))
    console.print(running if view.running else "running trials: none")

    if view.paused:
        paused = _table(
            "paused trials (a schedule may continue them)", ["trial", "at", "value", ""]
        )
        for trial in view.paused:
            segment = trial.user_attrs.get(SEGMENT) or {}
            keys = ("bracket", "rung", "member")
            where = " ".join(f"{k} {segment[k]}" for k in keys if k in segment)
            epochs = segment.get("epochs", "?")
            value = trial.intermediate_values.get(epochs - 1) if isinstance(epochs, int) else None
            held = "held: resume it" if trial.number in view.state.held else ""
            cells = [f"#{trial.number}", f"{where}, epoch {epochs}", _value(value), held]
            paused.add_row(*map(Text, cells))
        console.print(paused)

    log = _table("steering log", ["at (UTC)", "by", "from trial", "action"])
    for action in view.state.actions:
        at = action.at.replace("T", " ").removesuffix("+00:00")  # the header says UTC
        log.add_row(*map(Text, (at, action.by, f"#{action.from_trial}", action.text)))
    console.print(log if view.state.actions else "steering log: empty")


def _value(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _table(title: str, columns: list[str]) -> Table:
    """A table without borders, so that ``show`` fits 80 columns; long cells wrap at spaces."""
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def worker(owner: str | None, lost: bool = False) -> str:
    """``host:pid`` of a trial's owner mark (``attrs.OWNER``: host:pid:boot_id:...): enough
    for a person to find the process; ``(ended: lost)`` when that process has ended while its
    trial runs (``lost``: ``owner.gone``)."""
    return (printable(short(str(owner))) if owner else "") + (" (ended: lost)" if lost else "")
