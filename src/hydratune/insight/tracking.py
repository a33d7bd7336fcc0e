"""A sweep in MLflow: one parent run per study, a child run per trial, from any worker or host.

MLflow's own nesting (``mlflow.start_run(nested=True)``) is a stack inside one process, so it
cannot span worker processes, Ray or Slurm jobs, resumes or hosts. Here nesting is explicit
(the ``mlflow.parentRunId`` tag, which the MLflow UI draws as a tree) and both ids live in the
study: the parent's in a study user attribute, which a resumed sweep and every sweeper sharing
the study adopt; each child's in its trial's user attributes, where the trial's job
(``logger=mlflow``) finds the run to log its epochs into, wherever it runs.

The sweeper side, driven by ``StudySweep``: ``start`` (adopt or create the parent), ``launched``
(a child run with the trial's parameters), ``told`` (the trial's outcome on its child, the best
value and counts on the parent), ``close`` (the sweep's files as the parent's artifacts).

A tracker never costs a trial: each step is guarded, the first error is reported once per
sweep with the URI (password masked), and tracking stops for the rest of the sweep; nothing
but the two run-id attributes is ever written to the study, and only after MLflow answered.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from hydratune import compat
from hydratune.attrs import (
    FAIL_REASON,
    LOST,
    MLFLOW_PARENT_RUN,
    MLFLOW_RUN_ID,
    OUTPUT_DIR,
    RESUMED_FROM,
    SEGMENT,
    STOPPED_REASON,
)
from hydratune.errors import StudyConfigError
from hydratune.schedule import (
    epochs_of,
    is_paused,
    is_scheduled,
    lineage_root,
    segment_of,
    state_name,
)
from hydratune.steering import best_trial
from hydratune.storage import mask_url
from hydratune.training import prepare_mlflow, store_lock, tracking_target

log = logging.getLogger(__name__)

LOGGER_TARGET = "hydratune.training.mlflow_logger.mlflow_logger"
# Lightning's own MLFlowLogger, as apps of one's own (lightning-hydra-template) configure it
STOCK_LOGGER_TARGETS = {
    f"{package}.loggers{module}.MLFlowLogger"
    for package in ("lightning.pytorch", "pytorch_lightning")
    for module in ("", ".mlflow")
}
RUN_ID_ENV = "MLFLOW_RUN_ID"  # MLflow's own variable: the run that mlflow.start_run() resumes
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag for a nested run
STUDY_TAG = "hydratune.study"
TRIAL_TAG = "hydratune.trial"
STATE_TAG = "hydratune.state"  # running, complete, pruned, paused (by a schedule), failed
PRUNED_AT_TAG = "hydratune.pruned_at_step"
REASON_TAG = "hydratune.reason"  # why a trial failed or was pruned
BEST_TRIAL_TAG = "hydratune.best_trial"
# A scheduled run's lineage, named after the study's keys: ``schedule: {kind, rung | member,
# ...}`` becomes hydratune.schedule_kind, ..._rung, ...; ``resumed_from: {trial, epoch}``
# hydratune.resumed_from_trial, ..._epoch, and ..._run: the source trial's child run.
SCHEDULE_TAG = f"hydratune.{SEGMENT}"
RESUMED_TAG = f"hydratune.{RESUMED_FROM}"
LINEAGE_ROOT_TAG = "hydratune.lineage_root"  # the chain's first trial: its runs share it
STATUS = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "KILLED",
    TrialState.FAIL: "FAILED",
    TrialState.RUNNING: "KILLED",  # still running when this sweeper ended (interrupted)
    TrialState.WAITING: "KILLED",
}
# Files of the sweep dir logged on the parent run at the end, when they exist.
SWEEP_FILES = ("multirun.yaml", "optimization_results.yaml", "best_config.yaml")


@dataclass(frozen=True)
class TrackingSettings:
    """Where and how a sweep is tracked; built before the study is opened."""

    uri: str
    artifact_location: str | None  # for a new experiment in the local store
    experiment: str
    trials_log_epochs: bool  # the trials run ``logger=mlflow`` and log their own curves
    register_best: str | None  # a registered model name for the best trial's checkpoint


def tracking_settings(conf: Any, config: DictConfig, study_name: str) -> TrackingSettings | None:
    """``hydra.sweeper.mlflow`` resolved: None when MLflow is off (``enabled: null`` means on
    exactly when the app's config selects ``logger=mlflow``)."""
    node = _mlflow_logger_node(config)
    enabled = getattr(conf, "enabled", None)
    if not (node is not None if enabled is None else enabled):
        return None
    if importlib.util.find_spec("mlflow") is None:
        raise StudyConfigError(
            "hydra.sweeper.mlflow (or logger=mlflow) needs the mlflow package: "
            "pip install 'hydratune[mlflow]', or set hydra.sweeper.mlflow.enabled=false"
        )
    stock = list(_stock_logger_nodes(config).values())
    logger_node = node if node is not None else (stock[0] if stock else None)
    setting = getattr(conf, "tracking_uri", None) or (
        logger_node.get("tracking_uri") if logger_node is not None else None
    )
    uri, artifacts = tracking_target(setting, config.hydra.runtime.cwd)
    return TrackingSettings(
        uri,
        artifacts,
        getattr(conf, "experiment", None) or study_name,
        trials_log_epochs=logger_node is not None,
        register_best=getattr(conf, "register_best", None),
    )


def _mlflow_logger_node(config: DictConfig) -> Any:
    loggers = OmegaConf.select(config, "logger") or {}
    for node in loggers.values():
        if node is not None and node.get("_target_") == LOGGER_TARGET:
            return node
    return None


def _stock_logger_nodes(config: DictConfig) -> dict[str, Any]:
    loggers = OmegaConf.select(config, "logger") or {}
    return {
        str(name): node
        for name, node in loggers.items()
        if OmegaConf.is_dict(node) and node.get("_target_") in STOCK_LOGGER_TARGETS
    }


def stock_logger_updates(conf: Any, config: DictConfig) -> dict[str, Any]:
    """Job config updates that make Lightning's stock ``MLFlowLogger`` (an app's own
    ``logger=mlflow``) log into the trial's child run instead of a top-level run of its own.

    Its ``run_id`` reads ``MLFLOW_RUN_ID``, which each trial's job gets (``hydra.job.env_set``)
    and a plain run of the saved config does not; its ``tracking_uri`` becomes the sweep's
    when ``hydra.sweeper.mlflow.tracking_uri`` names one, so the run is where it looks.
    """
    updates: dict[str, Any] = {}
    uri = getattr(conf, "tracking_uri", None)
    for name, node in _stock_logger_nodes(config).items():
        if node.get("run_id") is None:
            updates[f"logger.{name}.run_id"] = "${oc.env:" + RUN_ID_ENV + ",null}"
        if uri:
            updates[f"logger.{name}.tracking_uri"] = uri
    return updates


class SweepTracker:
    """The sweep's MLflow runs; every method is a no-op once tracking is off."""

    def __init__(self, settings: TrackingSettings | None) -> None:
        self.settings = settings
        self.off = settings is None
        self.client: Any = None
        self.study: optuna.Study | None = None
        self.parent_id = ""
        self.experiment_id = ""
        self.open_children: dict[int, str] = {}  # launched here, not yet finished in MLflow
        self.best_number: int | None = None

    def start(self, study: optuna.Study, space_description: Mapping[str, Any]) -> None:
        """Adopt the study's parent run, or create it (once, even with rival sweepers)."""
        self.study = study
        self._guarded(self._start, study, space_description)

    def launched(self, trial: optuna.Trial) -> dict[str, str] | None:
        """A child run for ``trial`` with its searched parameters, its id in the trial; the
        job's environment names it (``MLFLOW_RUN_ID``) for the app's own MLflow logging."""
        self._guarded(self._open_child, trial)
        run_id = self.open_children.get(trial.number)
        return {RUN_ID_ENV: run_id} if run_id is not None else None

    def told(self, trial: optuna.Trial) -> None:
        """The trial's outcome on its child run; best value and counts on the parent."""
        self._guarded(self._finish_child_and_update_parent, trial.number)

    def close(self, sweep_dir: Path) -> None:
        """Finish children left open (interrupted trials), log the sweep's files, end the run."""
        self._guarded(self._close, sweep_dir)

    # --- the guarded steps ---------------------------------------------------------------

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        if self.off:
            return
        try:
            step(*args)
        except Exception as error:
            self.off = True
            first_line = (str(error).splitlines() or [""])[0][:300]
            log.warning(
                "%s",
                mask_url(
                    f"MLflow tracking at {self.settings.uri} failed: {type(error).__name__}: "
                    f"{first_line}. Tracking is off for the rest of this sweep; the study and "
                    "its trials are unaffected (run the command again to track new trials)."
                ),
            )

    def _start(self, study: optuna.Study, space_description: Mapping[str, Any]) -> None:
        import mlflow

        prepare_mlflow(self.settings.uri)
        with store_lock(self.settings.uri):  # a new store's tables, made once
            self.client = mlflow.MlflowClient(self.settings.uri)
            self.client.search_experiments(max_results=1)
        parent, created = adopt_or_create_parent(self.client, study, self.settings)
        self.parent_id, self.experiment_id = parent.info.run_id, parent.info.experiment_id
        if not created:
            self.client.update_run(self.parent_id, status="RUNNING")
            self._finish_lost_children(study.get_trials(deepcopy=False))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "search_space.yaml"
            path.write_text(yaml.safe_dump(dict(space_description), sort_keys=False))
            self.client.log_artifact(self.parent_id, str(path))
        log.info(
            "MLflow: study '%s' is run %s (experiment '%s') at %s",
            study.study_name,
            self.parent_id,
            self.settings.experiment,
            mask_url(self.settings.uri),
        )

    def _open_child(self, trial: optuna.Trial) -> None:
        from mlflow.entities import Param

        tags = {
            PARENT_TAG: self.parent_id,
            STUDY_TAG: self.study.study_name,
            TRIAL_TAG: str(trial.number),
            STATE_TAG: "running",
        }
        if is_scheduled(trial):  # planned by the schedule before the launch
            trials = self.study.get_trials(deepcopy=False)
            tags.update(lineage_tags(_by_number(trials, trial.number), trials))
        run = self.client.create_run(
            self.experiment_id, run_name=f"trial-{trial.number}", tags=tags
        )
        run_id = run.info.run_id
        params = [Param(param_key(k), str(v)) for k, v in trial.params.items()]
        if params:
            self.client.log_batch(run_id, params=params)
        self.open_children[trial.number] = run_id
        trial.set_user_attr(MLFLOW_RUN_ID, run_id)

    def _finish_lost_children(self, trials: list[FrozenTrial]) -> None:
        """The child runs of trials failed as lost after their sweep process died (``kill -9``:
        no one finished their runs), finished as failed: at the start of a resumed sweep and at
        its end (its own recovery fails such trials as it goes)."""
        for trial in trials:
            run_id = trial.user_attrs.get(MLFLOW_RUN_ID)
            lost = trial.user_attrs.get(LOST) and trial.state.is_finished() and run_id
            if lost and self.client.get_run(run_id).info.status == "RUNNING":
                self._finish_child(run_id, trial)

    def _finish_child_and_update_parent(self, number: int) -> None:
        trials = self.study.get_trials(deepcopy=False)
        frozen = _by_number(trials, number)
        run_id = self.open_children.pop(number, None)
        if frozen is not None and run_id is not None:
            self._finish_child(run_id, frozen)
        self._update_parent(trials)

    def _finish_child(self, run_id: str, trial: FrozenTrial) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = []
        last_epoch = epochs_of(trial) - 1 if is_scheduled(trial) else 0  # where its curve ends
        for i, value in enumerate(trial.values or []):
            name = "objective" if len(trial.values) == 1 else f"objective.{i}"
            metrics.append(Metric(name, value, now, last_epoch))
        if not self.settings.trials_log_epochs:  # an app without the logger: Optuna's curve
            metrics += [
                Metric("intermediate_value", v, now, step)
                for step, v in sorted(trial.intermediate_values.items())
                if math.isfinite(v)
            ]
        paused = is_paused(trial)
        tags = [RunTag(STATE_TAG, _run_state(trial))]
        reason = trial.user_attrs.get(FAIL_REASON) or trial.user_attrs.get(STOPPED_REASON)
        if reason and trial.state != TrialState.COMPLETE:
            tags.append(RunTag(REASON_TAG, mask_url(str(reason))[:5000]))
        if trial.state == TrialState.PRUNED and trial.intermediate_values and not paused:
            tags.append(RunTag(PRUNED_AT_TAG, str(max(trial.intermediate_values))))
        self.client.log_batch(run_id, metrics=metrics, tags=tags)
        config = Path(trial.user_attrs.get(OUTPUT_DIR) or "") / ".hydra" / "config.yaml"
        if trial.user_attrs.get(OUTPUT_DIR) and config.is_file():
            self.client.log_artifact(run_id, str(config))
        end = trial.datetime_complete.timestamp() * 1000 if trial.datetime_complete else now
        self.client.set_terminated(run_id, STATUS.get(trial.state, "FINISHED"), int(end))

    def _update_parent(self, trials: list[FrozenTrial]) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        counts = dict.fromkeys(("complete", "pruned", "failed"), 0)
        for t in trials:
            if t.state.is_finished():
                name = _run_state(t)
                counts[name] = counts.get(name, 0) + 1  # "paused" once a schedule paused a run
        step = sum(counts.values())
        metrics = [Metric(f"n_{name}", n, now, step) for name, n in counts.items()]
        tags = []
        best = best_trial(self.study, trials)
        if best is not None and best.number != self.best_number:
            self.best_number = best.number
            metrics.append(Metric("best_value", best.value, now, step))
            tags.append(RunTag(BEST_TRIAL_TAG, str(best.number)))
            tags += [RunTag(f"best.{param_key(k)}", str(v)) for k, v in best.params.items()]
        self.client.log_batch(self.parent_id, metrics=metrics, tags=tags)

    def _close(self, sweep_dir: Path) -> None:
        trials = self.study.get_trials(deepcopy=False)
        for number, run_id in list(self.open_children.items()):
            frozen = _by_number(trials, number)
            if frozen is not None:
                self._finish_child(run_id, frozen)
            self.open_children.pop(number)
        self._finish_lost_children(trials)
        self._update_parent(trials)
        for name in SWEEP_FILES:
            if (sweep_dir / name).is_file():
                self.client.log_artifact(self.parent_id, str(sweep_dir / name))
        if (sweep_dir / "report").is_dir():
            self.client.log_artifacts(self.parent_id, str(sweep_dir / "report"), "report")
        if self.settings.register_best:
            register_best_checkpoint(self.client, self.study, self.settings.register_best)
        self.client.set_terminated(self.parent_id, "FINISHED")


def adopt_or_create_parent(
    client: Any, study: optuna.Study, settings: TrackingSettings
) -> tuple[Any, bool]:
    """The study's parent run and whether this call created it.

    The run id stored in the study wins. Without one, this sweeper creates a run and claims the
    study's parent for it (``compat.claim_study_user_attr``: the first claim wins on a journal
    or database), so sweepers started together settle on one parent; a loser deletes its run.
    A stored parent gone from the server is replaced by the same steps, the last writer winning.
    """
    stored = study.user_attrs.get(MLFLOW_PARENT_RUN)
    if stored is not None:
        run = _live_run(client, stored)
        if run is not None:
            return run, False
        log.info("MLflow: the study's parent run %s is gone from this server; new parent", stored)
    experiment_id = _experiment_id(client, settings)
    tags = {STUDY_TAG: study.study_name, "hydratune.role": "sweep"}
    mine = client.create_run(experiment_id, run_name=study.study_name, tags=tags)
    my_id = mine.info.run_id
    if stored is None:
        winner = compat.claim_study_user_attr(study, MLFLOW_PARENT_RUN, my_id)
    else:  # Optuna has no atomic replace: a rival that replaced it first wins, if seen here
        winner = study.user_attrs.get(MLFLOW_PARENT_RUN)
        if winner == stored:
            study.set_user_attr(MLFLOW_PARENT_RUN, my_id)
            winner = study.user_attrs.get(MLFLOW_PARENT_RUN)
    if winner == my_id:
        return mine, True
    client.delete_run(my_id)
    return client.get_run(winner), False


def _live_run(client: Any, run_id: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return run if run.info.lifecycle_stage == "active" else None


def _experiment_id(client: Any, settings: TrackingSettings) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        if experiment.lifecycle_stage != "active":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    try:
        return client.create_experiment(settings.experiment, settings.artifact_location)
    except MlflowException:  # a rival sweeper created it first
        experiment = client.get_experiment_by_name(settings.experiment)
        if experiment is None:
            raise
        return experiment.experiment_id


def register_best_checkpoint(client: Any, study: optuna.Study, model_name: str) -> None:
    """Log the best trial's checkpoint on its run and register it as a version of
    ``model_name``, tagged with its trial number and study (once per trial)."""
    best = best_trial(study)
    run_id = best and best.user_attrs.get(MLFLOW_RUN_ID)
    if best is None or run_id is None:
        return
    checkpoints = sorted(Path(best.user_attrs.get(OUTPUT_DIR) or "").glob("checkpoints/*.ckpt"))
    if not best.user_attrs.get(OUTPUT_DIR) or not checkpoints:
        log.warning(
            "MLflow: best trial #%d has no checkpoint in its checkpoints/ folder to register; "
            "sweep with a checkpoint callback (+callbacks=model_checkpoint)",
            best.number,
        )
        return
    existing = client.search_model_versions(f"name='{model_name}' and run_id='{run_id}'")
    if list(existing):
        return
    for path in checkpoints:
        client.log_artifact(run_id, str(path), "checkpoint")
    if not client.search_registered_models(f"name='{model_name}'"):
        client.create_registered_model(model_name)
    source = f"{client.get_run(run_id).info.artifact_uri}/checkpoint"
    tags = {"trial": str(best.number), "study": study.study_name}
    version = client.create_model_version(model_name, source, run_id=run_id, tags=tags)
    log.info("MLflow: best trial #%d is %s version %s", best.number, model_name, version.version)


def lineage_tags(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> dict[str, str]:
    """A scheduled run's plan (its rung or member, the epoch it trains to), the chain it is
    part of, and the run it continued from: MLflow's search finds a configuration's runs
    (``tags.`hydratune.lineage_root` = '3'``) or what continued a run
    (``tags.`hydratune.resumed_from_run` = '<run id>'``)."""
    segment = segment_of(trial)
    if segment is None:
        return {}
    tags = {f"{SCHEDULE_TAG}_{key}": str(value) for key, value in segment.items()}
    tags[LINEAGE_ROOT_TAG] = str(lineage_root(trial, trials))
    resumed = trial.user_attrs.get(RESUMED_FROM)
    if isinstance(resumed, Mapping):
        tags.update({f"{RESUMED_TAG}_{key}": str(value) for key, value in resumed.items()})
        source = _by_number(trials, int(resumed["trial"]))
        run_id = source.user_attrs.get(MLFLOW_RUN_ID) if source is not None else None
        if run_id:  # none when the source ran untracked
            tags[f"{RESUMED_TAG}_run"] = str(run_id)
    return tags


def param_key(name: str) -> str:
    """An override key as an MLflow parameter name (``+model.x`` -> ``model.x``)."""
    return name.lstrip("+~")


def describe_space(space: Any, conf: Any, arguments: list[str]) -> dict[str, Any]:
    """The search space as the parent's ``search_space.yaml``: what was written (the sweeper's
    ``params`` and ``when``, the command line), and the distributions it became."""
    return {
        "params": _plain(conf.params),
        "command_line": list(arguments),
        "when": _plain(conf.when),
        "paired": _plain(conf.paired),
        "blocks": _plain(conf.blocks),
        "cells": _plain(conf.cells),
        "fixed": list(space.fixed),
        "distributions": {k: str(d) for k, d in space.distributions.items()},
    }


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _by_number(trials: Sequence[FrozenTrial], number: int) -> FrozenTrial | None:
    if number < len(trials) and trials[number].number == number:
        return trials[number]
    return next((t for t in trials if t.number == number), None)


def _run_state(trial: FrozenTrial) -> str:
    """The run's ``hydratune.state``: hydratune's name of its state, with MLflow's "failed"."""
    name = state_name(trial)
    return "failed" if name == "fail" else name  # running, complete, pruned, paused, waiting
