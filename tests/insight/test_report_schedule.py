"""The report's schedule section on real scheduled sweeps (the sweeps of tests/schedule):
ASHA's rungs with what was promoted, PBT's lineage with the resumed_from edges."""

from __future__ import annotations

import pytest

from helpers import load
from hydratune.attrs import RESUMED_FROM, SEGMENT
from hydratune.insight.report import write_report
from hydratune.insight.report.model import objectives_of
from hydratune.insight.report.schedule import schedule_section
from schedule.test_asha import sweep as asha_sweep
from schedule.test_pbt import sweep as pbt_sweep

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")]


def test_asha_rungs_count_the_runs_paused_and_promoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    asha_sweep("hydra.sweeper.n_trials=8")
    study = load("mlp_digits", tmp_path)
    trials = study.trials
    section = schedule_section(trials, objectives_of(study)[0])
    (table,) = section.tables
    rungs = {int(r[0]): r for r in table.rows}
    for rung, row in rungs.items():
        runs = [t for t in trials if t.user_attrs[SEGMENT]["rung"] == rung]
        promoted = {
            t.user_attrs[RESUMED_FROM]["trial"] for t in trials if RESUMED_FROM in t.user_attrs
        }
        assert row[2] == str(len(runs))
        assert row[4] == str(sum(t.number in promoted for t in runs))
    assert int(rungs[0][4]) >= 1 and 1 in rungs  # something was promoted, and reached rung 1
    ((name, fig),) = section.figures
    assert sum(len(trace.x) for trace in fig.data) == len(trials)
    # one legend entry per colour, each naming what its colour means
    shown = {trace.name: (trace.marker.color, len(trace.x)) for trace in fig.data}
    assert shown == {
        "promoted to the next rung": ("#d62728", len(promoted)),
        "not promoted": ("#1f77b4", len(trials) - len(promoted)),
    }
    files = write_report(study, tmp_path / "report", png=False)
    markdown = files.markdown.read_text()
    assert "ASHA rungs" in markdown
    # paused runs are PRUNED in Optuna; the report counts and lists them as paused
    paused = sum(t.state.name == "PRUNED" for t in trials)
    assert f"- **trials**: {len(trials) - paused} complete, {paused} paused\n" in markdown
    assert markdown.count("| paused | paused after ") == paused  # the stopped trials table


def test_pbt_lineage_draws_one_line_per_resumed_from_edge(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pbt_sweep("hydra.sweeper.n_trials=8", "hydra.sweeper.scheduler.explore=[]")  # as test_pbt
    study = load("mlp_digits", tmp_path)
    trials = study.trials
    section = schedule_section(trials, objectives_of(study)[0])
    ((name, fig),) = section.figures
    lines = [trace for trace in fig.data if trace.mode == "lines"]
    edges = sum(list(trace.x).count(None) for trace in lines)
    assert edges == sum(RESUMED_FROM in t.user_attrs for t in trials) > 0
    # a member's runs are drawn in its line's colour, and no two members share one
    colors = {trace.legendgroup: set() for trace in fig.data}
    for trace in fig.data:
        drawn = trace.line if trace.mode == "lines" else trace.marker
        colors[trace.legendgroup].add(drawn.color)
    assert all(len(c) == 1 for c in colors.values())
    assert len({c for group in colors.values() for c in group}) == len(colors) == 4
    (table,) = section.tables
    assert sorted(int(r[0]) for r in table.rows) == [0, 1, 2, 3]
    assert sum(int(r[1]) for r in table.rows) == len(trials)


def test_an_unscheduled_sweep_has_no_schedule_section():
    import optuna

    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(value=1.0))
    assert schedule_section(study.trials, objectives_of(study)[0]) is None
