"""A sweep in MLflow, checked through MLflow's own client against a real ``mlflow server``:
one parent run per study (kept across a resume, shared by workers, settled between sweeps
started together), a child run per trial with what it carries, and a sweep that outlives
its tracking server."""

from __future__ import annotations

import threading
from pathlib import Path

import mlflow
import optuna
import pytest
from hydra.core.hydra_config import HydraConfig
from optuna.trial import TrialState

import hydratune
from helpers import REPO, TINY_SWEEP, load, multirun, start_quadratic_app, wait_for_marker
from hydratune.attrs import MLFLOW_PARENT_RUN, MLFLOW_RUN_ID
from hydratune.insight.tracking import TrackingSettings, adopt_or_create_parent
from hydratune.storage import open_storage, storage_url
from hydratune.training.mlflow_logger import TrialMLFlowLogger
from hydratune.training.task import train

pytestmark = pytest.mark.mlflow

NO_PNG = ["hydra.sweeper.report_png=false", "hydra.sweeper.export_best=false"]


def lightning_sweep(overrides: list[str], task=train) -> None:
    multirun([*TINY_SWEEP, "logger=mlflow", *NO_PNG, *overrides], task, "train", REPO / "conf")


def children_of(client, parent_id: str) -> dict[int, mlflow.entities.Run]:
    parent = client.get_run(parent_id)
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    return {int(run.data.tags["hydratune.trial"]): run for run in runs}


def artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


def test_a_lightning_sweep_is_one_parent_run_with_a_child_per_trial(tracked, tmp_path):
    lightning_sweep(
        [
            "hydra.sweeper.study_name=nested",
            "hydra.sweeper.n_trials=2",
            "callbacks=model_checkpoint",
            "hydra.sweeper.mlflow.register_best=digits-mlp",
        ]
    )
    study = load("nested", tmp_path)
    parent_id = study.user_attrs[MLFLOW_PARENT_RUN]
    parent = tracked.get_run(parent_id)
    assert tracked.get_experiment(parent.info.experiment_id).name == "nested"
    assert parent.info.run_name == "nested" and parent.info.status == "FINISHED"

    children = children_of(tracked, parent_id)
    assert sorted(children) == [t.number for t in study.trials] == [0, 1]
    for trial in study.trials:
        child = children[trial.number]
        assert child.info.run_id == trial.user_attrs[MLFLOW_RUN_ID]
        assert child.info.run_name == f"trial-{trial.number}"
        assert child.data.tags["hydratune.state"] == "complete"
        assert child.info.status == "FINISHED"
        for key, value in trial.params.items():
            assert child.data.params[key] == str(value)
        assert child.data.metrics["objective"] == pytest.approx(trial.value)
        history = tracked.get_metric_history(child.info.run_id, "val/acc")
        assert [m.step for m in history] == [0, 1]  # step = epoch, logged by the trial's job
        assert max(m.value for m in history) == pytest.approx(trial.value)
        assert "config.yaml" in artifacts(tracked, child.info.run_id)

    best = study.best_trial
    assert parent.data.metrics["best_value"] == pytest.approx(best.value)
    assert parent.data.tags["hydratune.best_trial"] == str(best.number)
    assert parent.data.tags["best.model.optimizer.lr"] == str(best.params["model.optimizer.lr"])
    assert parent.data.metrics["n_complete"] == 2 and parent.data.metrics["n_failed"] == 0
    assert {"multirun.yaml", "search_space.yaml", "best_config.yaml", "report"} <= artifacts(
        tracked, parent_id
    )
    assert "report/report.html" in artifacts(tracked, parent_id, "report")

    (version,) = tracked.search_model_versions("name='digits-mlp'")
    assert version.run_id == best.user_attrs[MLFLOW_RUN_ID]
    assert version.tags == {"trial": str(best.number), "study": "nested"}
    assert any(
        a.path.endswith(".ckpt") for a in tracked.list_artifacts(version.run_id, "checkpoint")
    )


def staged(cfg) -> float:
    """A plain task (no Lightning, no logger) whose state follows x: 1 completes, 2 is pruned
    at step 1, 3 fails."""
    for step in range(2):
        hydratune.report(float(cfg.x + step), step)
    if cfg.x == 2:
        raise optuna.TrialPruned("pruned at step 1")
    if cfg.x == 3:
        raise RuntimeError("x=3 is not allowed")
    return float(cfg.x)


