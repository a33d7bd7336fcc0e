"""``hydratune steer ... pause N | resume N``: a person holds a paused trial of a checkpointed
schedule (it is not continued) and releases it; ``show`` lists the paused trials."""

from __future__ import annotations

import pytest

from helpers import REPO, load, multirun, run_steer, start_python, wait_for_marker
from hydratune.attrs import FAIL_REASON, LOST, RESUMED_FROM, RETRY_OF, SEGMENT
from hydratune.training.task import train

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

ASHA = [
    "sweep=mlp_digits",
    "hydra/sweeper/scheduler=asha",
    "hydra.sweeper.scheduler.eta=2",
    "trainer.max_epochs=4",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "hydra.sweeper.progress=false",
    "hydra.sweeper.report=false",
]
SWEEP_DIR = "outputs/sweeps/mlp_digits"
ENQUEUED = [  # a configuration for `steer enqueue`
    *("model.hidden_dim=64", "model.n_layers=2", "model.dropout=0.1"),
    *("model.optimizer.lr=0.01", "model.optimizer.weight_decay=0.0001"),
]
FULL = "the PBT population is full (a new configuration joins only while it fills)"


PBT = [
    "sweep=mlp_digits",
    "hydra/sweeper/scheduler=pbt",
    "hydra.sweeper.scheduler.population=2",
    "hydra.sweeper.scheduler.perturbation_interval=1",
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "hydra.sweeper.progress=false",
    "hydra.sweeper.report=false",
]


def sweep(n_trials: int, schedule: list[str] = ASHA) -> None:
    multirun(
        [*schedule, f"hydra.sweeper.n_trials={n_trials}"],
        task=train,
        config_name="train",
        config_dir=REPO / "conf",
    )


def continued_from(tmp_path) -> set[int]:
    trials = load("mlp_digits", tmp_path).trials
    return {t.user_attrs[RESUMED_FROM]["trial"] for t in trials if RESUMED_FROM in t.user_attrs}


@pytest.mark.slow  # three Lightning sweeps and three steer processes: not in make test-fast
def test_a_held_trial_is_not_continued_until_resumed_and_show_lists_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep(2)  # two trials paused at rung 0
    trials = load("mlp_digits", tmp_path).trials
    best = max(trials, key=lambda t: (t.intermediate_values[0], -t.number)).number

    done = run_steer(tmp_path, SWEEP_DIR, "pause", best)
    assert done.returncode == 0, done.stderr
    shown = run_steer(tmp_path, SWEEP_DIR, "show").stdout
    assert "paused trials" in shown and f"#{best}" in shown and "held: resume it" in shown
    assert "trials: 2 paused\n" in shown  # PRUNED in Optuna, not pruned by anyone

    sweep(4)  # the best of rung 0 would be promoted now: it is held
    assert best not in continued_from(tmp_path)

    assert run_steer(tmp_path, SWEEP_DIR, "resume", best).returncode == 0
    sweep(6)
    assert best in continued_from(tmp_path)
    # neither verb can change trial #best now: it is not held, and its run was continued
    refused = {
        "resume": f"resume {best}: trial #{best} is not held; held: none",
        "pause": f"pause {best}: the schedule never continues trial #{best}",
    }
    for verb, message in refused.items():
        done = run_steer(tmp_path, SWEEP_DIR, verb, best)
        assert done.returncode == 2 and message in " ".join(done.stderr.split()), done.stderr


