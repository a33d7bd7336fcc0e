"""A live view of a running sweep: trial k of n, running, pruned, failed, best so far, ETA.

Drawn with rich in the terminal the sweep runs in; silent when stdout is not a terminal (a
log file, CI, pytest), so logs stay clean. The sweep loop calls ``update()`` after each trial
is told; counts come from the study's storage, so trials told by other workers sharing the
study count too.

Example::

    with SweepProgress(study, n_trials=30) as progress:
        for ...:                      # the ask -> launch -> tell loop
            study.tell(trial, value)
            progress.update()
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from hydratune.attrs import LOST
from hydratune.schedule import state_counts
from hydratune.steering import best_trials, finished_count


@dataclass(frozen=True)
class Snapshot:
    """The study's counts at the last ``update()``."""

    complete: int = 0
    pruned: int = 0
    paused: int = 0  # paused by a schedule (PRUNED in Optuna), to be continued or not
    failed: int = 0  # failed by themselves: they count toward n_trials
    lost: int = 0  # lost to a kill or a dead worker: retried, not counted
    running: int = 0
    best: str = "—"  # "0.9583 (trial #7)", or the Pareto front's size
    done: int = 0  # finished as n_trials counts them (``steering.finished_count``)
    finished_here: int = 0  # finished since this view opened (drives the ETA)


class SweepProgress:
    """Context manager showing the sweep's progress; ``update()`` after each told trial.

    ``console``: where to draw (default: stdout). ``enabled``: force on or off; by default on
    only when the console is a terminal.
    """

    def __init__(
        self,
        study: optuna.Study,
        n_trials: int,
        console: Console | None = None,
        enabled: bool | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.study = study
        self.n_trials = n_trials
        self.console = console or Console()
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self._clock = clock
        self._start = clock()
        self._done_at_start = 0
        self._live: Live | None = None
        self._handlers: list[tuple[logging.StreamHandler, Any]] = []
        self._snapshot: Snapshot | None = Snapshot()

    def __enter__(self) -> SweepProgress:
        self._start = self._clock()
        self._done_at_start = 0
        self._done_at_start = self._read().done
        self._snapshot = None  # finished_here starts at 0
        if self.enabled:
            self._snapshot = self._read()
            self._live = Live(self, console=self.console, refresh_per_second=2, transient=False)
            self._live.start()
            self._route_log_handlers()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self.update()
            self._live.stop()
            self._live = None
        for handler, stream in self._handlers:
            handler.setStream(stream)
        self._handlers = []

    @property
    def snapshot(self) -> Snapshot:
        """The study's counts as of the last ``update``, read when first asked for: a sweep
        whose view is not shown (no terminal) never reads every trial after each one."""
        if self._snapshot is None:
            self._snapshot = self._read()
        return self._snapshot

    def update(self, n_trials: int | None = None) -> None:
        """Read the study again (call after each trial is told), with the ``n_trials`` in
        force when the loop has it (steering changes it while the sweep runs); while the view
        is shown, at once, on the loop's thread, and the view redraws from it."""
        if n_trials is not None:
            self.n_trials = n_trials
        self._snapshot = None
        if self._live is not None:
            self._snapshot = self._read()
            self._live.refresh()

    def started(self) -> None:
        """A trial started: show it running (it was told by then in every refresh, so a
        sweep in one process always showed "running 0"); only while the view is shown."""
        if self._live is not None:
            self.update()

    def elapsed(self) -> float:
        return self._clock() - self._start

    def eta(self) -> float | None:
        """Seconds left at the rate trials finished since this view opened; None before one."""
        snap = self.snapshot
        left = max(0, self.n_trials - snap.done)
        if left == 0:
            return 0.0
        if snap.finished_here <= 0:
            return None
        return self.elapsed() / snap.finished_here * left

    def __rich__(self) -> RenderableType:
        return self.render()

    def render(self) -> RenderableType:
        snap = self.snapshot
        bar = ProgressBar(total=max(1, self.n_trials), completed=min(snap.done, self.n_trials))
        head = Text.assemble(
            ("trials ", "bold"),
            (f"{snap.done}/{self.n_trials}", "bold cyan"),
            f"  running {snap.running}  pruned {snap.pruned}",
            f"  paused {snap.paused}" if snap.paused else "",
            "  failed ",
            (str(snap.failed), "bold red" if snap.failed else ""),
            f"  lost {snap.lost} (retried)" if snap.lost else "",
        )
        table = Table.grid(padding=(0, 2))
        table.add_row(head)
        table.add_row(bar)
        eta = self.eta()
        table.add_row(
            Text.assemble(
                ("best ", "bold"),
                (snap.best, "green"),
                f"  elapsed {_clock_text(self.elapsed())}  ETA ",
                "—" if eta is None else _clock_text(eta),
            )
        )
        return Group(Text(f"study {self.study.study_name}", style="dim"), table)

    def _read(self) -> Snapshot:
        trials = self.study.get_trials(deepcopy=False)
        counts = state_counts(trials)
        done = finished_count(trials)
        return Snapshot(
            complete=counts["complete"],
            pruned=counts["pruned"],
            paused=counts["paused"],
            failed=done - counts["complete"] - counts["pruned"] - counts["paused"],
            lost=sum(bool(t.user_attrs.get(LOST)) for t in trials if t.state == TrialState.FAIL),
            running=counts["running"],
            best=self._best(trials) if counts["complete"] else "—",
            done=done,
            finished_here=done - self._done_at_start,
        )

    def _best(self, trials: list[optuna.trial.FrozenTrial]) -> str:
        front = best_trials(self.study, trials)
        if len(self.study.directions) > 1:
            return f"Pareto front of {len(front)} trial(s)"
        return f"{front[0].value:.6g} (trial #{front[0].number})" if front else "—"

    def _route_log_handlers(self) -> None:
        """Log lines go through the live display (above it) instead of tearing it.

        Hydra's handlers were made before the display started and hold the real stdout or
        stderr; rich's ``Live`` redirects ``sys.stdout``/``sys.stderr`` to proxies that print
        above the display. Handlers created later (each trial's job logging) find the proxies
        by themselves.
        """
        real = {id(sys.__stdout__), id(sys.__stderr__)}
        proxies = {id(sys.__stdout__): sys.stdout, id(sys.__stderr__): sys.stderr}
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for logger in loggers:
            for handler in getattr(logger, "handlers", []):
                if isinstance(handler, logging.StreamHandler) and id(handler.stream) in real:
                    self._handlers.append((handler, handler.stream))
                    handler.setStream(proxies[id(handler.stream)])


def _clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
