"""Bad input from a careful user's first day: each setting out of range is refused before
anything runs, naming its key; study names stay inside the project; odd search spaces are
refused or read lazily; a complete study's rerun writes nothing."""

from __future__ import annotations

import logging
import time

import pytest
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from helpers import REPO, load, multirun
from hydratune.errors import ConfigError, StudyConfigError
from hydratune.space.grammar import SearchSpaceError, make_parser, parse_line
from hydratune.sweep.hints import callback_line
from hydratune.sweep.study import sweep_directions


@pytest.mark.parametrize(
    "setting",
    [
        "n_trials=-1",
        "n_trials=0",
        "timeout=-5",
        "max_failure_rate=5",
        "max_failure_rate=-1",
        "n_jobs=0",
        "n_jobs=-1",
        "threads_per_worker=-2",
        "heartbeat_interval=0",
        "heartbeat_grace=5",
        "max_retries=-1",
        "sampler.seed=abc",
    ],
)
def test_a_setting_out_of_range_is_refused_before_anything_runs(sweep, tmp_path, setting):
    key = setting.split("=")[0]
    with pytest.raises(StudyConfigError, match=rf"hydra\.sweeper\.{key}="):
        sweep([f"hydra.sweeper.{setting}"], task=pytest.fail)
    assert not any(tmp_path.iterdir())  # no journal, no sweep dir


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (["hydra.sweeper.enqueue=5"], "hydra.sweeper.enqueue=5: expected a list of"),
        (["hydra.sweeper.enqueue=[{x: 9}]"], "hydra.sweeper.enqueue[0].x=9.0: outside [-5.0, 5.0]"),
        (["hydra.sweeper.warm_start={study_name: nope}"], "hydra.sweeper.warm_start: no "),
        (["hydra.sweeper.warm_start=5"], "hydra.sweeper.warm_start=5: expected a mapping of"),
        (["hydra.sweeper.search_space=x"], "hydra.sweeper.search_space='x': expected a mapping"),
        (["hydra.sweeper.when=[a]"], "hydra.sweeper.when=['a']: expected a mapping of"),
        (
            ["hydra.sweeper.custom_search_space=nope.mod.fn"],
            "hydra.sweeper.custom_search_space=nope.mod.fn: No module named 'nope'",
        ),
        (
            ["hydra.sweeper.custom_search_space=os.sep"],
            "hydra.sweeper.custom_search_space=os.sep: a str, not a function",
        ),
        (
            ["hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_warmup_steps=-1"],
            "hydra.sweeper.pruner: Number of warmup steps cannot be negative",
        ),
        (
            ["hydra/sweeper/pruner=hyperband", "hydra.sweeper.pruner.reduction_factor=1"],
            "hydra.sweeper.pruner: The value of `reduction_factor` is 1, but must be",
        ),
        (
            ["hydra/sweeper/sampler=qmc", "hydra.sweeper.sampler.qmc_type=nope"],
            "hydra.sweeper.sampler: The `qmc_type='nope'` is invalid",
        ),
        (
            ["hydra.sweeper.warm_start={studies: 5}"],
            "hydra.sweeper.warm_start.studies=5: expected related or a list of study names",
        ),
        (
            ["hydra.sweeper.warm_start={studie: related}"],
            "hydra.sweeper.warm_start.studie: no such setting; did you mean studies?",
        ),
        (
            ["hydra.sweeper.paired={p: {keys: [x], rows: 5}}"],
            "hydra.sweeper.paired.p: give keys: [...] and rows: [[...], ...]",
        ),
        (
            ["hydra.sweeper.export_best=5"],
            "hydra.sweeper.export_best: 5 is not a config Hydra can select",
        ),
        (
            ["hydra/sweeper/sampler=tpe", "hydra.sweeper.sampler.n_startup_trials=abc"],
            "hydra.sweeper.sampler.n_startup_trials: 'abc' is not int",
        ),
        (
            ["hydra/sweeper/sampler=tpe", "hydra.sweeper.sampler.multivariate=maybe"],
            "hydra.sweeper.sampler.multivariate: 'maybe' is not bool",
        ),
        (
            ["hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=1.5"],
            "hydra.sweeper.pruner.n_startup_trials: 1.5 is not int",
        ),
        (
            ["hydra.sweeper.sampler=tpe"],
            "hydra.sweeper.sampler='tpe': expected a sampler config; choose one from its group "
            "with hydra/sweeper/sampler=tpe",
        ),
        (["hydra.sweeper.sampler=null"], "hydra.sweeper.sampler=None: expected a sampler config"),
        (
            ["hydra.sweeper.pruner=median"],
            "hydra.sweeper.pruner='median': expected a pruner config; choose one from its group "
            "with hydra/sweeper/pruner=median",
        ),
        (["hydra.sweeper.direction=1"], "hydra.sweeper.direction: '1' is not 'minimize' or"),
        (["hydra.sweeper.direction=true"], "hydra.sweeper.direction: 'True' is not 'minimize'"),
        (["x=glob(*)"], "the command line (x): glob() picks options by name, which a search"),
        (
            ["x=range(0,3),5"],
            "the command line (x): choice() options must be plain values, not sweeps (range, "
            "interval): x=range(0,3),5",
        ),
    ],
    ids=[
        "enqueue",
        "enqueue_item",
        "warm_start_study",
        "warm_start",
        "search_space",
        "when",
        "hook",
        "hook_not_callable",
        "pruner",
        "hyperband",
        "sampler",
        "transfer_studies",
        "warm_start_key",
        "paired_rows",
        "export_best",
        "sampler_option_type",
        "sampler_option_bool",
        "pruner_option_type",
        "sampler_named",
        "sampler_null",
        "pruner_named",
        "direction_number",
        "direction_bool",
        "glob",
        "sweep_in_a_choice",
    ],
)
def test_a_setting_of_the_wrong_shape_or_refused_by_optuna_is_one_line_before_any_write(
    sweep, tmp_path, overrides, said
):
    with pytest.raises(CompactHydraException) as error:  # Hydra shows the message alone
        sweep(overrides, task=pytest.fail)
    assert str(error.value).startswith(said) and "\n" not in str(error.value), str(error.value)
    assert not any(tmp_path.iterdir())  # no journal, no sweep dir


