"""A scheduled sweep's best trial reruns: its ``best_config.yaml``, its exported experiment and
``hydratune rerun`` train the configuration from scratch, not from the checkpoint it continued
(deleted once used), and say so when PBT changed its values on the way."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers import REPO, load, multirun
from hydratune.attrs import RESUMED_FROM
from hydratune.insight import experiment_command, rerun_config, rerun_top_trials
from hydratune.training.task import train

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

TINY = ["+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2", "trainer.max_epochs=4"]
QUIET = ["hydra.sweeper.progress=false", "hydra.sweeper.report=false"]
ASHA = ["hydra/sweeper/scheduler=asha", "hydra.sweeper.scheduler.eta=2"]  # rungs 1, 2, 4
PBT = ["hydra/sweeper/scheduler=pbt", "hydra.sweeper.scheduler.perturbation_interval=1"]


def sweep(*overrides: str) -> dict:
    """The README's sweep with a schedule, its best exported; its optimization_results.yaml."""
    multirun(
        ["sweep=mlp_digits", *TINY, *QUIET, "hydra.sweeper.export_best=true", *overrides],
        task=train,
        config_name="train",
        config_dir=REPO / "conf",
    )
    return yaml.safe_load(Path("outputs/sweeps/mlp_digits/optimization_results.yaml").read_text())


def val_acc(command: list[str], cwd: Path) -> float:
    """Run a command as a user types it (the installed console script); the val/acc it logs."""
    script = Path(sys.executable).with_name(command[0])
    done = subprocess.run(
        [str(script), *command[1:]], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return float(re.findall(r"val/acc = ([0-9.]+)", done.stdout + done.stderr)[-1])


@pytest.mark.slow  # a Lightning sweep and two runs of the app
def test_an_asha_sweeps_best_reruns_from_scratch_to_its_value_by_every_rerun_command(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    out = sweep(*ASHA, "hydra.sweeper.n_trials=8")
    best = load("mlp_digits", tmp_path).trials[out["best_trial_number"]]
    # the best ran its last rung from a checkpoint, used up and deleted since
    assert RESUMED_FROM in best.user_attrs
    best_config = OmegaConf.load(out["best_config"])
    assert best_config.ckpt_path is None and best_config.ckpt_save is None
    assert best_config.trainer.max_epochs == 4
    # from scratch to the last epoch: the value the schedule reached in pieces, same seed
    value = round(out["best_value"], 4)
    sweep_dir = Path(out["best_config"]).parent
    readme = ["hydratune", "--config-path", str(sweep_dir), "--config-name", "best_config"]
    assert val_acc(readme, tmp_path) == value
    experiment = tmp_path / "conf" / "experiment" / "mlp_digits_best.yaml"
    # the header's command: the app that swept (here pytest's process) and its arguments,
    # run with the console script
    command = experiment_command(experiment)
    assert command.startswith(f"{out['app']} ")
    arguments = shlex.split(command[len(out["app"]) :])
    assert val_acc(["hydratune", *arguments], tmp_path) == value
    study = load("mlp_digits", tmp_path)
    (rerun,) = rerun_top_trials(study, sweep_dir, top_k=1, n_seeds=1, out_dir=tmp_path / "rerun")
    assert rerun.errors == {} and rerun.values == [[pytest.approx(out["best_value"], abs=1e-6)]]
    assert rerun.not_the_sweeps_run is None


@pytest.mark.slow  # a Lightning sweep of 12 runs
def test_a_pbt_trials_rerun_trains_its_last_values_from_scratch_and_says_it_is_another_run(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    out = sweep(*PBT, "hydra.sweeper.scheduler.seed=0", "hydra.sweeper.n_trials=12")
    sweep_dir = Path(out["best_config"]).parent
    trials = load("mlp_digits", tmp_path).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(RESUMED_FROM in t.user_attrs for t in complete)
    for trial in complete:  # none points at a checkpoint: each trains from its first epoch
        _, config, _ = rerun_config(trial, sweep_dir)
        assert config.ckpt_path is None and config.ckpt_save is None
        assert config.trainer.max_epochs == 4
    assert OmegaConf.load(out["best_config"]).ckpt_path is None

    def explored(trial) -> bool:  # a run its weights came through trained with other values
        number = trial.user_attrs.get(RESUMED_FROM, {}).get("trial")
        while number is not None:
            if trials[number].params != trial.params:
                return True
            number = trials[number].user_attrs.get(RESUMED_FROM, {}).get("trial")
        return False

    study = load("mlp_digits", tmp_path)
    reruns = rerun_top_trials(study, sweep_dir, len(complete), 1, out_dir=tmp_path / "rerun")
    said = {r.trial: r.not_the_sweeps_run for r in reruns}
    assert any(said.values()), "no complete run had explored values to speak of"
    for trial in complete:
        assert bool(said[trial.number]) == explored(trial)
    assert all(r.errors == {} for r in reruns)
    header = (tmp_path / "conf" / "experiment" / "mlp_digits_best.yaml").read_text()
    best = trials[out["best_trial_number"]]
    assert ("# Train its last values from scratch: " in header) == explored(best)
    assert ("# Rerun it (same seed, same value): " in header) != explored(best)
