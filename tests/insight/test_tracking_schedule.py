"""A scheduled sweep in MLflow, checked through MLflow's own client against a real ``mlflow
server``: each run of a configuration is its own child run, tagged with its rung or member, the
run it continued from and the chain it belongs to; a paused run is tagged paused; and every run
logs its epochs at their true step, so a chain's curves join up in MLflow's compare view."""

from __future__ import annotations

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from helpers import REPO, load, multirun
from hydratune.attrs import MLFLOW_PARENT_RUN, MLFLOW_RUN_ID, RESUMED_FROM, SEGMENT
from hydratune.schedule import is_paused
from hydratune.training.task import train

pytestmark = [
    pytest.mark.mlflow,
    pytest.mark.slow,  # Lightning sweeps of 6-7 runs
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning"),
]

TINY = [
    "sweep=mlp_digits",
    "trainer.max_epochs=3",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "hydra.sweeper.progress=false",
    "hydra.sweeper.report=false",
    "hydra.sweeper.export_best=false",
]


def children(client, study) -> dict[int, mlflow.entities.Run]:
    parent_id = study.user_attrs[MLFLOW_PARENT_RUN]
    experiment = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_id}'")
    return {int(run.data.tags["hydratune.trial"]): run for run in runs}


# The curve a trial's run shows: the logger's epochs, or without it the values it reported.
LOGGER = ["logger=mlflow"]
NO_LOGGER = ["hydra.sweeper.mlflow.enabled=true"]
CURVE = "val/acc"  # the sweep's objective, so its epochs equal the trial's intermediate values


def scheduled_sweep(tmp_path, name: str, n_trials: int, *overrides: str) -> optuna.Study:
    """The tiny training sweep ``name`` of ``n_trials`` runs with ``overrides``, its study."""
    overrides = (
        f"hydra.sweeper.study_name={name}",
        f"hydra.sweeper.n_trials={n_trials}",
        *overrides,
    )
    multirun([*TINY, *overrides], task=train, config_name="train", config_dir=REPO / "conf")
    return load(name, tmp_path)


def curve(client, run, metric: str = CURVE) -> dict[int, float]:
    return {m.step: m.value for m in client.get_metric_history(run.info.run_id, metric)}


def check_lineage(client, study, metric: str = CURVE) -> list:
    """What every scheduled sweep's runs must show; returns the continued trials."""
    trials, runs = study.trials, children(client, study)
    assert sorted(runs) == [t.number for t in trials]
    continued = [t for t in trials if RESUMED_FROM in t.user_attrs]
    assert continued, "no run continued from a checkpoint"
    for trial in trials:
        tags = runs[trial.number].data.tags
        segment = trial.user_attrs[SEGMENT]
        assert {k: tags[f"hydratune.schedule_{k}"] for k in segment} == {
            k: str(v) for k, v in segment.items()
        }
        for key, value in trial.params.items():  # PBT: the explored values this run trained
            assert runs[trial.number].data.params[key] == str(value)
        if is_paused(trial):
            assert tags["hydratune.state"] == "paused", trial.number
            assert runs[trial.number].info.status == "KILLED"
            assert tags["hydratune.reason"].startswith("paused after")
            assert "hydratune.pruned_at_step" not in tags
        # its epochs at their true steps: the ones it trained, and only those
        start = trial.user_attrs.get(RESUMED_FROM, {}).get("epoch", 0)
        assert curve(client, runs[trial.number], metric) == pytest.approx(trial.intermediate_values)
        assert sorted(trial.intermediate_values) == list(range(start, segment["epochs"]))
    for trial in continued:
        tags, resumed = runs[trial.number].data.tags, trial.user_attrs[RESUMED_FROM]
        source = trials[resumed["trial"]]
        assert tags["hydratune.resumed_from_trial"] == str(source.number)
        assert tags["hydratune.resumed_from_epoch"] == str(resumed["epoch"])
        assert tags["hydratune.resumed_from_run"] == source.user_attrs[MLFLOW_RUN_ID]
        assert tags["hydratune.resumed_from_run"] == runs[source.number].info.run_id
        assert (
            tags["hydratune.lineage_root"]
            == runs[source.number].data.tags["hydratune.lineage_root"]
        )
        # the source's curve ends where the continuation's begins
        assert max(curve(client, runs[source.number], metric)) == resumed["epoch"] - 1
        assert min(curve(client, runs[trial.number], metric)) == resumed["epoch"]
    for trial in trials:
        if RESUMED_FROM not in trial.user_attrs:  # a chain's first run is its own root
            assert runs[trial.number].data.tags["hydratune.lineage_root"] == str(trial.number)
    return continued


