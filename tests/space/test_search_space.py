"""The sweep grammar: every form compiles to the right Optuna distribution; every error names
the parameter before any trial runs."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydratune.space.grammar import SearchSpaceError, format_value, grid_values
from hydratune.space.search_space import parse_search_space


def dist(expr: str):
    return parse_search_space({"p": expr}, []).distributions["p"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("choice(1, 2)", CategoricalDistribution([1, 2])),
        ("choice(a, b)", CategoricalDistribution(["a", "b"])),
        ("choice(true, false)", CategoricalDistribution([True, False])),
        ("choice(a, null)", CategoricalDistribution(["a", None])),
        ("1,2,3", CategoricalDistribution([1, 2, 3])),
        ("range(0, 10, step=2)", IntDistribution(0, 8, step=2)),
        ("range(1, 5)", IntDistribution(1, 4)),
        ("range(10, 0, -2)", IntDistribution(2, 10, step=2)),
        ("range(0.5, 5.5, step=1)", FloatDistribution(0.5, 4.5, step=1.0)),
        ("interval(1, 5)", FloatDistribution(1.0, 5.0)),
        ("int(interval(1, 5))", IntDistribution(1, 5)),
        ("tag(log, interval(1e-5, 1e-1))", FloatDistribution(1e-5, 1e-1, log=True)),
        ("tag(log, int(interval(1, 64)))", IntDistribution(1, 64, log=True)),
    ],
)
def test_each_expression_compiles_to_its_distribution(expr, expected):
    assert dist(expr) == expected


def test_shuffle_is_a_categorical_over_the_range(caplog):
    assert sorted(dist("shuffle(range(1, 4))").choices) == [1, 2, 3]
    assert "shuffle" in caplog.text


def test_plain_values_and_deletions_are_fixed_not_searched():
    space = parse_search_space({"y": 0, "name": "run one"}, ["~z", "+extra=1"])
    assert space.distributions == {}
    assert space.fixed == ["y=0", "name=run one", "~z", "+extra=1"]


def test_command_line_wins_over_params_for_the_same_key():
    space = parse_search_space({"lr": "interval(0.1, 1)"}, ["lr=0.5"])
    assert space.distributions == {}
    assert space.fixed == ["lr=0.5"]


def test_added_keys_keep_their_plus_in_the_parameter_name():
    space = parse_search_space({}, ["+extra=interval(0, 1)"])
    assert list(space.distributions) == ["+extra"]
    assert space.overrides({"+extra": 0.5}) == ["+extra=0.5"]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("interval(5, 1)", "needs low < high"),
        ("choice()", "empty choice"),
        ("tag(log, interval(0, 1))", "needs low > 0"),
        ("range(1, 1)", "is empty"),
        ("tag(lgo, interval(1, 2))", "unknown tag"),
        ("interval(1,", "cannot parse"),
        ("", "empty expression"),
        ("choice([1, 2], [3])", "plain values"),
        ("tag(log, range(1, 10))", "not supported"),
    ],
)
def test_invalid_expressions_fail_naming_the_parameter(expr, message):
    with pytest.raises(SearchSpaceError, match=message) as error:
        parse_search_space({"model.lr": expr}, [])
    assert "hydra.sweeper.params.model.lr" in str(error.value)


def test_command_line_errors_say_they_come_from_the_command_line():
    with pytest.raises(SearchSpaceError, match="the command line"):
        parse_search_space({}, ["lr=interval(2, 1)"])


@pytest.mark.parametrize(
    ("expr", "values"),
    [
        ("range(1, 5)", [1, 2, 3, 4]),
        ("range(0.5, 2.5, step=0.5)", [0.5, 1.0, 1.5, 2.0]),
        ("int(interval(1, 4))", [1, 2, 3, 4]),
        ("choice(a, b)", ["a", "b"]),
    ],
)
def test_grid_visits_the_same_points_other_samplers_draw_from(expr, values):
    assert grid_values("p", dist(expr)) == values


def test_grid_rejects_a_continuous_interval_naming_the_parameter():
    with pytest.raises(SearchSpaceError, match="p: the grid sampler cannot enumerate"):
        grid_values("p", dist("interval(0, 1)"))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (3, "3"),
        (0.25, "0.25"),
        ("adam", "adam"),
        ("a b", "'a b'"),
        ("null", "'null'"),
        ("it's", "'it\\'s'"),
    ],
)
def test_sampled_values_format_as_overrides_hydra_reads_back(value, text):
    assert format_value(value) == text
    if isinstance(value, str):
        from hydra.core.override_parser.overrides_parser import OverridesParser

        assert OverridesParser.create().parse_override(f"k={text}").value() == value
