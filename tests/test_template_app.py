"""lightning-hydra-template's way of working, as a real client (``tests/apps/template_app``):
its hydra-optuna-sweeper search migrated with ``hydratune migrate``, swept from the command
line with pruning, its best config rerun, its own (Lightning's stock) MLflow logger, its
timestamped sweep dirs under ``logs/``, run as its users run ``python src/train.py``: as
processes. hydratune's own commands (migrate, rerun, export), which need no process of the
app's, run in this one (``helpers.hydratune_here``)."""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from helpers import APPS, hydratune_here
from hydratune.attrs import (
    CHECKPOINT,
    FAIL_REASON,
    LOST,
    MLFLOW_RUN_ID,
    OUTPUT_DIR,
    PRUNE_OVERRULED,
    RESUMED_FROM,
    RETRY_OF,
    SEGMENT,
)
from hydratune.storage import open_storage

pytestmark = pytest.mark.slow

JOURNAL = Path("logs/train/multiruns/hydratune.journal")
# A good trial first, then one the median pruner stops after its first epoch (lr 1e-4 learns
# nothing in an epoch), then whatever TPE asks.
ENQUEUE = (
    "hydra.sweeper.enqueue=["
    "{model.lr: 0.02, data.batch_size: 32, model.hidden: 64},"
    "{model.lr: 0.0001, data.batch_size: 128, model.hidden: 16}]"
)
SWEEP = [
    "-m",
    "hparams_search=digits_optuna",
    "experiment=example",
    "hydra.sweeper.n_trials=3",
    "hydra/sweeper/pruner=median",
    "hydra.sweeper.pruner.n_startup_trials=1",
    "+callbacks.prune._target_=hydratune.PruningCallback.for_current_trial",
    "+callbacks.prune.metric=val/acc",
    "hydra.sweeper.report_png=false",
    "++trainer.limit_train_batches=6",
    ENQUEUE,
]


