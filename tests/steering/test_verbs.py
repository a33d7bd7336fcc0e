"""``hydratune steer`` as a person types it: a mistake gets one clear line, never a traceback,
and nothing is written."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from hydra.core.hydra_config import HydraConfig
from optuna.trial import TrialState

from helpers import APPS, load, run_steer, start_quadratic_app, wait_for_marker
from hydratune.errors import StudyConfigError
from hydratune.steering import read_state


@pytest.fixture
def swept(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=1"])
    return tmp_path


def refused(cwd, *words) -> str:
    before = load("quadratic", cwd).user_attrs
    done = run_steer(cwd, *words)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert load("quadratic", cwd).user_attrs == before
    assert not done.stdout  # a refusal is on stderr: stdout holds what a command made
    return " ".join(done.stderr.split())


@pytest.mark.cli
def test_a_sweep_dir_without_a_verb_asks_for_one(swept):
    said = refused(swept, "sweeps/quadratic")
    assert "give a verb after sweeps/quadratic: one of enqueue, fix," in said


@pytest.mark.cli
def test_a_mistyped_sweep_dir_is_reported_as_no_such_directory_not_as_a_bad_verb(swept):
    for words in (["sweeps/quadratc", "show"], ["sweeps/quadratc"], ["quadratc", "pause"]):
        said = refused(swept, *words)
        assert f"no directory {words[0]};" in said and "not a steering verb" not in said


@pytest.mark.cli
def test_a_copied_project_is_steered_in_its_own_study_not_the_originals(swept):
    copy = swept.with_name(f"{swept.name}-copy")
    shutil.copytree(swept, copy, symlinks=True)
    original = (swept / "outputs" / "hydratune.journal").read_bytes()
    done = run_steer(copy, "sweeps/quadratic", "n_trials", "4")
    assert done.returncode == 0, done.stderr
    assert (swept / "outputs" / "hydratune.journal").read_bytes() == original
    assert read_state(load("quadratic", copy).user_attrs).n_trials == 4


# root as a user without root's right to write past a file's mode (CAP_DAC_OVERRIDE)
AS_A_USER = ["setpriv", "--inh-caps=-dac_override,-fowner", "--bounding-set=-dac_override,-fowner"]


@pytest.mark.cli
def test_a_read_only_journal_is_one_line_for_steer_and_the_sweep_and_stays_as_it_was(swept):
    journal = swept / "outputs" / "hydratune.journal"
    journal.chmod(0o444)
    before = journal.read_bytes()
    steer = [sys.executable, "-m", "hydratune", "steer", "sweeps/quadratic", "n_trials", "5"]
    sweep = [sys.executable, str(APPS / "quadratic_app.py"), "-m", "hydra.sweeper.n_trials=3"]
    for command in (steer, sweep):
        done = subprocess.run(
            [*AS_A_USER, *command], cwd=swept, capture_output=True, text=True, timeout=120
        )
        said = done.stdout + done.stderr
        assert done.returncode != 0 and "Traceback" not in said, said
        assert f"cannot write {journal}: Permission denied. The study keeps every record" in said
    assert journal.read_bytes() == before


@pytest.mark.cli
def test_a_steering_action_the_disk_cannot_hold_is_one_line_saying_what_stays(swept):
    journal = swept / "outputs" / "hydratune.journal"
    size = journal.stat().st_size  # it may read the journal, not grow it
    before = load("quadratic", swept).user_attrs
    done = run_steer(swept, "sweeps/quadratic", "n_trials", "5", file_size_limit=size)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr, done.stderr
    said = " ".join(done.stderr.split())
    assert said == (
        f"error: cannot write {journal}: File too large. The study keeps every record written "
        "before; make room, then run the same command again to resume"
    )
    assert journal.stat().st_size == size and load("quadratic", swept).user_attrs == before


@pytest.mark.cli
def test_steering_a_finished_sweep_says_when_it_applies(swept):
    # a point or a space for new trials: only once n_trials lets one start, not on a rerun
    for verb, words in (("fix", ["kind=b"]), ("enqueue", ["x=1", "y=2", "kind=a"])):
        done = run_steer(swept, "sweeps/quadratic", verb, *words)
        assert done.returncode == 0, done.stderr
        said = " ".join(done.stdout.split())
        assert f"recorded: {verb} " in said
        assert (
            "note: the sweep has finished (1 of n_trials 1): this applies to the trials that "
            "start once n_trials is raised (steer ... n_trials <more>, or the sweep's command "
            "with hydra.sweeper.n_trials=<more>)"
        ) in said
    shown = run_steer(swept, "sweeps/quadratic", "show")
    assert shown.returncode == 0, shown.stderr
    header = shown.stdout.splitlines()[0]
    assert header.startswith("study 'quadratic': not running (n_trials reached), 1 of n_trials 1")


@pytest.mark.cli
def test_a_point_enqueued_while_the_last_trial_runs_is_said_to_wait_for_more_n_trials(
    sweep, tmp_path
):
    said = []

    def task(cfg):  # trial #1 of n_trials=2 runs: a person enqueues a point from a shell
        if HydraConfig.get().job.num == 1:
            said.append(run_steer(tmp_path, "sweeps/quadratic", "enqueue", "x=1", "y=2", "kind=a"))
        return 0.0

    sweep(["hydra.sweeper.n_trials=2"], task=task)
    (done,) = said
    assert done.returncode == 0, done.stderr
    assert (
        "note: every trial of n_trials 2 has started (1 running): this applies to the trials "
        "that start once n_trials is raised"
    ) in " ".join(done.stdout.split())
    states = [t.state for t in load("quadratic", tmp_path).trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.WAITING]  # as said


@pytest.mark.cli
def test_show_says_why_a_grid_sweep_ended_in_the_words_the_sweep_ended_with(sweep, tmp_path):
    sweep(["hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=50", "x=range(0, 2)", "y=2"])
    shown = run_steer(tmp_path, "sweeps/quadratic", "show").stdout
    said = "not running (every point of the grid has run), 4 of n_trials 50"
    assert said in " ".join(shown.split())  # the sweep's own last line says the same


@pytest.mark.cli
def test_a_trial_whose_sweeper_was_killed_is_shown_lost_and_cannot_be_pruned(tmp_path):
    sweeper = start_quadratic_app(tmp_path, "hydra.sweeper.n_trials=3", hang_at=1)
    wait_for_marker(tmp_path / "hanging", sweeper)
    sweeper.kill()  # kill -9: trial #1 stays RUNNING in the study, and nothing runs it
    sweeper.communicate(timeout=60)
    shown = run_steer(tmp_path, "sweeps/quadratic", "show")
    assert shown.returncode == 0, shown.stderr
    said = " ".join(shown.stdout.split())
    assert "not running (the processes of its running trials have ended: run it again)" in said
    assert "(ended: lost)" in said
    assert (
        "prune: trial #1 is not running: the process that ran it has ended; the sweep's "
        "command, run again, records it as lost"
    ) in refused(tmp_path, "sweeps/quadratic", "prune", "1")


@pytest.mark.cli
def test_n_trials_below_the_finished_count_says_no_new_trial_starts(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=3"])
    done = run_steer(tmp_path, "sweeps/quadratic", "n_trials", "2")
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert "note: 3 trials have finished already, more than n_trials 2: no new trial starts" in said


@pytest.mark.cli
def test_note_and_fail_are_recorded_and_shown_on_a_finished_trial(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=2"])
    noted = run_steer(tmp_path, "sweeps/quadratic", "note", "1", "the", "loss", "spiked")
    assert noted.returncode == 0, noted.stderr
    assert "recorded: note #1: the loss spiked (by " in " ".join(noted.stdout.split())
    assert "applies when" not in noted.stdout  # a note needs no rerun
    failed = run_steer(tmp_path, "sweeps/quadratic", "fail", "0", "a bad node")
    assert failed.returncode == 0, failed.stderr
    state = read_state(load("quadratic", tmp_path).user_attrs)
    assert state.failed == {0: "a bad node"}
    assert [a.args["note"] for a in state.notes[1]] == ["the loss spiked"]
    shown = " ".join(run_steer(tmp_path, "sweeps/quadratic", "show").stdout.split())
    assert "fail #0: a bad node" in shown and "note #1: the loss spiked" in shown


@pytest.mark.cli
@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["fail", "7", "why"], "fail: no trial #7; trials are #0 to #0"),
        (["fail", "0"], "fail: give a text of 1 to 500 characters"),
        (["note", "x", "hi"], "note: give a trial number, then the text"),
    ],
)
def test_a_bad_note_or_fail_names_the_problem_and_writes_nothing(swept, words, message):
    assert message in refused(swept, "sweeps/quadratic", *words)


@pytest.mark.cli
def test_fail_twice_is_refused(swept):
    assert run_steer(swept, "sweeps/quadratic", "fail", "0", "wrong").returncode == 0
    assert "trial #0 is failed by hand already" in refused(
        swept, "sweeps/quadratic", "fail", "0", "x"
    )


HUGE = "9" * 400  # beyond a float; and 5000 digits, beyond what Python reads as an int


@pytest.mark.cli
@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["n_trials", HUGE], "n_trials: a larger number is not a whole number of trials from 1 "),
        (["n_trials", "1000000001"], "n_trials: a larger number is not a whole number of trials"),
        (["enqueue", f"x={HUGE}", "y=1", "kind=a"], "enqueue.x: a number beyond a float, outside"),
        (["fix", f"y={HUGE}"], "fix.y: a number beyond a float, outside"),
        (["narrow", f"x=interval(0,{HUGE})"], "x=interval(0,999"),
        (["prune", "9" * 5000], "prune: trial #1000000001 is not running"),
    ],
    ids=["n_trials", "n_trials_limit", "enqueue", "fix", "narrow", "prune"],
)
def test_numbers_too_large_are_refused_in_one_line_and_nothing_is_written(swept, words, message):
    assert message in refused(swept, "sweeps/quadratic", *words)


def test_a_sweeps_n_trials_too_large_is_refused_before_anything_runs(sweep, tmp_path):
    with pytest.raises(StudyConfigError, match="n_trials=a larger number: expected a study total"):
        sweep([f"hydra.sweeper.n_trials={HUGE}"], task=pytest.fail)
    assert not any(tmp_path.iterdir())