@pytest.mark.parametrize(
    ("tracking", "metric"),
    [(LOGGER, CURVE), (NO_LOGGER, "intermediate_value")],
    ids=["logger", "without-logger"],
)
def test_asha_runs_in_mlflow_follow_the_lineage_and_their_curves_join(
    tracked, tmp_path, tracking, metric
):
    # rungs at 1, 2 and 3 epochs; 7 runs take the best configuration to the last epoch
    study = scheduled_sweep(
        tmp_path,
        "asha_lineage",
        7,
        *tracking,
        "hydra/sweeper/scheduler=asha",
        "hydra.sweeper.scheduler.eta=2",
    )
    check_lineage(tracked, study, metric)
    runs = children(tracked, study)
    (done,) = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert done.user_attrs[SEGMENT]["rung"] == 2
    assert runs[done.number].data.tags["hydratune.state"] == "complete"
    objective = tracked.get_metric_history(runs[done.number].info.run_id, "objective")
    assert [(m.step, m.value) for m in objective] == [(2, pytest.approx(done.value))]
    # one search finds a configuration's whole chain in the sweep: three runs, one per rung
    root = runs[done.number].data.tags["hydratune.lineage_root"]
    experiment = runs[done.number].info.experiment_id
    parent_id = study.user_attrs[MLFLOW_PARENT_RUN]
    chain = tracked.search_runs(
        [experiment],
        f"tags.mlflow.parentRunId = '{parent_id}' and tags.`hydratune.lineage_root` = '{root}'",
    )
    rungs = sorted(int(r.data.tags["hydratune.schedule_rung"]) for r in chain)
    assert rungs == [0, 1, 2]
    joined: dict[int, float] = {}
    for run in chain:
        joined.update(curve(tracked, run, metric))
    assert sorted(joined) == [0, 1, 2]  # one learning curve over the chain, no epoch twice
    parent = tracked.get_run(parent_id).data.metrics
    paused = sum(is_paused(t) for t in study.trials)
    assert (parent["n_paused"], parent["n_pruned"], parent["n_complete"]) == (paused, 0, 1)


def test_pbt_exploits_in_mlflow_point_at_the_run_whose_weights_they_copied(tracked, tmp_path):
    study = scheduled_sweep(
        tmp_path,
        "pbt_lineage",
        6,
        *LOGGER,
        "hydra/sweeper/scheduler=pbt",
        "hydra.sweeper.scheduler.population=2",
        "hydra.sweeper.scheduler.perturbation_interval=1",
        "hydra.sweeper.scheduler.seed=0",
    )
    continued = check_lineage(tracked, study)
    runs = children(tracked, study)
    member = {t.number: t.user_attrs[SEGMENT]["member"] for t in study.trials}
    exploits = [
        t for t in continued if member[t.user_attrs[RESUMED_FROM]["trial"]] != member[t.number]
    ]
    assert exploits, "no member copied another's checkpoint"
    explored = 0
    for trial in exploits:
        run = runs[trial.number]
        source = study.trials[trial.user_attrs[RESUMED_FROM]["trial"]]
        assert run.data.tags["hydratune.schedule_member"] == str(member[trial.number])
        assert runs[source.number].data.tags["hydratune.schedule_member"] == str(
            member[source.number]
        )
        # its own run holds the values explore gave it; the source's run keeps its own
        explored += run.data.params != runs[source.number].data.params
    assert explored, "no exploit trained with explored values"