def run(app: Path, *args: str, env: dict | None = None) -> str:
    """``python src/train.py *args`` in ``app``; its output, once it exited 0."""
    done = run_app(app, *args, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def run_app(app: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "src/train.py", *args],
        cwd=app,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app, its hparams_search config migrated as a user migrates it: once, for every
    test's copy (``app``)."""
    root = tmp_path_factory.mktemp("migrated") / "app"
    shutil.copytree(APPS / "template_app", root)
    done = hydratune_here(root, "migrate", "configs/hparams_search/digits_optuna.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture
def app(migrated: Path, tmp_path: Path) -> Path:
    """A copy of the migrated app of the test's own."""
    return Path(shutil.copytree(migrated, tmp_path / "app"))


def study(app: Path) -> optuna.Study:
    return optuna.load_study(study_name="example", storage=open_storage(str(app / JOURNAL)))


def sweep_dirs(app: Path) -> list[Path]:
    return sorted(p for p in (app / JOURNAL.parent).iterdir() if p.is_dir())


def test_a_migrated_template_sweep_prunes_keeps_its_journal_in_logs_and_its_best_config_reruns(
    app,
):
    run(app, *SWEEP, "trainer.min_epochs=1")
    trials = study(app).trials
    states = [t.state for t in trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert list(trials[1].intermediate_values) == [0]  # stopped after its first epoch
    assert len(trials[0].intermediate_values) == 4
    # the study lies with the app's outputs, beside its timestamped sweep dirs, not in outputs/
    assert not (app / "outputs").exists()
    (first,) = sweep_dirs(app)

    # the best config keeps callbacks.prune: outside a sweep the callback does nothing
    best = first / "best_config.yaml"
    assert "hydratune.PruningCallback.for_current_trial" in best.read_text()
    output = run(app, "--config-path", str(first), "--config-name", "best_config")
    assert "not in a hydratune sweep, nothing to prune" in output
    assert "`Trainer.fit` stopped: `max_epochs=4` reached" in output
    # hydratune rerun trains with hydratune's task, not the app's: said before any training
    done = hydratune_here(app, "rerun", str(first), "--top-k", "1")
    assert done.returncode == 2 and not (first / "rerun").exists()  # nothing trained, nor made
    assert "was trained by another app's task (job 'train')" in done.stderr
    assert "--config-name config seed=<n>" in done.stderr
    # hydratune export writes the best as the app's experiment, run with the app that swept
    done = hydratune_here(app, "export", str(first))
    assert done.returncode == 0, done.stderr
    assert "run it with: python src/train.py experiment=example_best" in done.stdout
    assert "`Trainer.fit` stopped" in run(app, "experiment=example_best")  # as the header says

    # the same command again: the study is complete, and a new timestamped dir is no surprise
    output = run(app, *SWEEP, "trainer.min_epochs=1")
    assert "nothing to run: study 'example'" in output
    assert "hydra.sweeper.study_name=<a new name>" in output
    assert sweep_dirs(app) == [first] and len(study(app).trials) == 3


def test_a_trial_the_pruner_stopped_that_trained_to_its_last_epoch_is_complete(app):
    # experiment=example sets trainer.min_epochs = max_epochs: Lightning trains on after a stop.
    # The trial the pruner stops is the second: no third is needed.
    output = run(app, *[a.replace("n_trials=3", "n_trials=2") for a in SWEEP])
    warning = "trainer.min_epochs=4 is not below trainer.max_epochs=4"
    assert output.index(warning) < output.index("trial #0:")  # said before the first trial
    trials = study(app).trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len(trials[1].intermediate_values) == 4  # every epoch trained and reported
    assert trials[1].user_attrs[PRUNE_OVERRULED].startswith("pruned at epoch 0")
    assert "stopped_reason" not in trials[1].user_attrs


@pytest.mark.mlflow
def test_the_apps_stock_mlflow_logger_logs_into_the_trials_child_run(app, mlflow_server):
    run(
        app,
        *SWEEP,
        "trainer.min_epochs=1",
        "logger=mlflow",
        "hydra.sweeper.mlflow.enabled=true",
        env={"MLFLOW_TRACKING_URI": mlflow_server.url},
    )
    client = mlflow.MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name("example")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.info.run_id: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(parents) == 1 and len(children) == 3  # one run per trial, none unlinked
    # the app's logger created no experiment or run of its own
    assert client.get_experiment_by_name("digits") is None
    for trial in study(app).trials:
        child = children[trial.user_attrs[MLFLOW_RUN_ID]]
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        curve = client.get_metric_history(child.info.run_id, "val/acc")
        assert len(curve) == len(trial.intermediate_values)  # the app's curves, in the child
        assert child.data.params["model.lr"] == str(trial.params["model.lr"])
        assert child.data.params["model/lr"]  # and the app's own hyperparameters
    pruned = next(t for t in study(app).trials if t.state == TrialState.PRUNED)
    assert children[pruned.user_attrs[MLFLOW_RUN_ID]].data.tags["hydratune.state"] == "pruned"


def test_the_template_app_runs_asha_from_the_command_line_alone(app):
    """Its ModelCheckpoint(save_last=True) saves the pause, its trainer.fit(ckpt_path=...)
    continues: no line of the app changes (docs/schedules.md)."""
    asha = [
        "hydra/sweeper/scheduler=asha",
        "hydra.sweeper.scheduler.save_key=null",  # the app saves checkpoints/last.ckpt itself
        "hydra.sweeper.scheduler.eta=2",
        "hydra.sweeper.n_trials=6",  # the sixth trains a configuration to its last epoch
        "trainer.min_epochs=1",
    ]
    sweep = [a for a in SWEEP if not a.startswith(("hydra/sweeper/pruner", "hydra.sweeper.pruner"))]
    run(app, *sweep, *asha)
    trials = study(app).trials
    assert len(trials) == 6
    paused = [t for t in trials if t.state == TrialState.PRUNED]
    assert paused and all(
        t.user_attrs[CHECKPOINT]["epoch"] == t.user_attrs[SEGMENT]["epochs"] < 4 for t in paused
    )
    (continued, *_) = [t for t in trials if RESUMED_FROM in t.user_attrs]
    resumed = continued.user_attrs[RESUMED_FROM]
    assert trials[resumed["trial"]].params == continued.params
    assert min(continued.intermediate_values) == resumed["epoch"]  # it loaded the checkpoint

    # The best, as every complete run, trained its last epochs on from a checkpoint: hydratune
    # rerun (hydratune's task) names the app's own command that trains it from scratch to its
    # last epoch, and that command runs.
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete and all(RESUMED_FROM in t.user_attrs for t in complete)
    done = hydratune_here(app, "rerun", str(sweep_dirs(app)[-1]), "--top-k", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    command = re.search(r"`python <your app> (.+) seed=<n>`", done.stderr)
    assert command and command.group(1).endswith("ckpt_path=null trainer.max_epochs=4"), done.stderr
    trained = run(app, *shlex.split(command.group(1)), "seed=12345")
    assert "Restoring states from the checkpoint" not in trained
    assert "`Trainer.fit` stopped: `max_epochs=4` reached" in trained


def test_pbt_in_the_template_app_trains_each_exploit_with_the_lr_the_study_records(app):
    """Lightning restores the checkpoint's optimizer lr: without ConfiguredOptimizer an exploit
    would train with its source's lr while the study records the explored one. The sweep stops
    at the first such run, before it trains, saying what to add; with it, the same command
    continues, and the lost run's retry still finds its source's checkpoint."""
    pbt = [
        "hydra/sweeper/scheduler=pbt",
        "hydra.sweeper.scheduler.save_key=null",
        "hydra.sweeper.scheduler.seed=0",
        "hydra.sweeper.n_trials=12",
        "trainer.max_epochs=6",
        "trainer.min_epochs=1",
        "callbacks.model_checkpoint.monitor=null",  # last.ckpt at every pause
        "+callbacks.rng._target_=hydratune.training.checkpoints.RandomState",
    ]
    sweep = [a for a in SWEEP if not a.startswith(("hydra/sweeper/pruner", "hydra.sweeper.pruner"))]
    configured = "+callbacks.opt._target_=hydratune.training.checkpoints.ConfiguredOptimizer"
    done = run_app(app, *sweep, *pbt)
    said = done.stderr.splitlines()[-3]  # above Hydra's blank line and HYDRA_FULL_ERROR hint
    assert done.returncode != 0 and said.startswith("sweep stopped: trial #")
    assert configured in said
    trials = study(app).trials
    (stopped,) = [t for t in trials if t.state == TrialState.FAIL]
    source = trials[stopped.user_attrs[RESUMED_FROM]["trial"]]
    assert stopped.params["model.lr"] != source.params["model.lr"]  # an explored lr
    assert stopped.user_attrs[LOST] and not stopped.intermediate_values  # stopped before training
    assert f"model.lr={stopped.params['model.lr']}" in stopped.user_attrs[FAIL_REASON]

    lr_monitor = "+callbacks.lr._target_=lightning.pytorch.callbacks.LearningRateMonitor"
    run(app, *sweep, *pbt, configured, lr_monitor)
    trials = study(app).trials
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == stopped.number]
    assert retry.state.is_finished() and retry.params == stopped.params
    assert retry.user_attrs[RESUMED_FROM] == stopped.user_attrs[RESUMED_FROM]
    runs = [t for t in trials if t.number > stopped.number]
    assert any(t.params != trials[t.user_attrs[RESUMED_FROM]["trial"]].params for t in runs)
    for trial in runs:  # what the app's own logger saw the optimizer train with
        assert learning_rates(Path(trial.user_attrs[OUTPUT_DIR])) == {trial.params["model.lr"]}


def learning_rates(trial_dir: Path) -> set[float]:
    """The lr values Lightning's LearningRateMonitor logged to the app's CSV logger."""
    (metrics,) = trial_dir.glob("**/metrics.csv")
    with metrics.open() as rows:
        return {float(row["lr-Adam"]) for row in csv.DictReader(rows) if row.get("lr-Adam")}
