"""The best trial exported as an experiment: composing ``experiment=<study>_best`` gives the
trial's config exactly, and running it gives the trial's value again."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import chdir
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from helpers import NO_PNG, REPO, TINY_SWEEP, hydratune_here, load, multirun
from hydratune.files import ForeignFileError
from hydratune.insight.composition import group_overrides
from hydratune.insight.export import (
    ExportError,
    default_target,
    experiment_command,
    export_best,
    git_commit,
)
from hydratune.training.task import train


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dir where a Lightning sweep ran on a copy of the app's conf/ (``conf``): one sweep
    for the tests that only export it, each into conf/experiment (``lightning_sweep``)."""
    root = tmp_path_factory.mktemp("swept")
    conf = shutil.copytree(REPO / "conf", root / "conf")
    with chdir(root):
        multirun([*TINY_SWEEP, NO_PNG], task=train, config_name="train", config_dir=conf)
    return root


@pytest.fixture
def lightning_sweep(swept) -> Iterator[Path]:
    """The sweep's dir; conf/experiment is as it was before the test once it ends."""
    experiments = swept / "conf" / "experiment"
    before = {path: path.read_bytes() for path in experiments.iterdir()}
    yield swept / "outputs" / "sweeps" / "mlp_digits"
    for path in set(experiments.iterdir()) - set(before):
        path.unlink()
    for path, content in before.items():
        path.write_bytes(content)


@pytest.fixture
def conf(swept) -> Path:
    """The copy of the app's conf/ that the sweep ran with, to export into."""
    return swept / "conf"


def compose_experiment(conf: Path, name: str):
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("train", overrides=[f"experiment={name}"])


@pytest.mark.slow  # a Lightning sweep: not in make test-fast
def test_the_exported_experiment_composes_to_the_trial_config_and_reruns_to_its_value(
    lightning_sweep, conf, swept, tmp_path
):
    study = load("mlp_digits", swept)
    best = study.best_trial
    target = export_best(study, lightning_sweep, conf / "experiment" / "mlp_digits_best.yaml")
    assert target == default_target(study, lightning_sweep)  # the sweep's own config dir

    composed = compose_experiment(conf, "mlp_digits_best")
    saved = OmegaConf.load(lightning_sweep / str(best.number) / ".hydra" / "config.yaml")
    assert OmegaConf.to_container(composed) == OmegaConf.to_container(saved)

    # `hydratune experiment=mlp_digits_best`, as Hydra runs it
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        rerun = GlobalHydra.instance().hydra.run(
            config_name="train",
            task_function=train,
            overrides=["experiment=mlp_digits_best", f"hydra.run.dir={tmp_path / 'rerun'}"],
            with_log_configuration=False,
        )
    GlobalHydra.instance().clear()
    assert rerun.return_value == pytest.approx(best.value, abs=1e-6)


@pytest.mark.slow  # a Lightning sweep: not in make test-fast
def test_a_group_chosen_with_the_experiment_applies_and_the_trials_values_stay(
    lightning_sweep, conf, swept
):
    # lightning-hydra-template's experiments are written so: the group choices, then only the
    # values they change. `experiment=<x>_best trainer=gpu` trains on the GPU, with the epochs,
    # data and searched values of the trial
    study = load("mlp_digits", swept)
    best = study.best_trial
    export_best(study, lightning_sweep, conf / "experiment" / "mlp_digits_best.yaml")
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        on_gpu = compose("train", overrides=["experiment=mlp_digits_best", "trainer=gpu"])
        on_wine = compose("train", overrides=["experiment=mlp_digits_best", "data=wine"])
    saved = OmegaConf.load(lightning_sweep / str(best.number) / ".hydra" / "config.yaml")
    assert on_gpu.trainer.accelerator == "gpu" and not on_gpu.trainer.deterministic
    assert on_gpu.trainer.max_epochs == saved.trainer.max_epochs != 10  # the sweep's epochs
    assert on_wine.data._target_.endswith("WineDataModule")
    for key, value in best.params.items():
        assert OmegaConf.select(on_gpu, key) == OmegaConf.select(on_wine, key) == value


