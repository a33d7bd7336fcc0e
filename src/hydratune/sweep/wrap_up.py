"""After a sweep's last trial: its report and the best config's export, each on its own (a
failure of one, no Chromium or a file of the user's where it would write, loses nothing, not
even the other), and Ctrl-C meanwhile said in one line: the trials and results are written by
then, and ``hydratune report`` / ``export`` write the rest later."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.trial import TrialState

from hydratune.execute import exit_status, interrupt_handlers
from hydratune.insight import default_target, experiment_command, export_best, running_app
from hydratune.sweep.results import RESULTS_FILE

log = logging.getLogger(__name__)


def report_and_export(
    study: optuna.Study,
    sweep_dir: Path,
    url: str,
    metric_names: Sequence[str] | None,
    report: bool,
    png: bool,
    export: bool | str,
) -> None:
    """The report into ``sweep_dir/report`` (``report``; its PNGs: ``png``) and the best trial
    as an experiment config (``export``: True for the default place, or a path)."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return
    if report:
        try:
            from hydratune.insight import write_report

            names = list(metric_names) if metric_names else None
            files = write_report(study, sweep_dir / "report", url, metric_names=names, png=png)
            log.info("report: %s", files.html)
        except Exception as error:  # the study and results are safe; say what went wrong
            log.warning("report failed: %s: %s", type(error).__name__, error)
    if export and len(study.directions) == 1:
        try:
            target = default_target(study, sweep_dir) if export is True else Path(str(export))
            path = export_best(study, sweep_dir, target, app=running_app())
            log.info("best trial exported: %s (run it with: %s)", path, experiment_command(path))
        except Exception as error:
            log.warning("export failed: %s: %s", type(error).__name__, error)


@contextmanager
def interrupts_said_in_one_line(sweep_dir: Path) -> Iterator[None]:
    """Meanwhile, Ctrl-C or SIGTERM (the report's browser takes seconds) ends the command with
    one line that says nothing is lost and what writes the rest, exit 130 or 143."""
    try:
        with interrupt_handlers():
            yield
    except KeyboardInterrupt as error:
        log.warning(
            "sweep %s while it wrote its report and best config: every trial is in the study "
            "and %s; `hydratune report %s` and `hydratune export %s` write the rest",
            error or "interrupted",
            sweep_dir / RESULTS_FILE,
            sweep_dir,
            sweep_dir,
        )
        raise SystemExit(exit_status()) from None
