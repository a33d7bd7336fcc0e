"""The live sweep view: counts, best value, elapsed and ETA as a person reads them in a
terminal, and silence when stdout is not a terminal."""

from __future__ import annotations

import io
import logging
import sys

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from hydratune.sweep.progress import SweepProgress

X = {"x": FloatDistribution(0, 1)}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def terminal() -> Console:
    return Console(record=True, force_terminal=True, width=100, file=io.StringIO())


def add(study: optuna.Study, state: TrialState, value: float | None = None, **attrs) -> None:
    study.add_trial(
        create_trial(state=state, value=value, params={"x": 0.5}, distributions=X, user_attrs=attrs)
    )


def screen(progress: SweepProgress) -> str:
    console = Console(record=True, width=100, file=io.StringIO())
    console.print(progress.render())
    return console.export_text()


def test_the_view_counts_trials_and_shows_the_best_with_its_number():
    study = optuna.create_study()
    add(study, TrialState.COMPLETE, 0.5)
    add(study, TrialState.COMPLETE, 0.25)
    add(study, TrialState.PRUNED)
    add(study, TrialState.FAIL)
    study.ask(X)  # running
    progress = SweepProgress(study, n_trials=10, console=terminal())
    with progress:
        text = screen(progress)
    assert "trials 4/10" in text  # complete, pruned and failed, as n_trials counts them
    assert "running 1  pruned 1  failed 1" in text
    assert "best 0.25 (trial #1)" in text
    assert "study " + study.study_name in text


def test_a_schedules_paused_runs_are_counted_apart_from_the_pruned_ones():
    study = optuna.create_study()
    add(study, TrialState.PRUNED, stopped_reason="paused after 1 epochs (asha rung 0, to epoch 1)")
    add(study, TrialState.PRUNED, stopped_reason="pruned at epoch 1")
    add(study, TrialState.COMPLETE, 0.5)
    progress = SweepProgress(study, n_trials=10, console=terminal())
    with progress:
        text = screen(progress)
    assert "trials 3/10  running 0  pruned 1  paused 1  failed 0" in text


def test_eta_follows_the_rate_of_trials_finished_since_the_view_opened():
    study = optuna.create_study()
    add(study, TrialState.COMPLETE, 1.0)  # finished before: does not speed up the estimate
    clock = FakeClock()
    progress = SweepProgress(study, n_trials=11, console=terminal(), clock=clock)
    with progress:
        assert "ETA —" in screen(progress)
        clock.now += 20.0
        add(study, TrialState.COMPLETE, 2.0)
        add(study, TrialState.PRUNED)
        progress.update()  # 2 finished in 20 s; 8 left
        assert progress.eta() == pytest.approx(80.0)
        text = screen(progress)
    assert "elapsed 00:20  ETA 01:20" in text
    assert "trials 3/11" in text


def test_the_view_is_drawn_on_a_terminal_and_updates_after_each_trial():
    study = optuna.create_study()
    console = terminal()
    with SweepProgress(study, n_trials=2, console=console) as progress:
        add(study, TrialState.COMPLETE, 3.0)
        progress.update()
    drawn = console.export_text()
    assert "trials 1/2" in drawn and "best 3 (trial #0)" in drawn


def test_a_multi_objective_sweep_shows_the_size_of_its_pareto_front():
    study = optuna.create_study(directions=["minimize", "maximize"])
    for values in ([1.0, 1.0], [2.0, 2.0], [3.0, 1.0]):
        study.add_trial(create_trial(values=values, params={"x": 0.5}, distributions=X))
    progress = SweepProgress(study, n_trials=5, console=terminal())
    with progress:
        assert "Pareto front of 2 trial(s)" in screen(progress)


def test_nothing_is_written_when_stdout_is_not_a_terminal():
    study = optuna.create_study()
    out = io.StringIO()
    with SweepProgress(study, n_trials=3, console=Console(file=out)) as progress:
        add(study, TrialState.COMPLETE, 1.0)
        progress.update()
    assert out.getvalue() == ""
    assert progress.snapshot.complete == 1  # it still kept count


def test_a_view_not_shown_reads_the_study_only_when_its_counts_are_asked_for(monkeypatch):
    study = optuna.create_study()
    reads = []
    get_trials = study.get_trials
    monkeypatch.setattr(study, "get_trials", lambda **kw: reads.append(1) or get_trials(**kw))
    with SweepProgress(study, n_trials=3, console=Console(file=io.StringIO())) as progress:
        opened = len(reads)
        for _ in range(3):
            add(study, TrialState.COMPLETE, 1.0)
            progress.update()
        assert len(reads) == opened  # not once per trial
        assert progress.snapshot.complete == 3
    assert len(reads) == opened + 1


def test_under_pytest_the_default_console_is_quiet(capsys):
    study = optuna.create_study()
    with SweepProgress(study, n_trials=1) as progress:
        progress.update()
    assert not progress.enabled
    assert capsys.readouterr().out == ""


def test_log_lines_go_above_the_view_and_handlers_get_their_stream_back():
    handler = logging.StreamHandler(sys.__stderr__)
    logging.getLogger().addHandler(handler)
    try:
        with SweepProgress(optuna.create_study(), n_trials=1, console=terminal()):
            assert handler.stream is not sys.__stderr__  # rich's proxy for the live display
        assert handler.stream is sys.__stderr__
    finally:
        logging.getLogger().removeHandler(handler)


def test_a_trial_that_starts_is_shown_running_before_it_ends():
    # In one process the view was redrawn only after each tell: "running 0" in every refresh.
    study = optuna.create_study()
    console = terminal()
    with SweepProgress(study, n_trials=2, console=console) as progress:
        study.ask(X)  # the loop asks, then draws (on_started), then runs the trial
        progress.started()
        assert "running 1" in screen(progress)
    assert "running 1" in console.export_text()
