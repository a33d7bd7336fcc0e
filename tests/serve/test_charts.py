"""The page's charts (issue 27). At scale drawing follows what a person can see, not the trial
count: with thousands of trials the history draws the best ones, a stride of the rest and the
best-so-far line, says so, and appends a trial that changes neither; every trial stays
reachable in the table. Running trials' learning curves grow live; importance and contour are
drawn when asked, parallel coordinates in WebGL where there is a GPU; several objectives get
their Pareto front (steering.best's: a trial failed by hand is not on it). How fast it draws is
``bench/serve.py``'s to measure."""

from __future__ import annotations

import random
import re

import optuna
import pytest
from bench.serve import STUDY, make_study
from browser import open_tab
from optuna.trial import TrialState, create_trial

from hydratune.compat import trial_by_number
from hydratune.steering import best_trials, write_action
from hydratune.storage import open_storage, storage_url

pytestmark = [pytest.mark.slow, pytest.mark.chromium]
CHARTS = "performance.getEntriesByName('hydratune:charts').length"
WEBGL_PROBED = "performance.getEntriesByName('hydratune:webgl').length"
PARALLEL_KIND = "document.getElementById('parallel').data[0].type"
HISTORY_X = "document.getElementById('history').data.map((trace) => trace.x)"
CURVES = "document.getElementById('curves').data.map((trace) => [trace.name, trace.y])"
# The lines of a parallel-coordinates chart: plotly's WebGL one, or SVG lines ended by a gap
LINES = """(d => d[0].type === 'parcoords' ? d[0].dimensions[0].values.length
  : d.reduce((n, trace) => n + trace.y.filter((v) => v === null).length, 0))
  (document.getElementById({div!r}).data)"""