def test_any_app_is_tracked_with_one_setting_and_each_state_is_a_tag(tracked, sweep, tmp_path):
    sweep(
        [
            "hydra.sweeper.mlflow.enabled=true",
            "hydra.sweeper.mlflow.experiment=staged-experiment",
            "hydra.sweeper.study_name=staged",
            "hydra/sweeper/sampler=grid",
            "x=choice(1,2,3)",
            "y=0",
            "kind=b",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.max_failure_rate=0.5",
        ],
        task=staged,
    )
    study = load("staged", tmp_path)
    parent = tracked.get_run(study.user_attrs[MLFLOW_PARENT_RUN])
    assert tracked.get_experiment(parent.info.experiment_id).name == "staged-experiment"
    runs = {int(r.data.params["x"]): r for r in children_of(tracked, parent.info.run_id).values()}

    complete, pruned, failed = runs[1], runs[2], runs[3]
    assert complete.data.tags["hydratune.state"] == "complete"
    assert complete.data.metrics["objective"] == 1.0
    assert pruned.data.tags["hydratune.state"] == "pruned" and pruned.info.status == "KILLED"
    assert pruned.data.tags["hydratune.pruned_at_step"] == "1"
    assert pruned.data.tags["hydratune.reason"] == "pruned at step 1"
    assert failed.data.tags["hydratune.state"] == "failed" and failed.info.status == "FAILED"
    assert failed.data.tags["hydratune.reason"] == "RuntimeError: x=3 is not allowed"
    # without the logger, the values the trial reported are its curve
    history = tracked.get_metric_history(pruned.info.run_id, "intermediate_value")
    assert [(m.step, m.value) for m in history] == [(0, 2.0), (1, 3.0)]
    counts = {k: parent.data.metrics[k] for k in ("n_complete", "n_pruned", "n_failed")}
    assert counts == {"n_complete": 1, "n_pruned": 1, "n_failed": 1}


def test_workers_and_a_resume_attach_their_trials_to_the_same_parent(tracked, tmp_path):
    common = ["hydra.sweeper.study_name=shared"]
    # a trial in each worker: each slot's worker process takes the slot's first trial
    lightning_sweep([*common, "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=2"])
    first_parent = load("shared", tmp_path).user_attrs[MLFLOW_PARENT_RUN]
    lightning_sweep([*common, "hydra.sweeper.n_trials=3"])  # resume: one more trial

    study = load("shared", tmp_path)
    assert study.user_attrs[MLFLOW_PARENT_RUN] == first_parent
    children = children_of(tracked, first_parent)
    assert sorted(children) == [0, 1, 2]
    for number, child in children.items():
        # every trial's epochs reached its child run, from a worker process or this one
        steps = [m.step for m in tracked.get_metric_history(child.info.run_id, "val/acc")]
        assert steps == [0, 1], number
    experiment = tracked.get_run(first_parent).info.experiment_id
    parents = tracked.search_runs([experiment], "tags.`hydratune.role` = 'sweep'")
    assert [r.info.run_id for r in parents] == [first_parent]
    assert tracked.get_run(first_parent).data.metrics["n_complete"] == 3


def test_two_sweeps_starting_together_settle_on_one_parent(tracked, tmp_path, mlflow_server):
    url = storage_url("race.journal", tmp_path)
    optuna.create_study(study_name="race", storage=open_storage(url))
    settings = TrackingSettings(mlflow_server.url, None, "race", False, None)
    barrier = threading.Barrier(4)
    chosen: list[str] = []

    def sweeper() -> None:
        study = optuna.load_study(study_name="race", storage=open_storage(url))
        client = mlflow.MlflowClient(mlflow_server.url)
        barrier.wait()
        run, _ = adopt_or_create_parent(client, study, settings)
        chosen.append(run.info.run_id)

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(chosen) == 4 and len(set(chosen)) == 1
    experiment = tracked.get_experiment_by_name("race").experiment_id
    active = tracked.search_runs([experiment], "tags.`hydratune.role` = 'sweep'")
    assert [r.info.run_id for r in active] == chosen[:1]  # the losers' runs are deleted
    stored = optuna.load_study(study_name="race", storage=open_storage(url))
    assert stored.user_attrs[MLFLOW_PARENT_RUN] == chosen[0]


