"""`make bench-search`: every suite runs and reports (--quick), and its tables rank, count wins
and leave out what did not run, on a grid whose answers are known."""

from __future__ import annotations

import pytest
from bench.search import hebo_contender
from bench.search.core import Unit, complete, problem_wins, rank_table, verdict, wins
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from helpers import run_bench


def _grid() -> dict:
    """Two units; auto repeats GP's run; SMAC3 ran only the first."""
    runs = {}
    for unit in (Unit("x", (1,), 3, 0), Unit("x", (2,), 3, 0)):
        for name, values in [("tpe", [3, 2, 1]), ("gp", [3, 1, 0.5]), ("random", [4, 4, 4])]:
            runs[unit, name] = {"values": values, "seconds": [0.1] * 3}
        runs[unit, "auto"] = {**runs[unit, "gp"], "same_as": "gp"}
    runs[Unit("x", (1,), 3, 0), "smac"] = {"values": [0, 0, 0], "seconds": [1.0] * 3}
    return {"runs": runs}


def test_the_tables_rank_count_wins_and_compare_only_units_everyone_ran():
    grid = _grid()
    units = [Unit("x", (1,), 3, 0), Unit("x", (2,), 3, 0)]
    assert complete(grid, units) == units[:1]
    assert wins(grid, units) == (2, 0, 0)  # auto (GP's run) below TPE on both
    assert wins(grid, units, "smac") == (1, 0, 0)  # the unit it did not run is not counted
    table, figures = rank_table(grid, complete(grid, units))
    assert figures["smac"]["mean_rank"] == 1.0 and figures["auto"]["mean_rank"] == 2.5
    assert "Optuna GP's run" in table and "| HEBO | " in table  # not run: its row says why
    v = verdict(figures)
    assert v["best"] == "smac" and not v["best_mean_rank"] and v["wins_share"] == 1.0


def test_a_problem_is_won_on_its_best_values_averaged_over_the_seeds():
    """auto wins seeds 0 and 1 by a little and loses seed 2 by a lot: 2 of 3 units, no problem."""
    runs = {}
    for seed, (auto, tpe) in enumerate([(1.0, 1.1), (1.0, 1.1), (5.0, 1.0)]):
        unit = Unit("x", ("task",), 2, seed)
        runs[unit, "auto"] = {"values": [9, auto], "seconds": [0.1] * 2}
        runs[unit, "tpe"] = {"values": [9, tpe], "seconds": [0.1] * 2}
    other = Unit("x", ("other",), 2, 0)  # a second problem, one seed: a tie
    runs[other, "auto"] = runs[other, "tpe"] = {"values": [3, 3], "seconds": [0.1] * 2}
    grid, units = {"runs": runs}, list(dict.fromkeys(u for u, _ in runs))
    assert wins(grid, units) == (2, 1, 1)
    assert problem_wins(grid, units) == (0, 1, 1)
    _, figures = rank_table(grid, units)
    assert figures["auto"]["problem_wins_vs_tpe"] == (0, 1, 1)
    v = verdict(figures)
    assert v["wins_share"] == 0.0 and v["unit_wins_share"] == 0.5


def test_the_second_reading_counts_a_difference_below_the_loss_grain_as_a_tie():
    """auto is below TPE on both problems, by 0.05 and by 0.5: with a grain of 0.1 the first is a
    tie; the first reading (no grain) still counts both as wins."""
    runs = {}
    for key, auto in (("near", 0.95), ("far", 0.5)):
        unit = Unit("x", (key,), 1, 0)
        runs[unit, "auto"] = {"values": [auto], "seconds": [0.1]}
        runs[unit, "tpe"] = {"values": [1.0], "seconds": [0.1]}
    grid, units = {"runs": runs}, list(dict.fromkeys(u for u, _ in runs))
    assert problem_wins(grid, units) == (2, 0, 0)
    assert problem_wins(grid, units, grain=lambda unit: 0.1) == (1, 1, 0)


def test_a_validation_row_is_one_over_the_training_rows_of_accuracy():
    from bench.search.sklearn_tasks import one_row

    assert one_row("iris") == 1 / 120  # 80% of iris's 150 rows
    assert 10 < one_row("diabetes") < 30  # MSE: var(y) / n, y's spread about 77 on 353 rows


@pytest.mark.bench
@pytest.mark.timeout(900)
def test_bench_search_quick_runs_every_suite(tmp_path):
    report = run_bench(tmp_path, "--search", timeout=840)
    assert list(report["benchmarks"]) == [
        "search.bbob",
        "search.mixint",
        "search.sklearn_tasks",
        "search.sweeper",
    ]
    text = (tmp_path / "RESULTS.md").read_text()
    assert "same values trial for trial" in text and "mean rank (95% CI)" in text


def test_the_held_out_table_reads_each_run_up_to_its_budget():
    from bench.search.heldout import _table

    traces = {"gp": [3, 1, 0.5], "gp-startup-5": [3, 1, 0.5], "tpe": [3, 2, 1], "ngopt": [0, 9, 9]}
    runs = {f"{(1, 2, 1)}@3/{c}": values for c, values in traces.items()}
    table, figures = _table(runs, [(1, 2, 1)], list(traces), 3, 2)  # the first 2 trials
    assert {c: f["mean_rank"] for c, f in figures.items()} == {
        "ngopt": 1.0,
        "gp": 2.5,
        "gp-startup-5": 2.5,
        "tpe": 4.0,
    }
    assert figures["gp"]["wins"] == [1, 0] and "| tpe | 4.00 (4.00-4.00) | - |" in table


SPACE = {
    "x": FloatDistribution(-1.0, 1.0),
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
    "n": IntDistribution(1, 8),
    "iters": IntDistribution(10, 5000, log=True),
    "fit": CategoricalDistribution([False, True]),
}


def test_hebo_gets_each_kind_of_parameter_in_its_own_design_space_terms():
    assert hebo_contender.design_space(SPACE) == [
        {"name": "x", "type": "num", "lb": -1.0, "ub": 1.0},
        {"name": "lr", "type": "pow", "lb": 1e-4, "ub": 1e-1},
        {"name": "n", "type": "int", "lb": 1, "ub": 8},
        {"name": "iters", "type": "pow_int", "lb": 10, "ub": 5000},
        {"name": "fit", "type": "cat", "categories": ["0", "1"]},
    ]
    with pytest.raises(ValueError, match="stepped"):
        hebo_contender.design_space({"s": FloatDistribution(0.0, 1.0, step=0.5)})


@pytest.mark.bench
def test_hebo_runs_in_its_venv_inside_the_space_and_repeats_with_its_seed():
    """7 trials: its 6 Sobol points (1 + 5 parameters) and one from its model (`make test`
    builds HEBO's venv, as `make bench-search` does)."""
    assert hebo_contender.missing() is None, hebo_contender.missing()
    seen = []

    def evaluate(params: dict) -> float:
        seen.append(params)
        return (params["x"] - 0.3) ** 2 + params["n"] / 8 + (not params["fit"])

    values, seconds = hebo_contender.run(SPACE, evaluate, 7, seed=3)
    assert len(values) == len(seconds) == 7
    for params in seen:
        assert all(SPACE[k].low <= params[k] <= SPACE[k].high for k in ("x", "lr", "n", "iters"))
        assert isinstance(params["n"], int) and isinstance(params["fit"], bool)
    first = list(seen)
    assert hebo_contender.run(SPACE, evaluate, 7, seed=3)[0] == values
    assert seen[7:] == first