@pytest.mark.slow  # three PBT sweeps and four steer processes
def test_a_pbt_sweep_left_with_held_members_only_ends_saying_so_and_trains_them_after_resume(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.chdir(tmp_path)
    sweep(2, PBT)  # both members trained their first epoch and paused
    assert run_steer(tmp_path, SWEEP_DIR, "pause", 0).returncode == 0
    capfd.readouterr()

    sweep(10, PBT)  # member 1 trains to its last epoch; member 0 is held
    assert 0 not in continued_from(tmp_path)
    held = "pbt: the members left to train are held by `steer pause` (#0): `steer resume` them"
    assert f"no trial left to run after 3 of n_trials=10 trials: {held}" in "".join(
        capfd.readouterr()
    )
    shown = run_steer(tmp_path, SWEEP_DIR, "show").stdout
    assert f"not running ({held}" in shown.replace("\n", " ")  # not "running": nothing runs

    resumed = run_steer(tmp_path, SWEEP_DIR, "resume", 0)
    assert "applies when the sweep's command runs again" in resumed.stdout.replace("\n", " ")
    sweep(10, PBT)
    assert 0 in continued_from(tmp_path)
    shown = run_steer(tmp_path, SWEEP_DIR, "show").stdout
    assert "not running (pbt: every member of the population has trained" in shown


@pytest.mark.slow  # two PBT sweeps and a steer process
def test_a_configuration_enqueued_into_a_full_pbt_population_is_not_run_and_says_why(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.chdir(tmp_path)
    sweep(2, PBT)  # the population's two members have started
    assert run_steer(tmp_path, SWEEP_DIR, "enqueue", *ENQUEUED).returncode == 0
    capfd.readouterr()

    sweep(10, PBT)
    trials = load("mlp_digits", tmp_path).trials
    assert {t.user_attrs[SEGMENT]["member"] for t in trials if SEGMENT in t.user_attrs} == {0, 1}
    (enqueued,) = [t for t in trials if t.number == 2]
    assert enqueued.state.name == "FAIL" and enqueued.params["model.hidden_dim"] == 64
    assert enqueued.user_attrs[FAIL_REASON] == f"not run: {FULL}"
    assert f"trial #2 failed: not run: {FULL}" in "".join(capfd.readouterr())
    # it counts toward nothing: the two members trained to their end, four runs in all
    shown = run_steer(tmp_path, SWEEP_DIR, "show").stdout.replace("\n", " ")
    assert "not running (pbt: every member of the population has trained" in shown
    assert "4 of n_trials 10 finished" in shown


@pytest.mark.slow  # a killed PBT sweep, a steer process and a rerun
def test_a_configuration_enqueued_while_a_lost_members_retry_waits_is_not_run_either(tmp_path):
    hang = {"HANG_AT_TRIAL": "1", "HANG_MARKER": str(tmp_path / "hanging")}
    hanging = ["+callbacks.hang._target_=hang_callback.HangInTraining"]
    args = ["-m", "hydratune", "-m", *PBT, "hydra.sweeper.n_trials=10"]
    killed = start_python(tmp_path, *args, *hanging, env=hang)
    wait_for_marker(tmp_path / "hanging", killed)  # member 1's first run trains
    killed.kill()  # kill -9: that run is lost; the rerun queues its retry, a member's own run
    killed.wait()
    assert run_steer(tmp_path, SWEEP_DIR, "enqueue", *ENQUEUED).returncode == 0

    rerun = start_python(tmp_path, *args)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    trials = load("mlp_digits", tmp_path).trials
    assert {t.user_attrs[SEGMENT]["member"] for t in trials if SEGMENT in t.user_attrs} == {0, 1}
    assert trials[1].user_attrs[LOST]
    (enqueued,) = [t for t in trials if t.number == 2]
    assert enqueued.user_attrs[FAIL_REASON] == f"not run: {FULL}", out
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == 1]
    assert retry.state.name in ("PRUNED", "COMPLETE") and retry.params == trials[1].params


@pytest.mark.slow  # a Lightning sweep and two steer processes
def test_fix_and_narrow_under_a_schedule_say_they_reach_new_configurations_only(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    sweep(2)  # two configurations paused at rung 0: a promotion trains on with its values
    for words in (["fix", "model.n_layers=2"], ["narrow", "model.dropout=interval(0, 0.1)"]):
        done = run_steer(tmp_path, SWEEP_DIR, *words)
        said = " ".join(done.stdout.split())
        assert done.returncode == 0 and f"recorded: {words[0]}" in said, done.stderr
        assert f"under this sweep's schedule, {words[0]} applies to new configurations" in said


@pytest.mark.cli
def test_pause_of_a_trial_the_study_lacks_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep(1)
    done = run_steer(tmp_path, SWEEP_DIR, "pause", 7)
    assert done.returncode != 0
    assert "pause: no trial #7; trials are #0 to #0" in done.stderr + done.stdout
