"""What a sweep leaves in its sweep dir: ``optimization_results.yaml`` and the best config.

The results file keeps hydra-optuna-sweeper's keys (``name``, ``best_params``, ``best_value``;
``solutions`` for multi-objective) and adds the trial number, the study and its storage
(password masked), the trials finished toward the ``n_trials`` in force, and a command that
reruns the best trial. The best is ``steering.best_trial``'s: a trial failed by hand is not
best; ``passed_over`` says which one and why.
"""

from __future__ import annotations

import logging
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
    steering_summary,
    study_n_trials,
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


def write_results(study: optuna.Study, sweep_dir: Path, storage_url: str) -> dict[str, Any]:
    """Write ``optimization_results.yaml`` (and ``best_config.yaml``) and return their content."""
    trials = study.get_trials(deepcopy=False)
    results: dict[str, Any] = {
        "name": "optuna",  # as hydra-optuna-sweeper writes it: scripts check it
        "study_name": study.study_name,
        "storage": mask_url(storage_url),
        "n_trials": {state.name.lower(): 0 for state in TrialState},
    }
    for trial in trials:
        results["n_trials"][trial.state.name.lower()] += 1
    attrs = compat.study_user_attrs(study)
    # as the loop, the live view and `hydratune steer show` count them
    results.update(finished=finished_count(trials), n_trials_in_force=study_n_trials(attrs))

    failed = read_state(attrs).failed  # failed by hand: the attributes read above
    front = best_trials(study, trials, failed)  # the one best trial for one objective
    if not front:
        log.warning("study '%s' has no complete trial that counts yet", study.study_name)
    elif len(study.directions) == 1:
        best = front[0]
        results.update(
            best_params=best.params,
            best_value=best.value,
            best_trial_number=best.number,
            best_overrides=best.user_attrs.get(OVERRIDES),
        )
        results.update(_export_best_config(best, sweep_dir, trials))
    else:
        results["solutions"] = [
            {"number": t.number, "params": t.params, "values": t.values} for t in front
        ]
    results["app"] = running_app()  # the command that swept: `hydratune export` runs it too
    passed = passed_over(study, trials, failed)
    if passed is not None:
        results["best_excludes"] = passed
        log.info("%s", passed)

    steering = steering_summary(attrs)
    if steering is not None:
        results["steering"] = steering
    sweep_dir.mkdir(parents=True, exist_ok=True)
    # replaced whole: a sweep killed here, or a full disk, leaves the last results readable
    write_atomically(sweep_dir / RESULTS_FILE, OmegaConf.to_yaml(OmegaConf.create(results)))
    return results


def refresh_results(study: optuna.Study, sweep_dir: Path, storage_url: str) -> bool:
    """Write the results again when the best they name is no longer the study's (a trial
    failed by hand after the sweep finished); True when written. A finished sweep's command,
    run again, calls it: the results then agree with ``steer show`` and the report."""
    try:
        text = (sweep_dir / RESULTS_FILE).read_text(encoding="utf-8")
        written = yaml.safe_load(text) if _is_results(text) else None
    except (OSError, ValueError, yaml.YAMLError):
        return False
    if not isinstance(written, dict):
        return False
    trials = study.get_trials(deepcopy=False)
    front = best_trials(study, trials, read_state(compat.study_user_attrs(study)).failed)
    named = (
        [written.get("best_trial_number")]
        if len(study.directions) == 1
        else [s.get("number") for s in written.get("solutions") or [] if isinstance(s, dict)]
    )
    if not front or named == [t.number for t in front]:
        return False
    write_results(study, sweep_dir, storage_url)
    return True


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


def _export_best_config(
    best: optuna.trial.FrozenTrial, sweep_dir: Path, trials: list[optuna.trial.FrozenTrial]
) -> dict[str, Any]:
    """``best_config.yaml``: the best trial's saved config, as it reruns (a scheduled run's
    from its first epoch: ``insight.rerun_config``), and the command that runs it."""
    try:
        job_dir, config, _ = rerun_config(best, sweep_dir)
    except ExportError:  # no saved config (its trial dir is gone)
        return {}
    source = job_dir / ".hydra" / "config.yaml"
    text = OmegaConf.to_yaml(config) if is_scheduled(best) else source.read_bytes()
    write_atomically(sweep_dir / BEST_CONFIG, text)
    # with the app that ran the sweep: best_config.yaml is its config, not hydratune's
    arguments = ["--config-path", sweep_dir.resolve(), "--config-name", Path(BEST_CONFIG).stem]
    command = rerun_command(arguments, app=running_app())
    log.info("best trial #%d: value %s; rerun it with:\n  %s", best.number, best.value, command)
    note = values_changed(best, trials)
    if note is not None:
        log.info("%s", note)
    return {"best_config": str(sweep_dir.resolve() / BEST_CONFIG), "rerun_command": command}
