"""A scheduled sweep on the page: the state carries ASHA's rungs as the report reads them
(``schedule.schedule_data``), once and then only when they change, and the page
draws them (and PBT's lineage) in a section a sweep without a schedule does not show."""

from __future__ import annotations

import json
import shutil
from contextlib import chdir

import pytest
from browser import open_tab
from optuna.trial import TrialState, create_trial

from helpers import load, wait_for
from hydratune.attrs import RESUMED_FROM, SEGMENT
from hydratune.schedule import POPULATION_DONE, is_paused, resumed_number, value_at_end
from hydratune.steering import write_action
from schedule.test_asha import sweep as asha_sweep
from schedule.test_pbt import sweep as pbt_sweep
from serve.test_app import get

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")]
SCHEDULE = "document.getElementById('schedule')"


@pytest.fixture(scope="module")
def asha(tmp_path_factory):
    """One real ASHA sweep (8 tiny Lightning trials, rungs at 1, 2 and 4 epochs) for the
    tests that only read it; a test that adds to the study copies it first."""
    cwd = tmp_path_factory.mktemp("asha")
    with chdir(cwd):
        asha_sweep("hydra.sweeper.n_trials=8")
    return cwd


def state(server, since: int = 0) -> dict:
    return json.loads(get(f"{server.url}api/state?since={since}")[2])


def test_a_pbt_population_trained_to_its_end_is_shown_not_running_saying_why(
    serve, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # 2 members x 3 epochs: the population ends before n_trials
    pbt_sweep("hydra.sweeper.n_trials=10", "hydra.sweeper.scheduler.population=2")
    server = serve(tmp_path, "--study", "mlp_digits")
    summary = state(server)["summary"]
    assert summary["finished"] < summary["n_trials"] == 10
    assert summary["mode"] == f"not running (pbt: {POPULATION_DONE})"  # as `steer show` says


def test_a_pbt_population_left_with_held_members_only_is_shown_not_running_saying_so(
    serve, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # both members paused after their first epoch, both held
    pbt_sweep("hydra.sweeper.n_trials=2", "hydra.sweeper.scheduler.population=2")
    study = load("mlp_digits", tmp_path)
    write_action(study, "n_trials", {"n_trials": 10}, "n_trials 10", 2)  # more to train
    for number in (0, 1):
        write_action(study, "pause_trial", {"trial": number}, f"pause {number}", 2)
    summary = state(serve(tmp_path, "--study", "mlp_digits"))["summary"]
    held = "pbt: the members left to train are held by `steer pause` (#0, #1)"
    assert summary["mode"].startswith(f"not running ({held}")  # as `steer show` says


def test_the_state_carries_the_rungs_once_and_again_only_when_they_change(asha, serve, tmp_path):
    shutil.copytree(asha, tmp_path, dirs_exist_ok=True)
    server = serve(tmp_path, "--study", "mlp_digits")
    first = state(server)
    study = load("mlp_digits", tmp_path)
    trials = study.trials
    promoted = {t.user_attrs[RESUMED_FROM]["trial"] for t in trials if RESUMED_FROM in t.user_attrs}
    schedule = first["schedule"]
    assert schedule["kind"] == "asha" and promoted
    for rung in schedule["rungs"]:
        runs = [t for t in trials if t.user_attrs[SEGMENT]["rung"] == rung["rung"]]
        assert rung["epochs"] == runs[0].user_attrs[SEGMENT]["epochs"]
        expected = [[t.number, value_at_end(t), t.number in promoted] for t in runs]
        assert rung["runs"] == expected
        assert rung["paused"] == sum(map(is_paused, runs))
        assert rung["promoted"] == sum(t.number in promoted for t in runs)
    assert sum(len(r["runs"]) for r in schedule["rungs"]) == len(trials) == 8
    # the paused runs are counted as paused, not pruned: PRUNED in Optuna, not stopped
    counts = first["summary"]["counts"]
    assert counts["paused"] == sum(map(is_paused, trials)) > 0
    assert counts["paused"] + counts["pruned"] == sum(t.state == TrialState.PRUNED for t in trials)

    # a change that is not the schedule's: the page is not sent the schedule again
    write_action(study, "note", {"trial": 0, "note": "fine"}, "note #0: fine", len(trials))
    noted = wait_for(lambda: state(server, first["version"])["summary"]["notes"], "the note", 30)
    assert noted and "schedule" not in state(server, first["version"])

    # another run at rung 0: the schedule again, with it
    run = trials[0]
    segment = {**run.user_attrs[SEGMENT], "rung": 0}
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE,
            value=0.5,
            params=run.params,
            distributions=run.distributions,
            user_attrs={SEGMENT: segment},
        )
    )
    changed = wait_for(lambda: state(server, first["version"]).get("schedule"), "the new run", 30)
    assert changed["rungs"][0]["runs"][-1] == [len(trials), 0.5, False]