@pytest.mark.slow  # a Lightning sweep: not in make test-fast
def test_an_export_in_a_copied_project_reads_and_writes_the_copy_only(swept, tmp_path):
    copy = Path(shutil.copytree(swept, tmp_path / "copy", symlinks=True))  # cp -a swept copy
    study = load("mlp_digits", copy)
    best = study.best_trial
    # the copy's trial config differs from the original's: the export must read the copy's
    saved = copy / "outputs" / "sweeps" / "mlp_digits" / str(best.number) / ".hydra"
    config = saved / "config.yaml"
    config.write_text(re.sub(r"hidden_dim: \d+", "hidden_dim: 999", config.read_text()))
    originals = {p: p.read_bytes() for p in (swept / "conf" / "experiment").iterdir()}
    sweep_dir = copy / "outputs" / "sweeps" / "mlp_digits"
    target = default_target(study, sweep_dir)
    assert target == copy / "conf" / "experiment" / "mlp_digits_best.yaml"
    export_best(study, sweep_dir, target)
    assert yaml.safe_load(target.read_text())["model"]["hidden_dim"] == 999
    assert {p: p.read_bytes() for p in (swept / "conf" / "experiment").iterdir()} == originals


@pytest.mark.slow  # a Lightning sweep: not in make test-fast
def test_a_key_the_trial_deleted_stays_deleted_in_the_headers_command(tmp_path):
    conf = shutil.copytree(REPO / "conf", tmp_path / "conf")
    with chdir(tmp_path):  # the callbacks' early stopping deleted, as a user would
        multirun(
            [*TINY_SWEEP, "callbacks=default", "~callbacks.early_stopping", NO_PNG],
            task=train,
            config_name="train",
            config_dir=conf,
        )
    study = load("mlp_digits", tmp_path)
    sweep_dir = tmp_path / "outputs" / "sweeps" / "mlp_digits"
    target = export_best(study, sweep_dir, conf / "experiment" / "mlp_digits_best.yaml")
    arguments = shlex.split(experiment_command(target))[1:]
    assert arguments == ["experiment=mlp_digits_best", "~callbacks.early_stopping"]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        composed = compose("train", overrides=arguments)
    saved = OmegaConf.load(sweep_dir / str(study.best_trial.number) / ".hydra" / "config.yaml")
    assert "early_stopping" not in saved.callbacks
    assert OmegaConf.to_container(composed) == OmegaConf.to_container(saved)


@pytest.mark.slow  # a Lightning sweep: not in make test-fast
def test_the_experiment_file_says_where_it_comes_from(lightning_sweep, conf, swept, monkeypatch):
    monkeypatch.setattr("hydratune.insight.export.git_commit", lambda directory: "0123abc")
    study = load("mlp_digits", swept)
    best = study.best_trial
    text = export_best(study, lightning_sweep, conf / "experiment" / "x_best.yaml").read_text()
    lines = text.splitlines()
    assert lines[0] == "# @package _global_"
    assert "# Rerun it (same seed, same value): hydratune experiment=x_best" in text
    assert f"study: mlp_digits   trial: #{best.number}   value: {best.value:.6g}" in text
    assert " ".join(best.user_attrs["overrides"]) in text
    assert "# git commit: 0123abc" in lines
    defaults = yaml.safe_load(text)["defaults"]
    assert {"override /callbacks": "none"} in defaults  # the sweep's choice, not the default
    assert {"override /model/optimizer": "adam"} in defaults
    assert not any("sweep" in next(iter(d)) for d in defaults[:-1])  # _global_: values only
    assert defaults[-1] == "_self_"


def test_git_commit_is_read_in_a_checkout_and_none_elsewhere(tmp_path):
    assert re.fullmatch(r"[0-9a-f]{40}", git_commit(REPO) or "")
    assert git_commit(tmp_path) is None


