"""hydra-optuna-sweeper 1.3's documented behaviours, checked on its own example apps' configs
with only the sweeper selection changed: what matches, and each deliberate difference (listed
in docs/compatibility.md) asserted as hydratune's behaviour."""

from __future__ import annotations

import logging
import shutil
from itertools import product
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from apps.upstream_examples import binh_and_korn, multi_dimensional_sphere, sphere
from helpers import TEST_CONF, load, multirun
from hydratune.cli import app
from hydratune.errors import StudyConfigError
from hydratune.sweep.sweeper import SweepFailedError

UPSTREAM = TEST_CONF / "upstream"


def results(tmp_path: Path, study: str) -> dict:
    return yaml.safe_load((tmp_path / "sweeps" / study / "optimization_results.yaml").read_text())


def test_sphere_results_file_has_the_upstream_keys_and_name(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=8"], sphere, "sphere", UPSTREAM)
    out = results(tmp_path, "sphere")
    assert out["name"] == "optuna"
    assert set(out["best_params"]) == {"x", "y"}
    study = load("sphere", tmp_path)
    assert out["best_value"] == study.best_value == min(t.value for t in study.trials)
    # range(-5.5, 5.5, step=0.5) excludes its stop, as Hydra's range does
    assert study.trials[0].distributions["x"] == optuna.distributions.FloatDistribution(
        -5.5, 5.0, step=0.5
    )


def test_multi_objective_results_list_the_pareto_front(sweep, tmp_path, capfd):
    sweep(
        ["hydra.sweeper.n_trials=8", "hydra.sweeper.export_best=true"],
        binh_and_korn,
        "multi_objective",
        UPSTREAM,
    )
    # export_best has no single best to write: it says so, and how to export one of the front
    said = " ".join("".join(capfd.readouterr()).split())
    assert "export_best: a study of 2 objectives has no single best trial" in said
    assert "hydratune export" in said and "--trial <number>" in said
    out = results(tmp_path, "multi-objective")
    assert out["name"] == "optuna" and "best_params" not in out
    front = load("multi-objective", tmp_path).best_trials
    assert [s["values"] for s in out["solutions"]] == [
        t.values for t in sorted(front, key=lambda t: t.number)
    ]
    assert all(set(s["params"]) == {"x", "y"} for s in out["solutions"])


def test_custom_search_space_suggests_after_params_and_adds_new_keys(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=5"], multi_dimensional_sphere, "custom_search_space", UPSTREAM)
    trials = load("custom-search-space", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    for t in trials:
        assert abs(t.params["z"] - t.params["x"]) <= 0.5
        assert 0.0 <= t.params["+w"] <= 1.0
        w, x, y, z = (t.params[k] for k in ("+w", "x", "y", "z"))
        assert t.value == pytest.approx(w**2 + x**2 + y**2 + z**2)  # the job got z and w


def test_a_custom_search_space_that_raises_stops_the_sweep_and_leaves_no_trial_running(
    sweep, tmp_path
):
    with pytest.raises(ValueError, match="the hook has a bug"):  # the app's own error, whole
        sweep(["hydra.sweeper.custom_search_space=helpers.broken_hook"], task=pytest.fail)
    (trial,) = load("quadratic", tmp_path).trials  # failed as lost: a rerun tries it again
    assert trial.state == TrialState.FAIL and trial.user_attrs["lost"]
    assert trial.user_attrs["fail_reason"] == "lost: the sweep stopped on ValueError"


def test_failures_beyond_max_failure_rate_fail_the_sweep_with_the_error(sweep, tmp_path):
    # 1.3's test_failure_rate: every trial raises; below 1.0 the command fails with the error
    with pytest.raises(SweepFailedError, match="cfg.error is True"):
        sweep(
            ["hydra.sweeper.n_trials=4", "hydra.sweeper.max_failure_rate=0.5", "error=true"],
            sphere,
            "sphere",
            UPSTREAM,
        )
    trials = load("sphere", tmp_path).trials
    assert len(trials) == 3 and all(t.state == TrialState.FAIL for t in trials)  # 2 allowed


def test_max_failure_rate_one_never_stops_and_the_sweep_ends_at_n_trials(sweep, tmp_path):
    # As in 1.3, failed trials count toward n_trials and 1.0 never stops for failures.
    # Deliberate difference: when every trial failed the command fails (1.3 exits 0).
    with pytest.raises(SweepFailedError, match="every trial failed"):
        sweep(
            ["hydra.sweeper.n_trials=3", "hydra.sweeper.max_failure_rate=1.0", "error=true"],
            sphere,
            "sphere",
            UPSTREAM,
        )
    assert len(load("sphere", tmp_path).trials) == 3


def test_grid_visits_every_point_once_and_caps_n_trials(sweep, tmp_path):
    sweep(
        [
            "hydra/sweeper/sampler=grid",
            "hydra.sweeper.n_trials=100",
            "x=range(-1, 2)",
            "y=choice(-5, 0, 5)",
        ],
        sphere,
        "sphere",
        UPSTREAM,
    )
    trials = load("sphere", tmp_path).trials
    assert sorted((t.params["x"], t.params["y"]) for t in trials) == sorted(
        product([-1, 0, 1], [-5, 0, 5])
    )


def test_the_deprecated_search_space_key_is_read_as_params_with_a_warning(sweep, tmp_path, caplog):
    space = (
        "hydra.sweeper.search_space={x: {type: float, low: -5.5, high: 5.5, step: 0.5}, "
        "y: {type: categorical, choices: [-5, 0, 5]}}"
    )
    with caplog.at_level(logging.WARNING):
        sweep(
            ["hydra.sweeper.n_trials=3", "hydra.sweeper.params=null", space],
            sphere,
            "sphere",
            UPSTREAM,
        )
    shown = [r.getMessage() for r in caplog.records if "search_space is deprecated" in r.message]
    assert len(shown) == 1 and "x: range(-5.5, 6.0, 0.5)" in shown[0]
    dist = load("sphere", tmp_path).trials[0].distributions
    # 1.3 includes high with a step: the equivalent range keeps 5.5
    assert dist["x"] == optuna.distributions.FloatDistribution(-5.5, 5.5, step=0.5)
    assert dist["y"] == optuna.distributions.CategoricalDistribution([-5, 0, 5])


def test_a_search_space_step_off_the_bounds_draws_only_what_1_3_draws(sweep, tmp_path):
    """A ``high`` that is not on the step grid: Optuna's distribution (1.3's) stops at the
    last step below it, and so does the converted range; no value beyond ``high`` is run."""
    space = (
        "hydra.sweeper.search_space={x: {type: float, low: -5.5, high: -4.5, step: 0.3}, "
        "y: {type: int, low: 0, high: 10, step: 3}}"
    )
    overrides = ["hydra.sweeper.params=null", space, "hydra/sweeper/sampler=grid"]
    sweep(["hydra.sweeper.n_trials=20", *overrides], sphere, "sphere", UPSTREAM)
    trials = load("sphere", tmp_path).trials
    with pytest.warns(UserWarning):  # Optuna says it lowers high to the step grid
        expected = {
            "x": optuna.distributions.FloatDistribution(-5.5, -4.5, step=0.3),
            "y": optuna.distributions.IntDistribution(0, 10, step=3),
        }
    assert trials[0].distributions == expected
    assert len(trials) == 16  # the grid is every pair, once
    assert {t.params["y"] for t in trials} == {0, 3, 6, 9}
    assert sorted({round(t.params["x"], 9) for t in trials}) == [-5.5, -5.2, -4.9, -4.6]


def test_sweep_returns_none_like_the_upstream_sweeper(sweep):
    assert sweep(["hydra.sweeper.n_trials=2"], sphere, "sphere", UPSTREAM) is None


# lightning-hydra-template's hparams_search/mnist_optuna.yaml


def val_acc_best(cfg) -> float:
    """A stand-in for the template's train(): returns cfg.optimized_metric's value."""
    assert cfg.optimized_metric == "val/acc_best"
    net = cfg.model.net
    return 1.0 - abs(cfg.model.optimizer.lr - 0.01) - 1e-4 * abs(net.lin1_size - 128)


@pytest.fixture
def template(tmp_path, monkeypatch) -> Path:
    """A copy of the template's configs, the working directory of the test."""
    conf = Path(shutil.copytree(UPSTREAM, tmp_path / "configs"))
    monkeypatch.chdir(tmp_path)
    return conf


def run_template(conf: Path, *overrides: str) -> None:
    multirun(
        [
            "hparams_search=mnist_optuna",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.report=false",
            "hydra.sweeper.study_name=mnist",
            *overrides,
        ],
        val_acc_best,
        "train",
        conf,
    )


def test_migrate_rewrites_the_template_config_and_it_runs(template, tmp_path):
    from typer.testing import CliRunner

    path = template / "hparams_search" / "mnist_optuna.yaml"
    before = path.read_text()
    result = CliRunner().invoke(app, ["migrate", str(path)])
    assert result.exit_code == 0, result.output
    assert "-  - override /hydra/sweeper: optuna" in result.output
    assert "+  - override /hydra/sweeper: hydratune" in result.output
    after = path.read_text()
    removed = set(before.splitlines()) - set(after.splitlines())
    assert removed == {
        "  - override /hydra/sweeper: optuna",
        "    _target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",
        "    storage: null",
    }
    assert "storage: null  # hydratune:" in after

    run_template(template)
    study = load("mnist", tmp_path)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert set(study.trials[0].params) == {
        "model.optimizer.lr",
        "data.batch_size",
        "model.net.lin1_size",
        "model.net.lin2_size",
        "model.net.lin3_size",
    }
    again = CliRunner().invoke(app, ["migrate", str(path)])
    assert "nothing to change" in again.output


def test_the_template_config_with_only_the_sweeper_override_changed_runs_with_a_hint(
    template, tmp_path, caplog
):
    path = template / "hparams_search" / "mnist_optuna.yaml"
    path.write_text(path.read_text().replace("sweeper: optuna", "sweeper: hydratune"))
    with caplog.at_level(logging.WARNING):
        run_template(template)
    assert any("Delete that line, or extend hydratune" in r.getMessage() for r in caplog.records)
    assert len(load("mnist", tmp_path).trials) == 3


def test_the_unchanged_template_config_runs_hydratune_with_a_hint_without_the_upstream_plugin(
    template, tmp_path, caplog
):
    # `override /hydra/sweeper: optuna` and the upstream _target_, as the template ships them;
    # hydra-optuna-sweeper is not installed here, so Hydra alone would stop at composition
    with caplog.at_level(logging.WARNING):
        run_template(template)
    hints = [r.getMessage() for r in caplog.records if "hydra/sweeper: optuna" in r.getMessage()]
    assert len(hints) == 1 and "override hydra/sweeper: hydratune" in hints[0]
    study = load("mnist", tmp_path)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert study.trials[0].params.keys() >= {"model.optimizer.lr", "data.batch_size"}


def test_migrate_turns_search_space_into_params_and_notes_ranges(tmp_path):
    from hydratune.scaffold.migrate import migrate_text

    text, changes = migrate_text(
        "hydra:\n  sweeper:\n    search_space:\n      x:\n        type: int\n        low: 1\n"
        "        high: 10\n        step: 2\n      lr:\n        type: float\n        low: 0.001\n"
        "        high: 0.1\n        log: true\n      z:\n        type: float\n        low: 0.0\n"
        "        high: 1.0\n        step: 0.3\n      w: {type: int, low: 1, high: 100, log: true,"
        " step: 2}\n"
    )
    params = yaml.safe_load(text)["hydra"]["sweeper"]["params"]
    assert params == {  # 1.3's values: 1, 3, ..., 9 and 0, 0.3, 0.6, 0.9 (high off the grid)
        "x": "range(1, 11, 2)",
        "z": "range(0.0, 1.2, 0.3)",
        "lr": "tag(log, interval(0.001, 0.1))",
        "w": "tag(log, int(interval(1, 100)))",  # 1.3 reads log first: no step on a log scale
    }
    assert "x: range(1, 11, 2)  # hydratune: from search_space" in text
    assert "search_space:" not in text and any("search_space" in c for c in changes)


def test_search_space_beside_params_is_ignored_as_1_3_ignores_it(sweep, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        sweep(
            [
                "hydra.sweeper.n_trials=2",
                "hydra.sweeper.search_space={z: {type: int, low: 1, high: 3}}",
            ],
            sphere,
            "sphere",
            UPSTREAM,
        )
    assert any(
        "params defines the search space and search_space is ignored" in r.getMessage()
        for r in caplog.records
    )
    searched = load("sphere", tmp_path).trials[0].distributions
    assert "z" not in searched and searched  # the params' keys alone


def test_a_log_search_space_entry_with_a_step_is_on_a_log_scale_as_in_1_3(sweep, tmp_path):
    space = (
        "hydra.sweeper.search_space={x: {type: float, low: 0.001, high: 1.0, log: true, step: 0.1},"
        " y: {type: int, low: 1, high: 100, log: true, step: 2}}"
    )
    sweep(
        ["hydra.sweeper.n_trials=2", "hydra.sweeper.params=null", space], sphere, "sphere", UPSTREAM
    )
    assert load("sphere", tmp_path).trials[0].distributions == {
        "x": optuna.distributions.FloatDistribution(0.001, 1.0, log=True),
        "y": optuna.distributions.IntDistribution(1, 100, log=True),
    }


def test_a_bad_search_space_entry_names_its_key(sweep):
    with pytest.raises(StudyConfigError, match=r"hydra.sweeper.search_space.x"):
        sweep(
            [
                "hydra.sweeper.search_space={x: {type: uniform}}",
                "hydra.sweeper.params=null",
                "hydra.sweeper.n_trials=1",
            ],
            pytest.fail,
            "sphere",
            UPSTREAM,
        )


def test_the_template_search_draws_what_optuna_draws_with_its_sampler_settings(template, tmp_path):
    # the plugin's tpe: TPESampler(seed=1234, n_startup_trials=10) with multivariate and
    # constant_liar off (1.3 and main pin them; Optuna 5's defaults differ), direction
    # maximize: the same draws, in order
    path = template / "hparams_search" / "mnist_optuna.yaml"
    path.write_text(path.read_text().replace("sweeper: optuna", "sweeper: hydratune"))
    run_template(template, "hydra.sweeper.n_trials=12")  # past the 10 random startup trials
    swept = load("mnist", tmp_path).trials
    assert len(swept) == 12
    reference = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=1234, n_startup_trials=10, multivariate=False, constant_liar=False
        ),
    )
    for trial in swept:
        ask = reference.ask(dict(trial.distributions))
        assert ask.params == trial.params
        reference.tell(ask, trial.value)