def test_a_hyperparameter_clashing_with_a_searched_key_leaves_the_metrics_on(mlflow_server):
    client = mlflow.MlflowClient(mlflow_server.url)
    experiment = client.create_experiment("clash")
    run_id = client.create_run(experiment).info.run_id
    client.log_param(run_id, "seed", "7")  # as the sweeper logs a searched top-level key

    logger = TrialMLFlowLogger(tracking_uri=mlflow_server.url, run_id=run_id)
    logger.log_hyperparams({"seed": 0, "hidden_dim": 64})  # MLflow refuses a second value
    logger.log_metrics({"val/acc": 0.5, "epoch": 3}, step=120)

    assert not logger.quiet
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "val/acc")] == [(3, 0.5)]


# Leaves the session's server down: it runs last (a test that needs the server after it would
# start it again, seconds).
@pytest.mark.stops_its_service
def test_a_sweep_outlives_its_tracking_server(
    tracked, tmp_path, monkeypatch, mlflow_server, capsys
):
    """The server is killed as trial #1 starts: every trial still completes, the failure is
    reported once with the URI's password masked, and the study holds nothing else of it."""
    secret_url = mlflow_server.url.replace("http://", "http://tuner:s3cret@")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", secret_url)
    before_outage = {}

    def server_dies_at_trial_1(cfg):
        if HydraConfig.get().job.num == 1:
            study = load("outage", tmp_path)
            before_outage.update(children_of(tracked, study.user_attrs[MLFLOW_PARENT_RUN]))
            mlflow_server.stop()  # the next test that needs it starts it again
        return train(cfg)

    lightning_sweep(
        ["hydra.sweeper.study_name=outage", "hydra.sweeper.n_trials=4"],
        task=server_dies_at_trial_1,
    )

    study = load("outage", tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    captured = capsys.readouterr()
    printed = captured.out + captured.err  # Hydra's job logging writes to stdout
    (warning,) = [line for line in printed.splitlines() if "MLflow tracking at" in line]
    assert "http://tuner:***@127.0.0.1" in warning and "off for the rest of this sweep" in warning
    assert "s3cret" not in printed
    # trial 0 was tracked in full and trial 1's run opened before the outage; none after it
    assert sorted(before_outage) == [0, 1]
    assert before_outage[0].data.tags["hydratune.state"] == "complete"
    assert [MLFLOW_RUN_ID in t.user_attrs for t in study.trials] == [True, True, False, False]
    assert [key for key in study.user_attrs if "mlflow" in key] == [MLFLOW_PARENT_RUN]


def test_tracking_is_off_without_the_logger_or_the_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    multirun(["hydra.sweeper.n_trials=2"])
    assert not Path(tmp_path / "outputs" / "mlflow.db").exists()
    assert MLFLOW_PARENT_RUN not in load("quadratic", tmp_path).user_attrs


def test_a_trial_lost_to_a_killed_sweep_has_its_run_finished_as_failed_by_the_rerun(
    tracked, tmp_path
):
    tracking = ["hydra.sweeper.mlflow.enabled=true", "hydra.sweeper.study_name=killed"]
    proc = start_quadratic_app(tmp_path, *tracking, "hydra.sweeper.n_trials=3", hang_at=1)
    wait_for_marker(tmp_path / "hanging", proc)
    proc.kill()  # kill -9: no one finishes trial #1's run
    proc.wait()
    rerun = start_quadratic_app(tmp_path, *tracking, "hydra.sweeper.n_trials=3")
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    study = load("killed", tmp_path)
    lost = study.trials[1]
    assert lost.state == TrialState.FAIL and lost.user_attrs["lost"]
    run = tracked.get_run(lost.user_attrs[MLFLOW_RUN_ID])
    assert run.info.status == "FAILED" and run.data.tags["hydratune.state"] == "failed"
    parent = tracked.get_run(study.user_attrs[MLFLOW_PARENT_RUN])
    children = children_of(tracked, parent.info.run_id)
    assert all(c.info.status != "RUNNING" for c in children.values()), children


def test_two_sweeps_starting_together_on_a_new_local_store_both_track(tmp_path, monkeypatch):
    """MLflow makes a local store's tables at its first request: two sweeps at once raced
    ("table experiments already exists") and one tracked nothing."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the local store, new
    command = ["hydra.sweeper.mlflow.enabled=true", "hydra.sweeper.n_trials=4"]
    runs = [start_quadratic_app(tmp_path, *command) for _ in range(2)]
    outs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    assert not any("MLflow tracking at" in out for out in outs), outs  # never turned off
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    study = load("quadratic", tmp_path)
    ran = {t.number for t in study.trials if MLFLOW_RUN_ID in t.user_attrs}
    children = children_of(client, study.user_attrs[MLFLOW_PARENT_RUN])
    assert set(children) == ran and len(ran) >= 4