@pytest.mark.parametrize("name", ["../../../escaped", "/tmp/absolute", "with space", ".hidden"])
def test_a_study_name_that_is_not_one_path_component_is_refused(sweep, tmp_path, name):
    with pytest.raises(StudyConfigError, match="hydra.sweeper.study_name"):
        sweep([f"hydra.sweeper.study_name='{name}'"], task=pytest.fail)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["a,b", "lr=1e-3"])
def test_a_study_name_its_export_cannot_be_selected_by_is_refused_before_any_trial(
    sweep, tmp_path, name
):
    # experiment=a,b_best is a sweep on Hydra's command line; found out after the last trial
    with pytest.raises(StudyConfigError, match="with export_best: .* cannot be selected"):
        sweep([f"hydra.sweeper.study_name='{name}'", "hydra.sweeper.export_best=true"])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("typo", ["objective.direction=MAXIMIZE", "objective.mode=final"])
def test_an_objective_every_trial_would_refuse_is_refused_before_the_first(
    tmp_path, monkeypatch, typo
):
    # hydratune's task checks its objective when it starts: each trial would be spent on it
    monkeypatch.chdir(tmp_path)
    key = typo.split("=")[0]
    with pytest.raises(ConfigError, match=f"^{key} must be one of"):
        multirun(["sweep=mlp_digits", typo], pytest.fail, "train", REPO / "conf")
    assert not any(tmp_path.iterdir())


def test_range_step_zero_names_the_key(sweep):
    with pytest.raises(SearchSpaceError, match=r"\(y\).*step 0"):
        sweep(["y=range(0, 1, 0)"], task=pytest.fail)


