"""The page's charts at scale (issue 27): drawing follows what a person can see, not the trial
count. With thousands of trials the history draws the best ones, a stride of the rest and the
best-so-far line, says so, and appends a trial that changes neither; every trial stays
reachable in the table. How fast it draws is ``bench/serve.py``'s to measure."""

from __future__ import annotations

import re

import pytest
from bench.serve import STUDY, make_study
from browser import open_tab
from optuna.trial import TrialState

pytestmark = [pytest.mark.slow, pytest.mark.chromium]
CHARTS = "performance.getEntriesByName('hydratune:charts').length"
HISTORY_X = "document.getElementById('history').data.map((trace) => trace.x)"


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
        best, others, line = tab.evaluate(HISTORY_X)
        drawn = set(best) | set(others)
        assert set(best) == {t.number for t in ranked[:500]}  # every trial near the best
        assert 500 < len(drawn) < len(complete)
        assert line[0] == ranked[0].number or line[-2] == ranked[0].number  # its last step
        note = tab.text("#history-note")
        assert f"{len(drawn)} of {len(complete)} points" in note and "table" in note

        hidden = next(t.number for t in complete if t.number not in drawn)
        tab.fill("#find-number", str(hidden))
        tab.click("#find")
        assert "(found)" in tab.text(f'#trials tr[data-number="{hidden}"]')

        # a running trial completes, worse than the best 500: appended, not drawn again
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
