"""The report's architecture section: the value against depth, and which operations win."""

from __future__ import annotations

import optuna

from hydratune.insight.report.architecture import architecture_section
from hydratune.insight.report.model import objectives_of
from hydratune.space import parse_search_space
from hydratune.steering.record import record_space

SPACE = {
    "blocks": {"model.layers": {"depth": "range(1, 4)", "each": {"width": "choice(8, 16)"}}},
    "cells": {"model.cell": {"nodes": 3, "ops": ["linear", "skip"]}},
}


def test_depth_table_and_the_operations_the_best_trials_chose():
    space = parse_search_space({}, [], **SPACE)
    study = optuna.create_study(direction="maximize")
    record_space(study, space, n_trials=12)
    for depth in (1, 2, 3):
        for k in range(4):  # the value grows with depth and with the number of 'linear' edges
            ops = ["linear"] * min(k, 3) + ["skip"] * (3 - min(k, 3))
            params = {"model.layers.depth": depth}
            params |= {f"model.layers.{i}.width": 8 for i in range(depth)}
            params |= dict(
                zip(["model.cell.e0-1", "model.cell.e0-2", "model.cell.e1-2"], ops, strict=True)
            )
            study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions={n: space.distributions[n] for n in params},
                    value=depth + k / 10,
                )
            )
    complete = study.get_trials()
    section = architecture_section(study.user_attrs, complete, objectives_of(study))
    depth, ops = section.tables
    assert depth.rows == [
        ["1", "4", "1.3", "1.15"],
        ["2", "4", "2.3", "2.15"],
        ["3", "4", "3.3", "3.15"],
    ]
    assert [r[0] for r in ops.rows] == ["linear", "skip"]  # the best quarter picked linear more
    assert ops.rows[0][1] == "67%" and ops.rows[0][3] == "3.3"


def test_a_sweep_without_an_architecture_has_no_section():
    study = optuna.create_study()
    record_space(study, parse_search_space({"x": "interval(0, 1)"}, []), n_trials=1)
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5},
            distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
            value=1,
        )
    )
    assert architecture_section(study.user_attrs, study.get_trials(), objectives_of(study)) is None