def test_a_group_listed_after_the_experiment_goes_on_the_command_line(tmp_path):
    # Hydra expands a defaults list from its end: an experiment cannot override what follows it.
    (tmp_path / "train.yaml").write_text(
        "defaults:\n  - _self_\n  - model: a\n  - experiment: null\n  - late: x\n"
    )
    for group, option, header in (
        ("late", "y", ""),
        ("late", "x", ""),
        ("model", "b", ""),
        ("sweep", "s", "# @package _global_\n"),
    ):
        (tmp_path / group).mkdir(exist_ok=True)
        (tmp_path / group / f"{option}.yaml").write_text(header + "k: 1\n")
    hydra = OmegaConf.create(
        {
            "job": {"config_name": "train"},
            "runtime": {
                "config_sources": [{"path": str(tmp_path), "schema": "file", "provider": "main"}],
                "choices": {
                    "model": "b",
                    "late": "y",
                    "sweep": "s",
                    "experiment": None,
                    "hydra/launcher": "basic",
                    "model/optimizer": None,
                },
            },
        }
    )
    entries, command_line = group_overrides(hydra)
    assert entries == [{"override /model": "b"}, {"override /model/optimizer": None}]
    assert command_line == ["late=y"]


def test_lightning_hydra_templates_train_yaml_with_its_optional_local_and_debug(tmp_path):
    # its src/train.py has config_name="train.yaml"; configs/local/default.yaml is gitignored
    (tmp_path / "train.yaml").write_text(
        "defaults:\n  - _self_\n  - data: digits.yaml\n  - experiment: null\n"
        "  - optional local: default.yaml\n  - debug: null\n"
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "digits.yaml").write_text("k: 1\n")
    hydra = OmegaConf.create(
        {
            "job": {"config_name": "train.yaml"},
            "runtime": {
                "config_sources": [{"path": str(tmp_path), "schema": "file", "provider": "main"}],
                "choices": {"data": "digits.yaml", "local": "default.yaml", "debug": None},
            },
        }
    )
    entries, command_line = group_overrides(hydra)
    # debug follows the experiment: not overridden inside it (Hydra refuses that), nor set
    # on the command line (null is its default); the absent optional local is left out
    assert entries == [{"override /data": "digits.yaml"}]
    assert command_line == []


def test_a_study_without_a_complete_trial_says_so_and_only_so(tmp_path):
    import optuna

    study = optuna.create_study(study_name="q")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    with pytest.raises(ExportError, match=r"^study 'q' has no complete trial to export$"):
        export_best(study, tmp_path, tmp_path / "experiment" / "q_best.yaml")


def test_a_multi_objective_study_needs_a_chosen_trial(sweep, tmp_path):
    sweep(
        ["hydra.sweeper.n_trials=6", "hydra.sweeper.direction=[minimize,maximize]"],
        task=lambda c: [float((c.x - 1) ** 2), float(c.y)],
    )
    study = load("quadratic", tmp_path)
    sweep_dir = tmp_path / "sweeps" / "quadratic"
    with pytest.raises(ExportError, match="choose one of the Pareto front: #"):
        export_best(study, sweep_dir, tmp_path / "experiment" / "q_best.yaml")
    chosen = study.best_trials[0]
    path = export_best(study, sweep_dir, tmp_path / "experiment" / "q.yaml", trial=chosen.number)
    assert yaml.safe_load(path.read_text())["x"] == chosen.params["x"]


def test_a_study_without_complete_trials_cannot_be_exported(tmp_path):
    import optuna

    with pytest.raises(ExportError, match="no complete trial"):
        export_best(optuna.create_study(study_name="e"), tmp_path, tmp_path / "e.yaml")


