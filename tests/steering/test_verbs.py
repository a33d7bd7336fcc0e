"""``hydratune steer`` as a person types it: a mistake gets one clear line, never a traceback,
and nothing is written."""

from __future__ import annotations

import pytest

from helpers import load, run_steer


@pytest.fixture
def swept(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=1"])
    return tmp_path


def refused(cwd, *words) -> str:
    before = load("quadratic", cwd).user_attrs
    done = run_steer(cwd, *words)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert load("quadratic", cwd).user_attrs == before
    return " ".join((done.stdout + done.stderr).split())


def test_a_sweep_dir_without_a_verb_asks_for_one(swept):
    said = refused(swept, "sweeps/quadratic")
    assert "give a verb after sweeps/quadratic: one of enqueue, fix," in said


def test_a_mistyped_sweep_dir_is_reported_as_no_such_directory_not_as_a_bad_verb(swept):
    for words in (["sweeps/quadratc", "show"], ["sweeps/quadratc"], ["quadratc", "pause"]):
        said = refused(swept, *words)
        assert f"no directory {words[0]};" in said and "not a steering verb" not in said


def test_steering_a_finished_sweep_says_it_applies_only_when_the_sweep_runs_again(swept):
    done = run_steer(swept, "sweeps/quadratic", "fix", "kind=b")
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert "recorded: fix kind=b" in said
    assert "note: the sweep has finished (1 of n_trials 1) and no trial runs" in said
    shown = run_steer(swept, "sweeps/quadratic", "show")
    assert shown.returncode == 0, shown.stderr
    header = shown.stdout.splitlines()[0]
    assert header.startswith("study 'quadratic': not running (n_trials reached), 1 of n_trials 1")


def test_n_trials_below_the_finished_count_says_no_new_trial_starts(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=3"])
    done = run_steer(tmp_path, "sweeps/quadratic", "n_trials", "2")
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert "note: 3 trials have finished already, more than n_trials 2: no new trial starts" in said
