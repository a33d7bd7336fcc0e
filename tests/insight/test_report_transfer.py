"""The report's warm-start section: where the transferred configurations came from, and each
transferred trial."""

from __future__ import annotations

import optuna

from hydratune.attrs import TRANSFER, TRANSFERRED_FROM
from hydratune.insight.report.transfer import transfer_section

RECORD = {"mode": "seed", "sources": ["mlp_digits"], "candidates": [{}], "max_trials": 1}


def trials() -> list[optuna.trial.FrozenTrial]:
    return [
        optuna.trial.create_trial(value=0.5, user_attrs={TRANSFERRED_FROM: "mlp_digits#3"}),
        optuna.trial.create_trial(value=0.7),
    ]


def test_sources_in_another_storage_are_named_with_it():
    record = {**RECORD, "storage": "/work/a/outputs/hydratune.journal", "fallback": None}
    summary, transferred = transfer_section({TRANSFER: record}, trials()).tables
    assert ["sources", "mlp_digits (in /work/a/outputs/hydratune.journal)"] in summary.rows
    assert ["guard", "did not fall back"] in summary.rows
    assert [r[1] for r in transferred.rows] == ["mlp_digits#3"]


def test_a_record_without_a_storage_names_the_sources_alone():
    for record in (RECORD, {**RECORD, "storage": None}):  # an older record; the sweep's own
        summary, _ = transfer_section({TRANSFER: record}, trials()).tables
        assert ["sources", "mlp_digits"] in summary.rows


def test_a_prior_transfer_shows_how_many_source_trials_the_sampler_saw_and_the_controls():
    record = {**RECORD, "mode": "prior", "prior_trials": 40, "controls": [2], "prior_until": 10}
    summary, _ = transfer_section({TRANSFER: record}, trials()).tables
    shown = "40 (before trial #10; drawn without them: #2)"
    assert ["source trials shown to the sampler", shown] in summary.rows
