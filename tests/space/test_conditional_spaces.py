"""Search spaces purely in YAML: conditional parameters, group-owned spaces, paired values,
each validated before any trial runs."""

from __future__ import annotations

import logging

import pytest
from hydra.core.hydra_config import HydraConfig

from helpers import load, quadratic
from hydratune.space.grammar import SearchSpaceError, make_parser
from hydratune.space.search_space import parse_search_space


def recording(seen):
    def task(cfg):
        seen.append((HydraConfig.get().job.num, dict(cfg), list(HydraConfig.get().overrides.task)))
        return quadratic(cfg)

    return task


def test_inactive_parameters_are_neither_suggested_nor_passed(sweep, tmp_path):
    seen = []
    sweep(["kind=choice(a, b)"], task=recording(seen), config_name="conditional")
    trials = load("quadratic", tmp_path).trials
    kinds = {t.params["kind"] for t in trials}
    assert kinds == {"a", "b"}
    for trial, (_, cfg, overrides) in zip(trials, seen, strict=True):
        active = trial.params["kind"] == "b"
        assert ("x" in trial.params) == active and ("x" in trial.distributions) == active
        assert any(o.startswith("x=") for o in overrides) == active
        assert cfg["x"] == (trial.params["x"] if active else 0.0)


def test_paired_values_stay_paired(sweep, tmp_path):
    seen = []
    sweep(["kind=choice(a, b)"], task=recording(seen), config_name="conditional")
    assert {(cfg["y"], cfg["fixed"]) for _, cfg, _ in seen} <= {(-2, 1), (3, 7)}
    labels = {t.params["y_and_fixed"] for t in load("quadratic", tmp_path).trials}
    assert labels <= {"-2, 1", "3, 7"}


def test_a_fixed_command_line_value_wins_over_a_paired_key_and_says_so(sweep, tmp_path, caplog):
    # sweep=digits_models trainer.max_epochs=2 trained 8 or 15 epochs: the pair silently won
    seen = []
    with caplog.at_level(logging.WARNING):
        sweep(["kind=choice(a, b)", "fixed=5"], task=recording(seen), config_name="conditional")
    assert {cfg["fixed"] for _, cfg, _ in seen} == {5}
    assert {cfg["y"] for _, cfg, _ in seen} <= {-2, 3}  # the pair still sets y
    said = [r.getMessage() for r in caplog.records if "wins over hydra.sweeper.paired" in r.message]
    assert said == [
        "fixed=5 is fixed: it wins over hydra.sweeper.paired.y_and_fixed, which still sets y"
    ]


def test_a_fixed_command_line_value_wins_over_a_when_entry(sweep, tmp_path, caplog):
    seen = []
    with caplog.at_level(logging.WARNING):
        sweep(["kind=choice(a, b)", "x=0.5"], task=recording(seen), config_name="conditional")
    assert {cfg["x"] for _, cfg, _ in seen} == {0.5}
    assert all("x" not in t.params for t in load("quadratic", tmp_path).trials)
    assert any(
        "x=0.5 is fixed: it wins over hydra.sweeper.when" in r.message for r in caplog.records
    )


def test_a_group_options_space_is_searched_only_when_that_option_is_chosen(sweep, tmp_path):
    seen = []
    sweep(["hydra.sweeper.n_trials=10", "shape=choice(round, steep)"], task=recording(seen))
    trials = load("quadratic", tmp_path).trials
    assert {t.params["shape"] for t in trials} == {"round", "steep"}
    for trial, (_, cfg, _) in zip(trials, seen, strict=True):
        if trial.params["shape"] == "steep":
            assert 5 <= trial.params["shape.scale"] <= 20
            assert cfg["shape"]["scale"] == trial.params["shape.scale"]
        else:
            assert "shape.scale" not in trial.params and cfg["shape"]["scale"] == 1.0


def test_a_sweep_overrides_a_group_options_space(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=8", "shape=choice(round, steep)", "shape.scale=interval(11,12)"])
    for trial in load("quadratic", tmp_path).trials:
        steep = trial.params["shape"] == "steep"
        assert ("shape.scale" in trial.params) == steep
        assert not steep or 11 <= trial.params["shape.scale"] <= 12


def test_a_fixed_group_choice_brings_its_space_unconditionally(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=3", "+hydra.sweeper.params.shape=steep"])
    assert all("shape.scale" in t.params for t in load("quadratic", tmp_path).trials)


def test_a_group_space_naming_a_missing_key_fails_naming_file_and_key(sweep):
    with pytest.raises(SearchSpaceError, match=r"search_space/shape/wobbly.yaml.*shape.sacle"):
        sweep(["shape=choice(round, wobbly)"], task=pytest.fail)


def space(when=None, paired=None):
    return parse_search_space(
        {"a": "choice(x, y)", "b": "interval(0, 1)"}, [], make_parser(), when, paired
    )


@pytest.mark.parametrize(
    ("when", "paired", "message"),
    [
        ({"c=x": {"d": "interval(0, 1)"}}, None, "names 'c', which is not a searched parameter"),
        ({"e=1": {"d": "choice(1, 2)"}, "d=1": {"e": "choice(1, 2)"}}, None, "circular"),
        (None, {"p": {"keys": ["k1", "k2"], "rows": [[1, 2], [3]]}}, r"rows\[1\] has 1 value"),
        ({"a=x": {"b": "interval(0, 2)"}}, None, "already searched elsewhere"),
        ({"a=x": {"d": "5"}}, None, "must be searched"),
    ],
)
def test_invalid_conditions_and_pairs_are_rejected_before_any_trial(when, paired, message):
    with pytest.raises(SearchSpaceError, match=message):
        space(when, paired)


def test_grid_sampler_refuses_conditional_spaces():
    with pytest.raises(SearchSpaceError, match="grid sampler"):
        space({"a=x": {"d": "choice(1, 2)"}}).grid()


def test_conditions_order_parents_before_children():
    s = parse_search_space(
        {"a": "choice(x, y)"},
        [],
        make_parser(),
        {"d=1": {"e": "choice(3, 4)"}, "a=x": {"d": "choice(1, 2)"}},
    )
    assert s.order() == ["a", "d", "e"]


def test_options_of_one_group_must_agree_on_a_shared_key(sweep):
    with pytest.raises(SearchSpaceError, match=r"shape.scale is .* but .* in search_space/shape"):
        sweep(["shape=choice(steep, flat)"], task=pytest.fail)


def test_a_key_shared_by_options_is_one_parameter_active_for_each(tmp_path, monkeypatch):
    from helpers import REPO, multirun

    monkeypatch.chdir(tmp_path)
    multirun(
        ["hydra.sweeper.n_trials=8", "model=choice(mlp, cnn)"],
        task=lambda cfg: 0.0,
        config_name="train",
        config_dir=REPO / "conf",
    )
    trials = load("hydratune", tmp_path).trials
    assert {t.params["model"] for t in trials} == {"mlp", "cnn"}
    assert all("model.dropout" in t.params for t in trials)
    assert all(("model.channels" in t.params) == (t.params["model"] == "cnn") for t in trials)