@pytest.mark.chromium
def test_the_page_draws_the_rungs_and_their_table(asha, serve):
    trials = load("mlp_digits", asha).trials
    server = serve(asha, "--study", "mlp_digits")
    with open_tab(server.url) as tab:
        tab.wait(f"{SCHEDULE}.data?.length", "the schedule drawn", timeout=60)
        assert not tab.evaluate("document.getElementById('schedule-box').hidden")
        assert tab.text("#schedule-kind") == "(asha)"
        drawn = tab.evaluate(f"{SCHEDULE}.data.map((t) => [t.name, t.y.length])")
        rungs = sorted({t.user_attrs[SEGMENT]["rung"] for t in trials})
        promoted = {resumed_number(t) for t in trials} - {None}
        assert drawn == [  # as the report draws them: one legend entry per colour
            ["promoted to the next rung", len(promoted)],
            ["not promoted", len(trials) - len(promoted)],
        ]
        # the points really are on the page (SVG), not only in the data
        assert tab.evaluate(f"{SCHEDULE}.querySelectorAll('.point').length") == len(trials)
        table = tab.evaluate(
            "[...document.querySelectorAll('#schedule-table tbody tr')]"
            ".map((r) => [...r.cells].map((c) => c.textContent))"
        )
        per_rung = [sum(t.user_attrs[SEGMENT]["rung"] == r for t in trials) for r in rungs]
        shown = [(int(row[0]), int(row[2])) for row in table]
        assert shown == list(zip(rungs, per_rung, strict=True))
        assert tab.errors() == []


@pytest.mark.chromium
def test_the_page_draws_pbts_lineage_and_its_members(tmp_path, serve, monkeypatch):
    """A tiny real PBT sweep (2 members, exploit or continue after each epoch): each member's
    runs as points, each continuation as a line from the run it continued, a row per member."""
    monkeypatch.chdir(tmp_path)
    pbt_sweep("hydra.sweeper.n_trials=4", "hydra.sweeper.scheduler.population=2")
    trials = load("mlp_digits", tmp_path).trials
    members = sorted({t.user_attrs[SEGMENT]["member"] for t in trials})
    server = serve(tmp_path, "--study", "mlp_digits")
    with open_tab(server.url) as tab:
        tab.wait(f"{SCHEDULE}.data?.length", "the lineage drawn", timeout=60)
        assert tab.text("#schedule-kind") == "(pbt)"
        drawn = tab.evaluate(f"{SCHEDULE}.data.map((t) => [t.name, t.x.length])")
        colors = tab.evaluate(f"{SCHEDULE}.data.map((t) => (t.line || t.marker).color)")
        assert colors[0::2] == colors[1::2] and len(set(colors)) == len(members)  # line = runs
        runs = {m: [t for t in trials if t.user_attrs[SEGMENT]["member"] == m] for m in members}
        continued = {m: sum(resumed_number(t) is not None for t in runs[m]) for m in members}
        assert drawn == [
            entry
            for m in members
            for entry in ([f"member {m}", 3 * continued[m]], [f"member {m} runs", len(runs[m])])
        ]  # a line is its two ends and a gap
        assert sum(continued.values()) == len(trials) - len(members)  # all but the first runs
        assert tab.evaluate(f"{SCHEDULE}.querySelectorAll('.point').length") == len(trials)
        table = tab.evaluate(
            "[...document.querySelectorAll('#schedule-table tbody tr')]"
            ".map((r) => [...r.cells].map((c) => c.textContent))"
        )
        assert [(int(row[0]), int(row[1])) for row in table] == [(m, len(runs[m])) for m in members]
        paused = next(t for t in trials if is_paused(t))
        where = f"member {paused.user_attrs[SEGMENT]['member']}, "
        assert where in tab.text(f'#trials tr[data-number="{paused.number}"]')
        assert tab.errors() == []