def run(cwd: Path, command: list[str]) -> str:
    """A ``hydratune`` command as a user types it, run by the console script's entry point in
    this process (``helpers.hydratune_here``): a process of its own imports Lightning, seconds
    for each command run as printed."""
    assert command[0] == "hydratune", command
    done = hydratune_here(cwd, *command[1:])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def init_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A ``hydratune init`` project swept with its best exported, and what the sweep said."""
    project = tmp_path_factory.mktemp("init") / "proj"
    run(project.parent, ["hydratune", "init", "proj"])
    tiny = ["hydra.sweeper.n_trials=2", "trainer.max_epochs=2", "hydra.sweeper.export_best=true"]
    tiny.append(NO_PNG)  # none of the tests reads the report
    return project, run(project, ["hydratune", "--config-dir", "conf", "-m", "sweep=tiny", *tiny])


@pytest.mark.slow
def test_an_init_projects_export_command_names_its_config_dir(init_project):
    project, out = init_project
    command = experiment_command(project / "conf/experiment/tiny_best.yaml")
    assert command == "hydratune --config-dir conf experiment=tiny_best"
    assert command in out
    # as printed, and with an override appended, as Hydra users add one
    run(project, shlex.split(command))
    run(project, [*shlex.split(command), "trainer.max_epochs=1"])


@pytest.mark.slow
def test_an_export_to_a_group_the_app_does_not_list_runs_as_printed(init_project):
    project, _ = init_project
    export = ["hydratune", "export", "outputs/sweeps/tiny", "--to", "conf/best/x.yaml"]
    command = run(project, export).strip().splitlines()[-1].split("run it with: ")[1]
    assert command == "hydratune --config-dir conf +best=x"  # +: no `best` in the defaults list
    run(project, shlex.split(command))


@pytest.mark.slow
def test_an_export_beside_a_sweeps_own_config_dir_is_refused_writing_nothing(init_project):
    # its command would need a second --config-dir: the project's conf/ and mine/
    project, _ = init_project
    done = subprocess.run(
        [Path(sys.executable).with_name("hydratune"), "export", "outputs/sweeps/tiny"]
        + ["--to", "mine/experiment/x.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert not done.stdout and done.stderr == (
        "cannot export: mine/experiment/x.yaml would need --config-dir mine besides the sweep's "
        f"own --config-dir {project / 'conf'}, and Hydra takes one; export into the sweep's "
        f"(hydratune export --to {project / 'conf/experiment/x.yaml'})\n"
    )
    assert not (project / "mine").exists()


@pytest.mark.slow  # a Lightning sweep: not in make test-fast
def test_an_export_never_replaces_a_file_it_did_not_write(lightning_sweep, conf, swept):
    study = load("mlp_digits", swept)
    mine = conf / "experiment" / "mlp_digits_best.yaml"
    mine.write_bytes(b"# my own experiment\nseed: 7\n")
    with pytest.raises(ForeignFileError, match="was not written by hydratune export"):
        export_best(study, lightning_sweep, mine)
    assert mine.read_bytes() == b"# my own experiment\nseed: 7\n"
    mine.unlink()
    export_best(study, lightning_sweep, mine)
    export_best(study, lightning_sweep, mine)  # its own earlier export is replaced
    assert "exported by hydratune." in mine.read_text().splitlines()[1]
    assert [p.name for p in mine.parent.glob(".*tmp")] == []


@pytest.mark.slow  # a Lightning sweep: not in make test-fast
def test_an_export_that_its_command_would_not_run_is_refused(
    lightning_sweep, conf, swept, tmp_path
):
    """The app's own config dir holds an experiment of the same name; Hydra searches it before
    a --config-dir, so ``--config-dir project/conf experiment=mlp_digits_best`` would run that."""
    study = load("mlp_digits", swept)
    earlier = conf / "experiment" / "mlp_digits_best.yaml"
    earlier.write_text("# @package _global_\nseed: 777\n")
    target = tmp_path / "project" / "conf" / "experiment" / "mlp_digits_best.yaml"
    with pytest.raises(ExportError, match=f"{earlier} would be run instead of {target}"):
        export_best(study, lightning_sweep, target)
    assert not target.exists()
    assert earlier.read_text() == "# @package _global_\nseed: 777\n"
    export_best(study, lightning_sweep, target.with_name("mlp_digits_best_v2.yaml"))