def test_repeated_choices_are_searched_once_with_a_warning(sweep, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        sweep(["hydra/sweeper/sampler=grid", "x=choice(0.1, 0.1, 0.5)", "y=choice(1)"])
    assert any("more than once" in r.getMessage() for r in caplog.records)
    trials = load("quadratic", tmp_path).trials
    assert sorted(t.params["x"] for t in trials) == [0.1, 0.1, 0.5, 0.5]  # x twice: kind a, b
    assert len({(t.params["x"], t.params["kind"]) for t in trials}) == 4


@pytest.mark.parametrize(
    ("line", "low", "high", "step"),
    [("x=range(0, 100000000, 1)", 0, 99_999_999, 1), ("x=range(0, 1e15, 1)", 0.0, 1e15 - 1, 1.0)],
)
def test_huge_ranges_are_distributions_with_a_step_never_lists(line, low, high, step):
    started = time.process_time()
    _, dist = parse_line(line, make_parser(), "command line")
    assert (dist.low, dist.high, dist.step) == (low, high, step)
    assert time.process_time() - started < 1  # a list of 1e8 values takes seconds and GBs


def test_a_range_finer_than_float_precision_is_refused_at_once():
    with pytest.raises(SearchSpaceError, match=r"\(x\).*interval\(0, 1e\+300\)"):
        parse_line("x=range(0, 1e300, 1)", make_parser(), "command line")


def test_rerunning_a_complete_study_writes_nothing(sweep, tmp_path, capfd):
    sweep(["hydra.sweeper.n_trials=2"])
    sweep_dir = tmp_path / "sweeps" / "quadratic"
    before = {p: p.stat().st_mtime_ns for p in sweep_dir.rglob("*.yaml")}
    files = set(tmp_path.rglob("*"))
    sweep(["hydra.sweeper.n_trials=2", "hydra.sweeper.report=true"], task=pytest.fail)
    assert set(tmp_path.rglob("*")) == files  # no new sweep dir, report or trial
    assert {p: p.stat().st_mtime_ns for p in sweep_dir.rglob("*.yaml")} == before
    assert "nothing to run" in "".join(capfd.readouterr())


def test_a_pruner_that_gets_no_intermediate_value_warns_once_after_the_first_trial(sweep, capfd):
    # trials reconfigure logging (Hydra's job logging): read the console, as a user does
    sweep(["hydra.sweeper.n_trials=3", "hydra/sweeper/pruner=median", "+objective.metric=val/q"])
    console = "".join(capfd.readouterr())
    assert console.count("reported no intermediate value") == 1
    # said after trial #0, before trial #1 starts, with the metric the app names
    assert console.index("trial #0 reported no") < console.index("trial #1:")
    assert callback_line("val/q") in console
    # a curve reported: the pruner had work, no warning
    sweep(["hydra.sweeper.n_trials=5", "hydra/sweeper/pruner=median", "curve_steps=2"])
    assert "reported no intermediate value" not in "".join(capfd.readouterr())


# --- direction: named once, in objective ----------------------------------------------------


def app_config(direction: object) -> DictConfig:
    metric = ["val/acc", "val/loss"] if isinstance(direction, list) else "val/acc"
    return OmegaConf.create({"objective": {"metric": metric, "direction": direction}})


@pytest.mark.parametrize(
    ("setting", "config", "expected"),
    [
        (None, app_config("maximize"), ["maximize"]),  # a sweep typed on the command line
        ("maximize", app_config("maximize"), ["maximize"]),  # ${objective.direction}
        (None, OmegaConf.create({"x": 0}), ["minimize"]),  # an app without objective: 1.3's
        ("maximize", OmegaConf.create({"x": 0}), ["maximize"]),  # its own direction
        (None, app_config(["maximize", "minimize"]), ["maximize", "minimize"]),
    ],
)
def test_a_sweep_optimises_the_objectives_direction_unless_it_names_its_own(
    setting, config, expected
):
    assert [d.name.lower() for d in sweep_directions(setting, config)] == expected


@pytest.mark.parametrize("setting", [None, "maximize"])
def test_a_bad_objective_direction_is_named_as_objective_direction(setting):
    with pytest.raises(StudyConfigError, match="^objective.direction: 'up' is not 'minimize'"):
        sweep_directions(setting, app_config("up"))


def test_a_sweeper_direction_that_contradicts_the_objective_is_refused():
    with pytest.raises(StudyConfigError, match="direction=minimize contradicts objective.direc"):
        sweep_directions("minimize", app_config("maximize"))


def test_a_stored_study_of_the_other_direction_is_refused_before_any_trial(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=2", "hydra.sweeper.direction=maximize"])
    with pytest.raises(StudyConfigError, match="was created with \\['maximize'\\]"):
        sweep(["hydra.sweeper.n_trials=4"], task=pytest.fail)
    assert len(load("quadratic", tmp_path).trials) == 2
