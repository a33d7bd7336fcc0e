"""The page's feed reads a study incrementally: after the first read, only new and unfinished
trials are turned into rows, and a page gets only the rows changed since its cursor."""

from __future__ import annotations

import json

import optuna
import pytest
from optuna.distributions import FloatDistribution

from helpers import load, run_steer, start_quadratic_app, wait_for_marker
from hydratune.attrs import SEGMENT
from hydratune.schedule import is_paused
from hydratune.serve import Feed
from hydratune.serve import state as feed_state
from hydratune.space import SearchSpace
from hydratune.steering import write_action
from hydratune.steering.record import record_space
from schedule.test_asha import sweep as asha_sweep

SPACE = {"x": FloatDistribution(-5, 5)}
row = feed_state.row  # the real one; the test below wraps it to count the trials read


def study_of(values: list[float]) -> optuna.Study:
    study = optuna.create_study()
    record_space(study, SearchSpace(distributions=dict(SPACE)), 10)
    for value in values:
        study.tell(study.ask(SPACE), value)
    return study


def test_a_page_gets_only_what_changed_since_its_cursor(monkeypatch):
    study = study_of([3.0, 1.0, 2.0])
    feed = Feed(study)
    first = feed.delta()
    assert [r["number"] for r in first["trials"]] == [0, 1, 2]
    assert first["summary"]["best"] == 1 and first["summary"]["finished"] == 3

    read: list[int] = []
    monkeypatch.setattr(feed_state, "row", lambda t: read.append(t.number) or row(t))
    running = study.ask(SPACE)
    running.report(0.5, 0)
    feed.refresh(force=True)
    update = feed.delta(first["version"])
    assert [r["number"] for r in update["trials"]] == [3] and read == [3]
    assert update["trials"][0]["curve"] == [[0, 0.5]]
    assert update["summary"]["counts"]["running"] == 1

    study.tell(running, 0.5)
    feed.refresh(force=True)
    done = feed.delta(update["version"])
    assert [(r["number"], r["state"]) for r in done["trials"]] == [(3, "complete")]
    assert read == [3, 3], "finished trials are never read again"
    assert done["summary"]["best"] == 3
    assert feed.delta(done["version"])["trials"] == []


def test_a_trial_failed_by_hand_is_not_the_best_and_the_summary_says_why():
    study = study_of([3.0, 1.0])
    write_action(study, "fail", {"trial": 1, "reason": "a bad node"}, "fail #1: a bad node", 2)
    summary = Feed(study).delta()["summary"]
    assert summary["best"] == 0 and summary["failed_by_hand"] == {"1": "a bad node"}
    assert summary["log"][0]["action"] == "fail #1: a bad node"


@pytest.mark.slow
def test_a_sweep_killed_with_kill_9_is_not_running_as_steer_show_says(tmp_path):
    sweeper = start_quadratic_app(tmp_path, "hydra.sweeper.n_trials=3", hang_at=1)
    wait_for_marker(tmp_path / "hanging", sweeper)
    feed = Feed(load("quadratic", tmp_path))
    alive = feed.delta()
    (running,) = [r for r in alive["trials"] if r["state"] == "running"]
    assert alive["summary"]["mode"] == "running" and alive["summary"]["eta_s"] is not None
    assert running["number"] == 1 and "lost" not in running["worker"]

    sweeper.kill()  # kill -9: trial #1 stays RUNNING in the study, and nothing runs it
    sweeper.communicate(timeout=60)
    feed.refresh(force=True)
    killed = feed.delta(alive["version"])
    mode = "not running (the processes of its running trials have ended: run it again)"
    assert killed["summary"]["mode"] == mode and killed["summary"]["eta_s"] is None
    assert [r["worker"] for r in killed["trials"]] == [f"{running['worker']} (ended: lost)"]
    shown = run_steer(tmp_path, "sweeps/quadratic", "show")
    assert shown.returncode == 0, shown.stderr
    said = " ".join(shown.stdout.split())
    assert f"study 'quadratic': {mode}," in said
    assert "(ended: lost)" in said


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")
def test_the_rows_of_a_real_asha_sweep_say_where_each_paused_trial_paused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    asha_sweep("hydra.sweeper.n_trials=6")
    trials = load("mlp_digits", tmp_path).trials
    rows = {r["number"]: r for r in Feed(load("mlp_digits", tmp_path)).delta()["trials"]}
    assert any(is_paused(t) for t in trials)
    for trial in trials:
        segment = trial.user_attrs[SEGMENT]
        shown = f"rung {segment['rung']}, {segment['epochs']} epochs"
        assert rows[trial.number]["paused"] == (shown if is_paused(trial) else None)


def test_on_the_wire_rows_are_lists_and_parameters_indexed_pairs():
    study = study_of([3.0])
    study.tell(study.ask({"y": FloatDistribution(0, 1), **SPACE}), 1.0)  # another parameter
    feed = Feed(study)
    version, text = feed.wire()
    wire = json.loads(text)
    rows = {r["number"]: r for r in feed.delta()["trials"]}
    assert version == wire["version"] == feed.delta()["version"]
    for cells in wire["trials"]:
        shown = dict(zip(wire["columns"], cells, strict=True))
        pairs = shown.pop("params")
        params = {wire["params"][pairs[i]]: pairs[i + 1] for i in range(0, len(pairs), 2)}
        assert {**shown, "params": params} == {"curve": None, **rows[shown["number"]]}
    assert feed.wire()[1] is text  # the first state is written once per version
