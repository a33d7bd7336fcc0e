"""Sweeps of a synthetic objective through the real Hydra multirun path and a real journal
storage: results, fixed vs searched parameters, samplers, multi-objective, hooks, failures."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
import yaml
from hydra.errors import ConfigCompositionException
from optuna.trial import TrialState

from helpers import APPS, load, quadratic
from hydratune.errors import StudyConfigError, UnknownKeyError
from hydratune.space.grammar import SearchSpaceError
from hydratune.sweep.sweeper import SweepFailedError


def results(cwd: Path, study: str = "quadratic") -> dict:
    return yaml.safe_load((cwd / "sweeps" / study / "optimization_results.yaml").read_text())


def test_results_file_names_the_stored_best_trial(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=6"])
    best = load("quadratic", tmp_path).best_trial
    out = results(tmp_path)
    assert out["best_trial_number"] == best.number
    assert out["best_value"] == best.value
    assert out["best_params"] == best.params
    assert out["n_trials"]["complete"] == 6


def test_best_config_reruns_the_best_trial(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=4"])
    out = results(tmp_path)
    saved = yaml.safe_load(Path(out["best_config"]).read_text())
    from omegaconf import OmegaConf

    assert quadratic(OmegaConf.create(saved)) == out["best_value"]
    assert out["rerun_command"].endswith("--config-name best_config")


def test_fixed_parameters_reach_every_job_and_are_not_searched(sweep, tmp_path):
    seen = []
    sweep(["hydra.sweeper.n_trials=3", "fixed=7"], task=lambda c: seen.append(c.fixed) or 0.0)
    assert seen == [7, 7, 7]
    study = load("quadratic", tmp_path)
    assert all("fixed" not in t.params for t in study.trials)
    assert all("fixed=7" in t.user_attrs["overrides"] for t in study.trials)


def test_each_trial_gets_its_sampled_values_and_its_own_output_dir(sweep, tmp_path):
    seen = []

    def task(cfg):
        from hydra.core.hydra_config import HydraConfig

        seen.append((cfg.x, cfg.y, cfg.kind, HydraConfig.get().runtime.output_dir))
        return quadratic(cfg)

    sweep(["hydra.sweeper.n_trials=4"], task=task)
    trials = load("quadratic", tmp_path).trials
    assert [(t.params["x"], t.params["y"], t.params["kind"]) for t in trials] == [
        s[:3] for s in seen
    ]
    assert [Path(s[3]).name for s in seen] == ["0", "1", "2", "3"]


def test_config_group_choices_are_searched(sweep, tmp_path):
    scales = []
    sweep(
        ["hydra.sweeper.n_trials=6", "shape=choice(round, wide)"],
        task=lambda c: scales.append(c.shape.scale) or 0.0,
    )
    shapes = [t.params["shape"] for t in load("quadratic", tmp_path).trials]
    assert set(shapes) == {"round", "wide"}
    assert scales == [{"round": 1.0, "wide": 0.1}[s] for s in shapes]


def test_grid_sampler_visits_each_point_once_and_stops_at_the_grid_size_saying_why(
    sweep, tmp_path, capfd
):
    grid = ["hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=50"]
    grid += ["x=range(0, 3)", "y=choice(-2, 2)", "kind=b"]
    said = "no trial left to run after 6 of n_trials=50 trials: every point of the grid has run"
    for _ in range(2):  # the same command again runs nothing more, and says why
        sweep(grid)
        assert said in "".join(capfd.readouterr())  # the console's lines: Hydra's job logging
        trials = load("quadratic", tmp_path).trials
        points = sorted((t.params["x"], t.params["y"]) for t in trials)
        assert points == [(x, y) for x in (0, 1, 2) for y in (-2, 2)]


def test_a_seed_in_yaml_keeps_working_when_the_sampler_is_switched(sweep, tmp_path):
    # quadratic.yaml sets hydra.sweeper.sampler.seed; random and grid must accept it
    sweep(
        ["hydra/sweeper/sampler=random", "hydra.sweeper.n_trials=3", "hydra.sweeper.study_name=a"]
    )
    sweep(
        ["hydra/sweeper/sampler=random", "hydra.sweeper.n_trials=3", "hydra.sweeper.study_name=b"]
    )
    first, second = ([t.params for t in load(n, tmp_path).trials] for n in "ab")
    assert first == second


def test_every_optuna_sampler_option_is_settable(sweep, tmp_path):
    sweep(
        [
            "hydra/sweeper/sampler=tpe",  # named: the default is auto
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.sampler.multivariate=true",  # false by default, as the plugin
            "hydra.sweeper.sampler.constant_liar=false",
            "hydra.sweeper.sampler.n_startup_trials=1",
        ]
    )
    sampler = load("quadratic", tmp_path).sampler  # a fresh default; check what the sweep built
    assert isinstance(sampler, optuna.samplers.TPESampler)
    from omegaconf import OmegaConf

    from hydratune.schema import SAMPLER_OPTIONS
    from hydratune.sweep.study import build_sampler

    options = OmegaConf.merge(
        OmegaConf.structured(SAMPLER_OPTIONS["tpe"]),
        {"multivariate": True, "constant_liar": False, "n_startup_trials": 1},
    )
    built = build_sampler(options, None).base.base  # inside the decimal-step, failure wrappers
    assert built._multivariate and not built._constant_liar and built._n_startup_trials == 1


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "qmc", "gp", "nsgaii"])
def test_each_sampler_runs_a_sweep(sweep, tmp_path, sampler):
    sweep([f"hydra/sweeper/sampler={sampler}", "hydra.sweeper.n_trials=3", "kind=b"])
    assert len(load("quadratic", tmp_path).get_trials(states=(TrialState.COMPLETE,))) == 3


def test_multi_objective_results_are_the_non_dominated_front(sweep, tmp_path):
    sweep(
        ["hydra.sweeper.n_trials=12", "hydra.sweeper.direction=[minimize,maximize]"],
        task=lambda c: [float((c.x - 1) ** 2), float(c.y)],
    )
    front = results(tmp_path)["solutions"]
    trials = load("quadratic", tmp_path).trials
    assert front
    for point in front:
        a, b = point["values"]
        assert not any(
            (t.values[0] <= a and t.values[1] >= b) and (t.values[0] < a or t.values[1] > b)
            for t in trials
        )


def custom_space(cfg, trial):
    """custom_search_space hook used below: adds a parameter that depends on another."""
    if trial.params["kind"] == "b":
        trial.suggest_float("x", 0.5, 1.5)


def test_custom_search_space_hook_extends_each_trial(sweep, tmp_path):
    sweep(
        [
            "hydra.sweeper.n_trials=4",
            "~hydra.sweeper.params.x",
            "hydra.sweeper.custom_search_space=test_sweep.custom_space",
        ]
    )
    for trial in load("quadratic", tmp_path).trials:
        assert ("x" in trial.params) == (trial.params["kind"] == "b")


def test_n_trials_is_the_study_total_so_a_rerun_resumes(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=3"])
    sweep(["hydra.sweeper.n_trials=5"])
    sweep(["hydra.sweeper.n_trials=5"])  # already done: runs nothing
    trials = load("quadratic", tmp_path).trials
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "sweeps" / "quadratic").iterdir() if p.is_dir()) == [
        "0",
        "1",
        "2",
        "3",
        "4",
    ]


def test_a_study_another_search_made_is_not_continued_by_this_one(sweep, tmp_path):
    # both name the study "quadratic" (the app's): the second searches another shape
    sweep(["hydra.sweeper.n_trials=2", "shape=wide"])
    journal = tmp_path / "outputs" / "hydratune.journal"
    before = journal.read_bytes()
    for other in (["shape=steep"], []):  # another group, and the default one
        with pytest.raises(StudyConfigError, match=r"study 'quadratic' holds another search"):
            sweep(["hydra.sweeper.n_trials=4", *other])
        assert journal.read_bytes() == before
    sweep(["hydra.sweeper.n_trials=3", "shape=wide"])  # the same search continues it
    sweep(["hydra.sweeper.n_trials=4", "shape=choice(wide, steep)"])  # searched, not fixed
    assert len(load("quadratic", tmp_path).trials) == 4


def test_a_failing_trial_is_recorded_with_its_reason_and_the_sweep_goes_on(sweep, tmp_path):
    sweep(
        [
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.max_failure_rate=0.9",
            "fail_when_x_above=2",
            "hydra.sweeper.sampler.seed=3",
        ]
    )
    trials = load("quadratic", tmp_path).trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and len(trials) == 6  # failed trials count toward n_trials
    assert all("RuntimeError: x=" in t.user_attrs["fail_reason"] for t in failed)


@pytest.mark.parametrize(
    ("value", "stop"),
    [
        (math.nan, "max_failure_rate"),
        (math.inf, "max_failure_rate"),
        (None, "max_failure_rate"),
        ("high", "max_failure_rate"),
        ([1.0, 2.0], "every trial would hit"),
    ],
)
def test_non_numbers_fail_the_trial_not_the_study(sweep, tmp_path, value, stop):
    with pytest.raises(SweepFailedError, match=stop):
        sweep(
            ["hydra.sweeper.n_trials=2", "hydra.sweeper.max_failure_rate=0.5"], task=lambda c: value
        )
    trials = load("quadratic", tmp_path).trials
    assert all(t.state == TrialState.FAIL and t.user_attrs["fail_reason"] for t in trials)
    assert len(trials) == (1 if stop == "every trial would hit" else 2)
    assert results(tmp_path)["n_trials"]["fail"] == len(trials)


@pytest.mark.parametrize(
    "make",
    [
        lambda v: torch.tensor(v),  # trainer.callback_metrics["val/acc"], as apps return it
        lambda v: torch.tensor([v], requires_grad=True),
        lambda v: np.array(v),
        lambda v: np.float32(v),
        lambda v: (torch.tensor(v), np.array([v])),  # one value each of two objectives
    ],
    ids=["tensor", "one-element tensor", "0-d array", "float32", "two objectives"],
)
def test_a_one_element_tensor_or_array_counts_as_its_number(sweep, tmp_path, make):
    objectives = 2 if isinstance(make(1.0), tuple) else 1
    directions = ",".join(["minimize"] * objectives)
    sweep(
        ["hydra.sweeper.n_trials=2", f"hydra.sweeper.direction=[{directions}]"],
        task=lambda c: make(c.x * 2),
    )
    for trial in load("quadratic", tmp_path).trials:
        assert trial.state == TrialState.COMPLETE
        assert trial.values == [pytest.approx(trial.params["x"] * 2)] * objectives


def test_quoted_choices_that_read_as_numbers_reach_the_task_as_strings(sweep, tmp_path):
    seen = []
    choice = """hydra.sweeper.params.kind='choice("1", "True", "NULL", "1e3")'"""
    sweep(["hydra.sweeper.n_trials=12", choice], task=lambda c: seen.append(c.kind) or 0.0)
    assert set(seen) == {"1", "True", "NULL", "1e3"}  # strings all, as the study has them
    assert seen == [t.params["kind"] for t in load("quadratic", tmp_path).trials]


def test_a_tensor_of_several_values_fails_its_trial_naming_it(sweep, tmp_path):
    with pytest.raises(SweepFailedError, match="max_failure_rate"):
        sweep(["hydra.sweeper.n_trials=1"], task=lambda c: torch.tensor([1.0, 2.0]))
    (trial,) = load("quadratic", tmp_path).trials
    assert trial.user_attrs["fail_reason"] == "returned tensor([1., 2.]), not a number"


def test_unknown_sweeper_key_in_yaml_is_an_error_naming_it(sweep):
    with pytest.raises(StudyConfigError, match="hydra.sweeper.n_trails: no such setting; did you"):
        sweep([], config_name="typo", task=pytest.fail)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (
            ["+hydra.sweeper.mlflow.enable=true"],
            "mlflow.enable: no such setting; did you mean enabled",
        ),
        (
            ["hydra/sweeper/scheduler=asha", "+hydra.sweeper.scheduler.etaa=3"],
            "scheduler.etaa: no such setting; did you mean eta",
        ),
        (["hydra.sweeper.n_trials=many"], "n_trials: Value 'many' of type 'str' could not be"),
    ],
)
def test_a_setting_its_schema_refuses_is_an_error_naming_it_before_any_trial(
    sweep, overrides, error
):
    with pytest.raises(StudyConfigError, match=f"^hydra.sweeper.{error}"):
        sweep(overrides, task=pytest.fail)


@pytest.mark.parametrize(
    "key", ["hydra.sweeper.n_trails", "hydra.sweeper.sampler.n_startup_trails"]
)
def test_unknown_sweeper_key_on_the_command_line_is_an_error_naming_it(sweep, key):
    with pytest.raises(ConfigCompositionException, match=key.rsplit(".", 1)[1]):
        sweep([f"{key}=3"], task=pytest.fail)


def test_added_unknown_sampler_option_is_an_error_naming_it(sweep):
    with pytest.raises(ValueError, match="hydra.sweeper.sampler.n_startup_trails: TPESampler"):
        sweep(
            ["hydra/sweeper/sampler=tpe", "+hydra.sweeper.sampler.n_startup_trails=3"],
            task=pytest.fail,
        )


def test_invalid_expression_fails_before_any_trial(sweep, tmp_path):
    with pytest.raises(SearchSpaceError, match=r"hydra.sweeper.params.x.*low < high"):
        sweep(["hydra.sweeper.params.x='interval(5, 1)'"], task=pytest.fail)
    assert not (tmp_path / "outputs").exists()


def test_unknown_parameter_path_fails_with_a_did_you_mean(sweep):
    with pytest.raises(UnknownKeyError, match="Did you mean kind"):
        sweep(["+hydra.sweeper.params.kidn='choice(a, b)'"], task=pytest.fail)


def test_unknown_group_option_fails_before_any_trial(sweep):
    with pytest.raises(ConfigCompositionException, match="shape"):
        sweep(["shape=choice(round, stepe)"], task=pytest.fail)


def test_unreachable_storage_fails_fast_with_the_password_masked(sweep):
    with pytest.raises(StudyConfigError, match="hydra.sweeper.storage") as error:
        sweep(["hydra.sweeper.storage=postgresql://me:s3cret@127.0.0.1:9/db"], task=pytest.fail)
    assert "s3cret" not in str(error.value)
    # the password its jobs would have got through the environment is gone with the sweep
    assert "s3cret" not in os.environ.values()


def test_a_study_keeps_its_direction(sweep):
    sweep(["hydra.sweeper.n_trials=1"])
    with pytest.raises(StudyConfigError, match="hydra.sweeper.direction"):
        sweep(["hydra.sweeper.n_trials=2", "hydra.sweeper.direction=maximize"], task=pytest.fail)


def test_a_sweep_ends_with_its_report_and_exported_best_config(sweep, tmp_path):
    target = tmp_path / "conf" / "experiment" / "quadratic_best.yaml"
    sweep(
        [
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.report=true",
            "hydra.sweeper.report_png=false",
            f"hydra.sweeper.export_best={target}",
        ]
    )
    assert (tmp_path / "sweeps/quadratic/report/report.html").stat().st_size > 100_000
    assert "# @package _global_" in target.read_text()
    # every file the sweep wrote is as readable as a plain write makes it (as Hydra's are)
    (tmp_path / "plain").touch()
    modes = {p.stat().st_mode for p in (tmp_path / "sweeps").rglob("*") if p.is_file()}
    assert modes | {target.stat().st_mode} == {(tmp_path / "plain").stat().st_mode}


def test_a_report_that_cannot_be_written_loses_neither_the_users_file_nor_the_export(
    sweep, tmp_path, capfd
):
    mine = tmp_path / "sweeps/quadratic/report/report.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("my notes\n")
    target = tmp_path / "conf" / "experiment" / "quadratic_best.yaml"
    overrides = ["hydra.sweeper.n_trials=2", "hydra.sweeper.report=true"]
    sweep([*overrides, "hydra.sweeper.report_png=false", f"hydra.sweeper.export_best={target}"])
    assert mine.read_text() == "my notes\n"
    said = "report failed: ForeignFileError: sweeps/quadratic/report/report.md exists and was not"
    assert said in "".join(capfd.readouterr())  # Hydra's job logging owns the log
    assert "# @package _global_" in target.read_text()  # exported all the same


def test_enqueued_trials_run_first_and_warm_starts_copy_fitting_trials(sweep, tmp_path, capfd):
    sweep(["hydra.sweeper.n_trials=3", "hydra.sweeper.study_name=old"])
    sweep(
        [
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.study_name=new",
            "hydra.sweeper.warm_start={study_name: old}",
            "hydra.sweeper.enqueue=[{x: 1.0, y: -2, kind: b}]",
        ]
    )
    old, new = load("old", tmp_path).trials, load("new", tmp_path).trials
    assert [t.params for t in new[:3]] == [t.params for t in old]  # copied first
    assert new[3].params == {"x": 1.0, "y": -2, "kind": "b"} and new[3].value == 0.0
    assert len(new) == 6  # the copies count toward n_trials, as the first line says
    first_line = "3 of 6 trials finished (3 of them copied by warm_start)"
    assert first_line in "".join(capfd.readouterr())  # Hydra's job logging owns the log


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("hydra.sweeper.warm_start={study_name: nope}", "warm_start: no storage file at"),
        ("hydra.sweeper.enqueue=[{x: 1.0, z: 2}]", "'z' is not a searched parameter"),
    ],
)
def test_a_bad_warm_start_or_enqueue_item_stops_the_sweep_before_its_study_exists(
    sweep, tmp_path, setting, message
):
    from hydratune.sweep.enqueue_warm_start import SteeringError

    with pytest.raises(SteeringError, match=message):
        sweep(["hydra.sweeper.study_name=fresh", setting])
    assert not (tmp_path / "outputs").exists()  # nothing written: no journal, no trial dir


@pytest.mark.slow
def test_two_sweeps_started_together_never_share_an_output_dir(tmp_path):
    import subprocess
    import sys

    app = APPS / "quadratic_app.py"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(app),
                "-m",
                "hydra.sweeper.n_trials=3",
                f"hydra.sweeper.study_name={name}",
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs), [p.stderr.read() for p in procs]
    dirs = [
        t.user_attrs["output_dir"]
        for name in ("first", "second")
        for t in load(name, tmp_path).trials
    ]
    assert len(set(dirs)) == 6 and all(Path(d, ".hydra", "config.yaml").is_file() for d in dirs)


@pytest.mark.slow
def test_the_rerun_command_in_the_results_reruns_the_best_config_from_a_dir_with_spaces(tmp_path):
    import shlex
    import subprocess
    import sys

    cwd = tmp_path / "my sweeps"
    cwd.mkdir()
    app = [sys.executable, str(APPS / "quadratic_app.py")]
    subprocess.run(
        [*app, "-m", "hydra.sweeper.n_trials=3"], cwd=cwd, check=True, capture_output=True
    )
    out = results(cwd)
    command = shlex.split(out["rerun_command"])
    assert command[:2] == ["python", str(APPS / "quadratic_app.py")]  # the app that swept
    rerun = subprocess.run(
        [sys.executable, *command[1:], "hydra.run.dir=rerun"], cwd=cwd, capture_output=True
    )
    assert rerun.returncode == 0, rerun.stderr
    config = yaml.safe_load((cwd / "rerun" / ".hydra" / "config.yaml").read_text())
    assert {k: config[k] for k in out["best_params"]} == out["best_params"]
