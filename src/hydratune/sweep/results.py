"""What a sweep leaves in its sweep dir: ``optimization_results.yaml`` and the best config.

The results file keeps hydra-optuna-sweeper's keys (``name``, ``best_params``, ``best_value``;
``solutions`` for multi-objective) and adds the trial number, the study and its storage
(password masked), the trials finished toward the ``n_trials`` in force, and a command that
reruns the best trial. The best is ``steering.best_trial``'s: a trial failed by hand is not
best; ``passed_over`` says which one and why. Where no trial counts as best any more (each
complete one was failed by hand), ``best_trial_number`` is null and the sweep's
``best_config.yaml`` is removed: it named a trial failed by hand, and is the sweep's own beside
its results file (``check_results_ours``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from omegaconf import OmegaConf
from optuna.trial import TrialState

from hydratune import compat
from hydratune.attrs import OVERRIDES
from hydratune.errors import StudyConfigError
from hydratune.files import ForeignFileError, check_ours, write_atomically
from hydratune.insight import ExportError, rerun_command, rerun_config, running_app
from hydratune.schedule import is_scheduled, values_changed
from hydratune.steering import (
    best_trials,
    finished_count,
    passed_over,
    read_state,
    recorded_space,
    steering_summary,
    study_n_trials,
    sweep_mode,
    why_ended,
)
from hydratune.storage import mask_url

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"
BEST_CONFIG = "best_config.yaml"
_FIRST_LINE = "name: optuna\n"  # as the results file of a sweep (hydratune's, 1.3's) begins


def check_results_ours(sweep_dir: Path) -> None:
    """Refuse, before any trial, a sweep dir whose results file or best config a sweep did not
    write (a ``hydra.sweep.dir`` of the user's): a sweep replaces only its own. The best
    config carries no mark: it is the sweep's beside the sweep's results file."""
    instead = "move it, or choose another hydra.sweep.dir"
    try:
        check_ours(sweep_dir / RESULTS_FILE, _is_results, "a sweep", instead)
        ours = (sweep_dir / RESULTS_FILE).is_file()
        check_ours(sweep_dir / BEST_CONFIG, lambda head: ours, "a sweep", instead)
    except ForeignFileError as error:
        raise StudyConfigError(str(error)) from None


def _is_results(head: str) -> bool:
    return head.startswith(_FIRST_LINE)


@dataclass
class _Results:
    """What the sweep dir should hold for the study as it is now."""

    content: dict[str, Any]  # optimization_results.yaml's
    best_config: str | bytes | None  # best_config.yaml's text; None: none to write
    no_best: bool  # one objective and no trial counts as best (each failed by hand, or none ran)
    said: list[tuple[int, str]] = field(default_factory=list)  # logged when written

    @property
    def text(self) -> str:
        return OmegaConf.to_yaml(OmegaConf.create(self.content))


def write_results(study: optuna.Study, sweep_dir: Path, storage_url: str) -> dict[str, Any]:
    """Write ``optimization_results.yaml`` (and ``best_config.yaml``) and return their content."""
    results = _results(study, sweep_dir, storage_url)
    _write(results, sweep_dir)
    return results.content


def refresh_results(study: optuna.Study, sweep_dir: Path, storage_url: str) -> list[str]:
    """Write again the results file and the best config where either is missing or no longer
    what the study says (a trial failed by hand since, a sweep interrupted or killed while it
    wrote them, ``n_trials`` changed); the names of the files written, none when both were
    right. A finished sweep's command, run again, calls it: the results then agree with
    ``steer show``. A results file or best config a sweep did not write is left as it is."""
    try:
        check_results_ours(sweep_dir)
    except StudyConfigError as error:
        log.warning("%s", error)
        return []
    results = _results(study, sweep_dir, storage_url)
    best_config = sweep_dir / BEST_CONFIG
    stale = [RESULTS_FILE] if _read(sweep_dir / RESULTS_FILE) != results.text.encode() else []
    if results.best_config is not None:
        text = results.best_config
        if _read(best_config) != (text.encode() if isinstance(text, str) else text):
            stale.append(BEST_CONFIG)
    elif results.no_best and best_config.exists():
        stale.append(BEST_CONFIG)
    if stale:
        _write(results, sweep_dir)
    return stale


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _results(study: optuna.Study, sweep_dir: Path, storage_url: str) -> _Results:
    """The results file's content and the best config's text, written by ``_write``."""
    trials = study.get_trials(deepcopy=False)
    content: dict[str, Any] = {
        "name": "optuna",  # as hydra-optuna-sweeper writes it: scripts check it
        "study_name": study.study_name,
        "storage": mask_url(storage_url),
        "n_trials": {state.name.lower(): 0 for state in TrialState},
    }
    for trial in trials:
        content["n_trials"][trial.state.name.lower()] += 1
    attrs = compat.study_user_attrs(study)
    # as the loop, the live view and `hydratune steer show` count them
    content.update(finished=finished_count(trials), n_trials_in_force=study_n_trials(attrs))

    state = read_state(attrs)  # the attributes read above
    failed = state.failed  # failed by hand
    front = best_trials(study, trials, failed)  # the one best trial for one objective
    results = _Results(content, None, no_best=not front and len(study.directions) == 1)
    if not front:
        results.said.append(
            (logging.WARNING, f"study '{study.study_name}' has no complete trial that counts yet")
        )
        if results.no_best:  # said, not left out: a best named before may be gone
            content["best_trial_number"] = None
    elif len(study.directions) == 1:
        best = front[0]
        content.update(
            best_params=best.params,
            best_value=best.value,
            best_trial_number=best.number,
            best_overrides=best.user_attrs.get(OVERRIDES),
        )
        _best_config(results, best, sweep_dir, trials)
    else:
        content["solutions"] = [
            {"number": t.number, "params": t.params, "values": t.values} for t in front
        ]
    content["app"] = running_app()  # the command that swept: `hydratune export` runs it too
    passed = passed_over(study, trials, failed)
    if passed is not None:
        content["best_excludes"] = passed
        results.said.append((logging.INFO, passed))

    steering = steering_summary(attrs)
    if steering is not None:  # as `steer show` says it: a finished sweep is not running
        recorded = recorded_space(attrs)
        sampler = recorded.sampler if recorded else None
        ended = why_ended(trials, content["n_trials_in_force"], sampler, state.held)
        content["steering"] = {**steering, "state": sweep_mode(steering["state"], ended)}
    return results


def _write(results: _Results, sweep_dir: Path) -> None:
    """The results file first, then the best config: a sweep killed between them leaves a
    results file that names the best, and its command, run again, writes the best config."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    # replaced whole: a sweep killed here, or a full disk, leaves the last results readable
    write_atomically(sweep_dir / RESULTS_FILE, results.text)
    best_config = sweep_dir / BEST_CONFIG
    if results.best_config is not None:
        write_atomically(best_config, results.best_config)
    elif results.no_best and best_config.exists():  # ours, beside the results: it named a
        best_config.unlink()  # trial failed by hand, which `--config-name best_config` would run
        results.said.append((logging.INFO, f"{best_config} removed: no trial counts as best"))
    for level, message in results.said:
        log.log(level, "%s", message)


def recorded_app(sweep_dir: Path) -> str:
    """The command of the app that ran the sweep in ``sweep_dir``, as its results file says
    (``app``; in a file written before that key, what its ``rerun_command`` starts with);
    ``hydratune`` for a sweep that said none."""
    try:
        results = yaml.safe_load((Path(sweep_dir) / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):  # unreadable: the sweep dir reader says so
        return "hydratune"
    if not isinstance(results, dict):
        return "hydratune"
    app = results.get("app")
    if not isinstance(app, str) or not app:
        app, found, _ = str(results.get("rerun_command") or "").partition(" --config-path ")
        app = app if found else ""
    return app or "hydratune"


def _best_config(
    results: _Results,
    best: optuna.trial.FrozenTrial,
    sweep_dir: Path,
    trials: list[optuna.trial.FrozenTrial],
) -> None:
    """``best_config.yaml``: the best trial's saved config, as it reruns (a scheduled run's
    from its first epoch: ``insight.rerun_config``), and the command that runs it."""
    try:
        job_dir, config, _ = rerun_config(best, sweep_dir)
    except ExportError:  # no saved config (its trial dir is gone)
        return
    source = job_dir / ".hydra" / "config.yaml"
    results.best_config = OmegaConf.to_yaml(config) if is_scheduled(best) else source.read_bytes()
    # with the app that ran the sweep: best_config.yaml is its config, not hydratune's
    arguments = ["--config-path", sweep_dir.resolve(), "--config-name", Path(BEST_CONFIG).stem]
    command = rerun_command(arguments, app=running_app())
    results.said.append(
        (
            logging.INFO,
            f"best trial #{best.number}: value {best.value}; rerun it with:\n  {command}",
        )
    )
    note = values_changed(best, trials)
    if note is not None:
        results.said.append((logging.INFO, note))
    results.content.update(
        best_config=str(sweep_dir.resolve() / BEST_CONFIG), rerun_command=command
    )
