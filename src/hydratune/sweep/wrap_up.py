"""After a sweep's last trial: its report and the best config's export, each on its own (a
failure of one, no Chromium or a file of the user's where it would write, loses nothing, not
even the other), and Ctrl-C meanwhile said in one line: the trials are in the study by then,
and the same command run again (``hydratune report`` / ``export`` too) writes the rest."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from hydratune.execute import exit_status, interrupt_handlers
from hydratune.insight import (
    default_target,
    experiment_command,
    export_best,
    exported_trial,
    running_app,
)
from hydratune.steering import best_trial
from hydratune.sweep.results import BEST_CONFIG, RESULTS_FILE, refresh_results

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WrapUp:
    """What the end of a sweep writes besides its results: the report into
    ``<sweep dir>/report`` (``report``; its PNGs: ``png``; its metrics named ``metric_names``)
    and the best trial as an experiment config (``export``: True for the default place, or a
    path)."""

    metric_names: Sequence[str] | None
    report: bool
    png: bool
    export: bool | str


def report_and_export(
    study: optuna.Study, sweep_dir: Path, url: str, wrap: WrapUp, only_stale: bool = False
) -> list[str]:
    """The report and the export ``wrap`` asks for; what was written. ``only_stale``: for a
    finished sweep's command run again whose results file was up to date, only an export that
    is missing or names another trial than the best (the report, seconds of a browser, is
    ``hydratune report``'s then)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return []
    written = []
    if wrap.report and not only_stale:
        try:
            from hydratune.insight import write_report

            names = list(wrap.metric_names) if wrap.metric_names else None
            files = write_report(study, sweep_dir / "report", url, metric_names=names, png=wrap.png)
            log.info("report: %s", files.html)
            written.append("the report")
        except Exception as error:  # the study and results are safe; say what went wrong
            log.warning("report failed: %s: %s", type(error).__name__, error)
    if wrap.export and len(study.directions) > 1 and not only_stale:
        log.info(
            "export_best: a study of %d objectives has no single best trial; export one of its "
            "Pareto front with: hydratune export %s --trial <number>",
            len(study.directions),
            sweep_dir,
        )
    if wrap.export and len(study.directions) == 1:
        try:
            if _export(study, sweep_dir, wrap.export, complete[-1], only_stale):
                written.append("the export")
        except Exception as error:
            log.warning("export failed: %s: %s", type(error).__name__, error)
    return written


def bring_up_to_date(study: optuna.Study, sweep_dir: Path, url: str, wrap: WrapUp) -> list[str]:
    """For a finished sweep's command run again: write what the end of the sweep writes
    wherever it is missing or no longer what the study says (a best failed by hand since, a
    sweep interrupted or killed while it wrote them); what was written. The report and the
    export follow a results file that was out of date."""
    with interrupts_said_in_one_line(sweep_dir):
        written = refresh_results(study, sweep_dir, url)
        return written + report_and_export(study, sweep_dir, url, wrap, not written)


def _export(
    study: optuna.Study,
    sweep_dir: Path,
    export: bool | str,
    any_trial: optuna.trial.FrozenTrial,
    only_stale: bool,
) -> bool:
    """Export the best trial; where no trial counts as best (each complete one was failed by
    hand), remove an export of this study's, which names a trial failed by hand: its header
    marks it as ours, and ``experiment=<study>_best`` would train that trial's config. True
    when the export was written or removed."""
    best = best_trial(study)
    if export is True:  # the config dir is every trial's: any trial finds it when none is best
        target = default_target(study, sweep_dir, best or any_trial)
    else:
        target = Path(str(export))
    named = exported_trial(target)
    if best is None:
        if named is None or named[0] != study.study_name:
            log.info("export: no complete trial counts as best (each was failed by hand)")
            return False
        target.unlink()
        log.info(
            "%s removed: its trial #%d was failed by hand, none counts as best", target, named[1]
        )
        return True
    if only_stale and named == (study.study_name, best.number):
        return False
    path = export_best(study, sweep_dir, target, app=running_app())
    log.info("best trial exported: %s (run it with: %s)", path, experiment_command(path))
    return True


@contextmanager
def interrupts_said_in_one_line(sweep_dir: Path) -> Iterator[None]:
    """Meanwhile (the results written after the last trial, the report's browser: seconds),
    Ctrl-C or SIGTERM ends the command with one line that says nothing is lost and what
    writes the rest, exit 130 or 143."""
    try:
        with interrupt_handlers():
            yield
    except KeyboardInterrupt as error:
        log.warning(
            "sweep %s while it wrote its results, report and best config: every trial is in "
            "the study; the same command run again writes what is missing of %s, %s and the "
            "export; `hydratune report %s` writes the report, `hydratune export %s` the export",
            error or "interrupted",
            sweep_dir / RESULTS_FILE,
            BEST_CONFIG,
            sweep_dir,
            sweep_dir,
        )
        raise SystemExit(exit_status()) from None
