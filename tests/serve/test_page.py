"""``hydratune serve`` in real headless Chromium against a sweep running in the background:
each control, clicked on the page, takes effect in the study and on the page; a bad input shows
the command's error and writes nothing; study values never run as code. How soon a change shows
(the issue's 2 s) is measured by ``bench/serve.py`` on a quiet machine, not asserted here: these
tests share two cores with the rest of the suite."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from browser import Tab, open_tab
from optuna.trial import TrialState

from helpers import load, multirun
from hydratune.steering import read_state

pytestmark = [pytest.mark.slow, pytest.mark.chromium]
LIVE_S = 10.0  # a deadline for a change to show, not the measured bound
CHARTS = "!!(window.Plotly && document.querySelector('#parallel .plot-container'))"


def steering(cwd: Path):
    return read_state(load("quadratic", cwd).user_attrs)


def act(tab: Tab, click: str, on_page: str, what: str) -> float:
    """Click ``click``; the seconds until ``on_page`` holds (within the ``LIVE_S`` deadline)."""
    tab.evaluate("document.getElementById('message').textContent = ''")
    start = time.monotonic()
    tab.click(click)
    tab.wait(on_page, what, timeout=LIVE_S)
    error = tab.text("#error")
    assert error == "", f"{what}: {error}"
    return time.monotonic() - start


def shows(selector: str, text: str) -> str:
    return f"(document.querySelector({selector!r}) || {{}}).textContent?.includes({text!r})"


def test_every_control_takes_effect_in_the_study_and_on_the_page(tmp_path, background, serve):
    sweep = background(tmp_path, "hydra.sweeper.n_trials=6", "curve_steps=0")
    sweep.started(0)
    server = serve(tmp_path, "sweeps/quadratic")
    with open_tab(server.url) as tab:
        tab.wait(shows("#running", "#0"), "running trial #0 on the page", timeout=30)
        tab.fill("#user", "alice")
        tab.fill("#n-trials", "9")  # typed before the page redraws: pause and resume redraw it

        act(tab, "#pause", shows("#mode", "paused"), "pause")
        assert steering(tmp_path).mode == "paused"
        act(tab, "#resume", shows("#mode", "running"), "resume")
        assert steering(tmp_path).mode == "running"

        assert tab.evaluate("document.getElementById('n-trials').value") == "9"
        act(tab, "#set-n-trials", shows("#progress", "of n_trials 9"), "n_trials")
        assert steering(tmp_path).n_trials == 9

        tab.check('#params .use[data-key="kind"]')
        tab.fill('#params .value[data-key="kind"]', "b")
        act(tab, "#fix", shows('#params tr[data-key="kind"] .steered', "fixed b"), "fix")
        assert steering(tmp_path).fixed == {"kind": "b"}
        act(tab, '#params .unfix[data-key="kind"]', "!" + shows("#params", "fixed b"), "unfix")
        assert steering(tmp_path).fixed == {}

        tab.evaluate("document.getElementById('narrow-key').value = 'x'")
        tab.fill("#narrow-low", "0")
        tab.fill("#narrow-high", "2")
        act(tab, "#narrow", shows('#params tr[data-key="x"] .steered', "[0, 2]"), "narrow")
        assert str(steering(tmp_path).narrowed["x"]).startswith("FloatDistribution(high=2.0")

        tab.check('#params .use[data-key="kind"]', False)
        for key, value in (("x", "1.5"), ("y", "0")):
            tab.check(f'#params .use[data-key="{key}"]')
            tab.fill(f'#params .value[data-key="{key}"]', value)
        act(tab, "#enqueue", shows("#log", "enqueue x=1.5 y=0"), "enqueue")
        waiting = load("quadratic", tmp_path).get_trials(states=(TrialState.WAITING,))
        assert len(waiting) == 1  # its values show once it runs, below

        act(tab, '#running .prune[data-number="0"]', shows("#log", "prune 0"), "prune")
        tab.wait(shows('#trials tr[data-number="0"]', "pruned"), "trial #0 pruned", LIVE_S)
        assert load("quadratic", tmp_path).trials[0].state == TrialState.PRUNED
        sweep.started(1)  # the enqueued point runs next
        ran = load("quadratic", tmp_path).trials[1].params
        assert (ran["x"], ran["y"]) == (1.5, 0)  # kind was left to the sampler
        sweep.release(1)
        tab.wait(shows('#trials tr[data-number="1"]', "complete"), "trial #1 complete", 10)

        tab.fill("#trial-number", "1")
        tab.fill("#trial-text", "the loss spiked at step 3")
        act(
            tab,
            "#note",
            shows('#trials tr[data-number="1"]', "alice@127.0.0.1: the loss spiked"),
            "note",
        )
        notes = steering(tmp_path).notes[1]
        assert [a.args["note"] for a in notes] == ["the loss spiked at step 3"]
        tab.fill("#trial-text", "a bad node")
        failed = shows('#trials tr[data-number="1"]', "failed by hand: a bad node")
        act(tab, "#fail", failed, "fail")
        assert steering(tmp_path).failed == {1: "a bad node"}
        assert "failed by hand: a bad node" in tab.text("#failures")

        act(tab, "#stop", shows("#mode", "stopped"), "stop")
        assert steering(tmp_path).mode == "stopped"
        assert all(a.by.startswith("alice@") for a in steering(tmp_path).actions)
        assert tab.errors() == []
    sweep.finish()


@pytest.mark.parametrize(
    ("fill", "button", "error"),
    [
        ({'#params .value[data-key="x"]': "9"}, "#fix", "fix.x=9.0: outside [-5.0, 5.0]"),
        ({"#narrow-low": "-9", "#narrow-high": "2"}, "#narrow", "not within the declared range"),
        (
            {"#n-trials": "0"},
            "#set-n-trials",
            "n_trials: 0 is not a whole number of trials from 1 to 1,000,000,000",
        ),
        ({"#trial-number": "0", "#trial-text": "wrong"}, "#fail", "fail: trial #0 is running"),
    ],
)
def test_an_invalid_input_shows_its_error_inline_and_writes_nothing(
    tmp_path, background, serve, fill, button, error
):
    sweep = background(tmp_path, "hydra.sweeper.n_trials=2")
    sweep.started(0)
    server = serve(tmp_path, "sweeps/quadratic")
    before = load("quadratic", tmp_path).user_attrs
    with open_tab(server.url) as tab:
        tab.wait(shows("#running", "#0"), "the page")
        tab.fill("#user", "alice")
        tab.check('#params .use[data-key="x"]')
        tab.evaluate("document.getElementById('narrow-key').value = 'x'")
        for selector, value in fill.items():
            tab.fill(selector, value)
        tab.click(button)
        said, _ = tab.wait("document.getElementById('error').textContent", "the error", LIVE_S)
        assert error in said and said.endswith("Nothing was written."), said
    assert load("quadratic", tmp_path).user_attrs == before
    sweep.finish()


PAYLOAD = "<img src=x onerror=pwned={}><script>pwned={}</script>"  # fits a user name


def test_html_in_parameter_values_notes_and_user_names_is_shown_as_text(tmp_path, serve):
    os.chdir(tmp_path)
    choice = PAYLOAD.format(3, 3)
    multirun(["hydra.sweeper.n_trials=3", f"hydra.sweeper.params.kind=\"choice(b,'{choice}')\""])
    server = serve(tmp_path, "sweeps/quadratic")
    with open_tab(server.url) as tab:
        tab.wait(shows("#trials", "#2"), "the trials")
        tab.fill("#user", PAYLOAD.format(1, 1))
        tab.fill("#trial-number", "0")
        tab.fill("#trial-text", PAYLOAD.format(2, 2))
        tab.click("#note")
        tab.wait(shows("#log", "note #0"), "the note in the log", LIVE_S)
        tab.click('#trials tr[data-number="0"] .near')
        tab.wait(CHARTS, "the charts")
        page = tab.evaluate("document.body.textContent")
        assert PAYLOAD.format(1, 1) in page and PAYLOAD.format(2, 2) in page
        assert PAYLOAD.format(3, 3) in tab.text("#params")
        injected = tab.evaluate(
            "document.querySelectorAll('body img, body script:not([src])').length"
        )
        assert injected == 0
        assert tab.evaluate("typeof pwned === 'undefined'")


def test_a_screenshot_of_the_main_view(tmp_path, serve, monkeypatch):
    monkeypatch.chdir(tmp_path)
    multirun(["hydra.sweeper.n_trials=30", "curve_steps=3"])
    server = serve(tmp_path, "sweeps/quadratic")
    with open_tab(server.url, height=1400) as tab:
        tab.fill("#user", "alice")
        tab.fill("#n-trials", "40")
        tab.click("#set-n-trials")
        tab.wait(shows("#log", "n_trials 40"), "the steering log", LIVE_S)
        tab.wait(CHARTS, "the charts")
        tab.wait("!!document.querySelector('#history .scatterlayer')", "the history")
        shot = Path(os.environ.get("HYDRATUNE_SCREENSHOT", tmp_path / "serve.png"))
        tab.screenshot(shot)
        assert tab.errors() == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