def test_thousands_of_trials_draw_a_selection_appended_to_and_all_reachable(
    tmp_path, serve, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    study = make_study(3000)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    ranked = sorted(complete, key=lambda t: (t.value, t.number))
    server = serve(tmp_path, "--study", STUDY)
    with open_tab(server.url) as tab:
        tab.wait(CHARTS, "the charts", timeout=60)
        assert tab.evaluate("document.getElementById('schedule-box').hidden")  # no schedule
        best, others, line = tab.evaluate(HISTORY_X)
        drawn = set(best) | set(others)
        top = tab.evaluate("HISTORY_BEST")
        assert set(best) == {t.number for t in ranked[:top]}  # every trial near the best
        assert top < len(drawn) < len(complete)
        assert line[0] == ranked[0].number or line[-2] == ranked[0].number  # its last step
        note = tab.text("#history-note")
        assert f"{len(drawn)} of {len(complete)} points" in note and "table" in note

        hidden = next(t.number for t in complete if t.number not in drawn)
        tab.fill("#find-number", str(hidden))
        tab.click("#find")
        assert "(found)" in tab.text(f'#trials tr[data-number="{hidden}"]')

        # a running trial completes, worse than the best ones: appended, not drawn again
        tab.evaluate("window.before = document.getElementById('history').data[0]")
        stride = int(re.search(r"1 in (\d+) of the rest", note).group(1))
        appended = next(
            t.number
            for t in study.get_trials(states=(TrialState.RUNNING,))
            if t.number % stride == 0  # on the stride of the rest
        )
        study.tell(appended, ranked[-1].value)
        tab.wait(f"{HISTORY_X}[1].includes({appended})", f"trial #{appended} drawn", 30)
        assert tab.evaluate("document.getElementById('history').data[0] === window.before")

        # a new best changes the selection: drawn again, still within the limit
        study.tell(study.get_trials(states=(TrialState.RUNNING,))[0].number, -1.0)
        tab.wait("document.getElementById('history').data[0] !== window.before", "a redraw", 30)
        assert tab.errors() == []


def test_running_curves_grow_live_and_importance_and_contour_are_drawn_when_asked(
    tmp_path, serve, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    study = make_study(60)
    running = study.get_trials(states=(TrialState.RUNNING,))
    server = serve(tmp_path, "--study", STUDY)
    with open_tab(server.url) as tab:
        tab.wait(CHARTS, "the charts", timeout=60)
        assert tab.evaluate(CURVES) == [
            [f"#{t.number}", [t.intermediate_values[s] for s in sorted(t.intermediate_values)]]
            for t in running
        ]
        trial_by_number(study, running[0].number).report(0.125, 3)  # a step more, from a worker
        tab.wait(f"{CURVES}[0][1].includes(0.125)", "the new step on its curve", 30)

        assert tab.evaluate("document.getElementById('importance').data") is None  # on demand
        tab.click("#importance-go")
        tab.wait("document.getElementById('importance').data", "importance", 60)
        drawn = tab.evaluate("(t => [t.y, t.x])(document.getElementById('importance').data[0])")
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        computed = optuna.importance.get_param_importances(study, evaluator=evaluator)
        assert dict(zip(*drawn, strict=True)) == pytest.approx(dict(computed))

        tab.evaluate("document.getElementById('contour-x').value = 'model.optimizer.lr'")
        tab.evaluate("document.getElementById('contour-y').value = 'model.dropout'")
        tab.click("#contour-go")
        tab.wait("document.getElementById('contour').data", "contour", 60)
        contour = tab.evaluate("document.getElementById('contour').data[0]")
        complete = study.get_trials(states=(TrialState.COMPLETE,))
        assert contour["type"] == "contour"
        assert contour["x"] == [t.params["model.optimizer.lr"] for t in complete]
        assert contour["z"] == [t.value for t in complete]

        # parallel coordinates as a GPU draws them: plotly's WebGL parcoords (its shaders are
        # in the page's plotly.js bundle), here on SwiftShader; once the page's own probe has
        # answered (SwiftShader: software), so that its answer does not draw them again
        tab.wait(WEBGL_PROBED, "the WebGL probe", 60)
        tab.evaluate("webgl = 'gpu'; page.drawn = page.parallel = null; drawCharts().then(() => 1)")
        assert tab.evaluate("document.getElementById('parallel').data[0].type") == "parcoords"
        assert tab.evaluate(LINES.format(div="parallel")) == len(complete)
        assert tab.evaluate("document.querySelectorAll('#parallel canvas').length") > 0
        assert tab.errors() == []


def test_parallel_coordinates_follow_the_webgl_probe_this_browser_last_made(
    tmp_path, serve, monkeypatch
):
    """The probe runs after the first charts, off the page's thread; until it answers the
    page draws as the last probe in this browser found (SVG lines when it never ran)."""
    monkeypatch.chdir(tmp_path)
    make_study(60)
    server = serve(tmp_path, "--study", STUDY)
    profile = tmp_path / "profile"
    with open_tab(server.url, profile=profile) as tab:
        assert tab.wait(f"{CHARTS} && {PARALLEL_KIND}", "the charts", 60)[0] == "scatter"
        tab.wait(WEBGL_PROBED, "the WebGL probe", 60)
        assert tab.evaluate("localStorage.getItem('hydratune-webgl')") == "software"  # SwiftShader
        tab.evaluate("localStorage.setItem('hydratune-webgl', 'gpu')")  # as a GPU's probe leaves it
        assert tab.errors() == []
    with open_tab(server.url, profile=profile) as tab:
        assert tab.wait(f"{CHARTS} && {PARALLEL_KIND}", "the charts", 60)[0] == "parcoords"
        tab.wait(f"{WEBGL_PROBED} && {PARALLEL_KIND} === 'scatter'", "SVG lines again", 60)
        assert tab.evaluate("localStorage.getItem('hydratune-webgl')") == "software"
        assert tab.errors() == []


def test_three_objectives_draw_their_pareto_front_one_axis_each(tmp_path, serve, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = optuna.create_study(
        study_name="three",
        storage=open_storage(storage_url(None, ".")),
        directions=["minimize", "minimize", "maximize"],
    )
    rng = random.Random(0)
    study.add_trials([create_trial(values=[rng.random() for _ in "abc"]) for _ in range(60)])
    on_front = best_trials(study)[0].number
    write_action(study, "fail", {"trial": on_front, "reason": "wrong"}, "fail", 60)
    front = best_trials(study)  # without it, and with the trials it dominated alone
    server = serve(tmp_path, "--study", "three")
    with open_tab(server.url) as tab:
        tab.wait(CHARTS, "the charts", timeout=60)
        assert tab.evaluate(LINES.format(div="pareto")) == len(front)
        note = tab.text("#pareto-box")
        assert f"the {len(front)} trials on the front of 59, one axis per objective" in note
        assert tab.errors() == []
