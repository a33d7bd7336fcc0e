"""One definition of how far a study runs: which trials count toward ``n_trials`` and which
``n_trials`` is in force. The sweep loop, the live view, ``optimization_results.yaml`` and
``hydratune steer show`` all read it, so after failures and steering they agree.

The slow tests run the quadratic app and ``hydratune steer`` as commands, as a user does; the
live view draws as in a terminal (``TTY_COMPATIBLE=1``) and its last frame is read back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from helpers import APPS, load
from hydratune.attrs import FAIL_REASON, LOST, SURPLUS
from hydratune.space.search_space import SearchSpace
from hydratune.steering import (
    counts_toward_n_trials,
    finished_count,
    study_n_trials,
    write_action,
)
from hydratune.steering.record import record_space

X = {"x": FloatDistribution(0, 1)}


def trial(state: TrialState, **attrs) -> optuna.trial.FrozenTrial:
    value = 0.5 if state == TrialState.COMPLETE else None
    return create_trial(
        state=state, value=value, params={"x": 0.5}, distributions=X, user_attrs=attrs
    )


def test_complete_pruned_and_failed_trials_count_lost_and_surplus_ones_do_not():
    counted = [
        trial(TrialState.COMPLETE),
        trial(TrialState.PRUNED),
        trial(TrialState.FAIL, **{FAIL_REASON: "ValueError: diverged"}),
        # parameters that killed their worker on every attempt: a failure of their own
        trial(TrialState.FAIL, **{FAIL_REASON: "worker process died, on each of 2 attempt(s)"}),
    ]
    not_counted = [
        trial(TrialState.FAIL, **{LOST: True, FAIL_REASON: "lost: worker process died"}),
        trial(TrialState.FAIL, **{FAIL_REASON: SURPLUS}),
        trial(TrialState.RUNNING),
        trial(TrialState.WAITING),
    ]
    assert [counts_toward_n_trials(t) for t in counted] == [True] * 4
    assert [counts_toward_n_trials(t) for t in not_counted] == [False] * 4
    assert finished_count(counted + not_counted) == 4


def test_the_latest_n_trials_action_is_in_force_else_the_sweeps_own():
    study = optuna.create_study()
    assert study_n_trials(study.user_attrs) is None  # no hydratune sweep ran it
    record_space(study, SearchSpace(distributions=X), n_trials=5)
    assert study_n_trials(study.user_attrs) == 5
    write_action(study, "n_trials", {"n_trials": 9}, "n_trials 9", 0)
    write_action(study, "n_trials", {"n_trials": 7}, "n_trials 7", 0)
    assert study_n_trials(study.user_attrs) == 7


# --- the four readers, with the app and `hydratune steer` as commands -----------------------

FAILING = ["fail_when_x_above=2", "hydra.sweeper.max_failure_rate=1.0"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LIVE_VIEW = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "0", "NO_COLOR": "1", "COLUMNS": "120"}


def run_app(cwd: Path, *overrides: str) -> str:
    """``python quadratic_app.py -m *overrides`` with the live view drawing; its output."""
    done = subprocess.run(
        [sys.executable, str(APPS / "quadratic_app.py"), "-m", *overrides],
        cwd=cwd,
        env={**os.environ, **LIVE_VIEW},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return ANSI.sub("", done.stdout + done.stderr)  # the view's bold numbers


def steer(cwd: Path, *words: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hydratune", "steer", "sweeps/quadratic", *words],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def readers(cwd: Path, output: str) -> dict[str, tuple[int, int]]:
    """(finished, n_trials) as each reader says it after a run whose output is ``output``."""
    live = re.findall(r"trials (\d+)/(\d+)", output)
    assert live, f"the live view drew nothing:\n{output}"
    results = yaml.safe_load((cwd / "sweeps/quadratic/optimization_results.yaml").read_text())
    show = re.search(r"(\d+) of n_trials (\d+) finished", steer(cwd, "show"))
    assert show is not None
    study = load("quadratic", cwd)
    return {
        "study": (finished_count(study.trials), study_n_trials(study.user_attrs)),
        "live view": tuple(int(n) for n in live[-1]),
        "optimization_results.yaml": (results["finished"], results["n_trials_in_force"]),
        "steer show": (int(show[1]), int(show[2])),
    }


@pytest.mark.slow
def test_after_failures_and_steer_n_trials_the_loop_live_view_results_and_show_agree(tmp_path):
    first = run_app(tmp_path, *FAILING, "hydra.sweeper.n_trials=4")
    assert set(readers(tmp_path, first).values()) == {(4, 4)}
    steer(tmp_path, "n_trials", "7")
    again = run_app(tmp_path, *FAILING, "hydra.sweeper.n_trials=4")  # the same command resumes
    assert "4 of 7 trials finished" in again  # the loop starts from the steered target
    assert set(readers(tmp_path, again).values()) == {(7, 7)}
    trials = load("quadratic", tmp_path).trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and all(counts_toward_n_trials(t) for t in failed)  # failures count too
    assert len(trials) == 7


@pytest.mark.slow
def test_a_new_n_trials_on_the_command_line_wins_over_a_steered_one_and_says_so(tmp_path):
    run_app(tmp_path, "hydra.sweeper.n_trials=4")
    steer(tmp_path, "n_trials", "3")
    stopped = run_app(tmp_path, "hydra.sweeper.n_trials=4")  # not new: the steering holds
    assert "nothing to run" in stopped and "4 of n_trials=3" in stopped
    output = run_app(tmp_path, "hydra.sweeper.n_trials=8")
    assert "hydra.sweeper.n_trials=8 on the command line overrides the steered n_trials 3" in output
    assert set(readers(tmp_path, output).values()) == {(8, 8)}
    assert "n_trials 8 (hydra.sweeper.n_trials on the command line)" in steer(tmp_path, "show")


@pytest.mark.slow
def test_a_lower_n_trials_on_a_finished_sweeps_command_line_is_written_to_its_results(tmp_path):
    run_app(tmp_path, "hydra.sweeper.n_trials=3")
    steer(tmp_path, "n_trials", "4")
    run_app(tmp_path, "hydra.sweeper.n_trials=3")  # not new: resumes to the steered 4
    output = run_app(tmp_path, "hydra.sweeper.n_trials=2")  # new and lower: recorded
    said = " ".join(output.split())
    assert "overrides the steered n_trials 4" in said
    assert "4 of n_trials=2 trials finished" in said
    assert "(written again, as the study now says: optimization_results.yaml)" in said
    results = yaml.safe_load((tmp_path / "sweeps/quadratic/optimization_results.yaml").read_text())
    assert (results["finished"], results["n_trials_in_force"]) == (4, 2)
    # as `steer show` says it: a finished sweep is not running
    assert results["steering"]["state"] == "not running (n_trials reached)"
    assert "study 'quadratic': not running (n_trials reached), 4 of n_trials 2" in steer(
        tmp_path, "show"
    )
