"""The sweep grammar: every form compiles to the right Optuna distribution; every error names
the parameter before any trial runs."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from helpers import load, start_quadratic_app
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


def test_shuffle_is_a_categorical_over_the_range_with_a_warning_that_it_breaks_resume(caplog):
    assert sorted(dist("shuffle(range(1, 4))").choices) == [1, 2, 3]
    assert "shuffle" in caplog.text and "cannot resume this study" in caplog.text


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
        ("model/cnn", "model/cnn"),
        # strings Hydra would read unquoted as a number, a bool, null, inf or nan
        ("1", "'1'"),
        ("True", "'True'"),
        ("NULL", "'NULL'"),
        ("1e3", "'1e3'"),
        ("1_000", "'1_000'"),
        ("-inf", "'-inf'"),
    ],
)
def test_sampled_values_format_as_overrides_hydra_reads_back(value, text):
    assert format_value(value) == text
    if isinstance(value, str):
        from hydra.core.override_parser.overrides_parser import OverridesParser

        read = OverridesParser.create().parse_override(f"k={text}").value()
        assert read == value and type(read) is str


def hydra_decimal_values(start: str, stop: str, step: str) -> list[float]:
    """The values Hydra's sweep gives for a float range, counted in decimals as hydra-core 1.4
    does (``FloatRange``): ``start + i * step`` while short of ``stop``."""
    from decimal import Decimal

    a, b, s = Decimal(start), Decimal(stop), Decimal(step)
    values, i = [], 0
    while (a + i * s < b) if s > 0 else (a + i * s > b):
        values.append(float(a + i * s))
        i += 1
    return values


@pytest.mark.parametrize(
    ("start", "stop", "step"),
    [
        ("0", "1", "0.3"),  # 0, 0.3, 0.6, 0.9: the 0.9 was lost (Optuna saw 0.8999999999999999)
        ("1", "0", "-0.3"),  # 1.0, 0.7, 0.4, 0.1: the 1.0 was lost
        ("0", "0.3", "0.1"),  # 0, 0.1, 0.2: never 0.30000000000000004
        ("0", "1.05", "0.1"),
        ("-5.5", "5.5", "0.5"),
        ("0.1", "0.7", "0.2"),
        ("1e-17", "4e-17", "1e-17"),  # extreme precision: each of the three kept
        ("1.000000000000001", "1.000000000000004", "0.000000000000001"),
    ],
)
def test_a_float_range_keeps_exactly_the_decimal_values_hydras_sweep_gives(start, stop, step):
    expected = hydra_decimal_values(start, stop, step)
    space = dist(f"range({start}, {stop}, {step})")
    assert grid_values("p", space) == sorted(expected)
    assert space.high == max(expected)  # none above the last value, none lost below it


@pytest.mark.parametrize(
    ("expr", "choices"),
    [
        ("int(range(0, 5, 1.5))", [0, 1, 3, 4]),  # 0, 1.5, 3, 4.5 cast (Hydra: 0..4 by 1)
        ("float(range(0, 3))", [0.0, 1.0, 2.0]),
        ("int(range(3, 0, -0.75))", [3, 2, 1, 0]),  # 3, 2.25, 1.5, 0.75, in the range's order
        ("int(range(0, 2, 0.5))", [0, 1]),  # 0, 0.5, 1, 1.5: each cast value once
    ],
)
def test_a_cast_range_is_the_categorical_of_its_cast_values(expr, choices):
    # hydra-optuna-sweeper main: "Cast ranges use categorical choices"
    assert dist(expr) == CategoricalDistribution(choices)


@pytest.mark.parametrize(
    "expr", ["shuffle(int(range(0, 5, 1.5)))", "int(shuffle(range(0, 5, 1.5)))"]
)
def test_a_shuffled_cast_range_keeps_its_cast(expr):
    assert set(dist(expr).choices) == {0, 1, 3, 4}  # Hydra's cast of a shuffled range: 0..4 by 1


def test_a_cast_that_leaves_one_value_is_refused_instead_of_a_step_of_zero():
    # Hydra casts the bounds: int(range(0, 1, 0.25)) became range(0, 1, 0), searched nothing
    with pytest.raises(SearchSpaceError, match=r"gives 0 for every value: nothing to search"):
        dist("int(range(0, 1, 0.25))")


def test_int_of_an_interval_is_still_an_int_interval():
    assert dist("int(interval(1, 5))") == IntDistribution(1, 5)
    assert dist("tag(log, int(interval(1, 64)))") == IntDistribution(1, 64, log=True)


@pytest.mark.cli
def test_choice_with_null_works_on_the_command_line_as_in_yaml(tmp_path):
    # Hydra's own parser refused it ("NoneType is incompatible") before the sweeper saw it
    proc = start_quadratic_app(
        tmp_path,
        "hydra/sweeper/sampler=grid",
        "hydra.sweeper.params=null",
        "hydra.sweeper.study_name=nulls",
        "kind=choice(a, b, null)",
    )
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    kinds = [t.params["kind"] for t in load("nulls", tmp_path).trials]
    assert set(kinds) == {"a", "b", None} and len(kinds) == 3


def test_a_value_not_among_the_choices_is_named_as_written_beside_them():
    space = parse_search_space({"p": "choice(32, 64)"}, [])
    assert space.fit("p", 64, "fix.p") == 64
    with pytest.raises(SearchSpaceError) as refused:  # a quoted "64" is a string: not a choice
        space.fit("p", "64", "fix.p")
    assert str(refused.value) == "fix.p='64', not one of the choices (32, 64)"
