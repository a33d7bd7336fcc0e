"""Steering a running sweep: real sweeps held at a gate while the test steers them.

In-process sweeps run in a thread of the test (the loop and its trials in one process);
``slow`` ones run the quadratic app as a command with ``n_jobs=2``; ``postgres`` ones run two
independent workers on one PostgreSQL study. Steering goes through ``Steerer`` (the notebook
API) or ``hydratune steer`` (the command), never through the loop's internals.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from hydra.core.hydra_config import HydraConfig
from optuna.distributions import FloatDistribution, IntDistribution, distribution_to_json
from optuna.trial import TrialState
from typer.testing import CliRunner

from helpers import APPS, load, multirun, quadratic, run_steer, wait_at_gate, wait_for
from hydratune import cli
from hydratune.attrs import OWNER, PRUNE_REQUESTED
from hydratune.steering import Steerer, SteerError, read_state, write_action

APP = APPS / "quadratic_app.py"
X = FloatDistribution(-5.0, 5.0)  # x as tests/conf/quadratic.yaml declares it
runner = CliRunner()


class Background:
    """``quadratic -m`` running in a thread of this process, each trial held at a gate."""

    runs: list[Background] = []  # released and joined after each test, even a failed one

    def __init__(self, cwd: Path, *overrides: str) -> None:
        Background.runs.append(self)
        self.cwd, self.gate = cwd, cwd / "gate"
        self.gate.mkdir(exist_ok=True)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(list(overrides),), daemon=True)
        self.thread.start()

    def _task(self, cfg: Any) -> float:
        wait_at_gate(self.gate, HydraConfig.get().job.num)
        return quadratic(cfg)

    def _run(self, overrides: list[str]) -> None:
        try:
            multirun(overrides, task=self._task)
        except BaseException as error:  # handed to the test by join()
            self.error = error

    def started(self, number: int) -> None:
        wait_for(lambda: (self.gate / f"started-{number}").exists(), f"trial {number} to start")

    def release(self, which: int | str = "all") -> None:
        (self.gate / f"go-{which}").touch()

    def join(self) -> None:
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the sweep did not end"
        if self.error is not None:
            raise self.error


@pytest.fixture(autouse=True)
def _end_background_sweeps():
    """A failed test leaves no sweep held at its gate for the next one."""
    yield
    while Background.runs:
        run = Background.runs.pop()
        run.release()
        run.thread.join(timeout=120)


def steerer(cwd: Path) -> Steerer:
    return Steerer.load(str(cwd / "outputs" / "hydratune.journal"), "quadratic")


def hydratune(*args: Any):
    return runner.invoke(cli.app, [str(a) for a in args])


def test_fix_narrow_enqueue_and_n_trials_apply_from_the_next_trial(sweep, tmp_path):
    run = Background(tmp_path, "hydra.sweeper.n_trials=4")
    run.started(0)
    steer = steerer(tmp_path)
    steer.fix(["kind=b"])
    steer.narrow(["x=interval(0, 2)"])
    steer.enqueue(["x=1.5", "y=-2"])
    steer.n_trials(6)
    run.release()
    run.join()

    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6  # the raised target
    assert trials[1].params == {"x": 1.5, "y": -2, "kind": "b"}  # the enqueued point, next
    assert all(t.params["kind"] == "b" for t in trials[1:])
    assert all(0 <= t.params["x"] <= 2 for t in trials[2:])
    # the study stays honest: every trial keeps the declared distribution, the value run
    assert all(t.distributions["x"] == X for t in trials)
    results = yaml.safe_load((tmp_path / "sweeps/quadratic/optimization_results.yaml").read_text())
    log = results["steering"]["log"]
    assert [e["action"] for e in log] == [
        "fix kind=b",
        "narrow x=[0.0, 2.0]",
        "enqueue x=1.5 y=-2",
        "n_trials 6",
    ]
    assert {e["from_trial"] for e in log} == {1}
    assert all("@" in e["by"] and e["at"] for e in log)
    assert results["steering"]["fixed"] == {"kind": "b"}


def test_a_point_enqueued_on_a_running_grid_sweep_runs_next_not_behind_the_grid(sweep, tmp_path):
    grid = ("hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=20")
    run = Background(tmp_path, *grid, "x=choice(-1.0,1.0)", "y=range(-1,2)")  # 12 points
    run.started(0)
    steerer(tmp_path).enqueue(["x=1.0", "y=1", "kind=b"])
    run.release()
    run.join()
    trials = load("quadratic", tmp_path).trials
    started = sorted(trials, key=lambda t: t.datetime_start)
    assert started[1].params == {"x": 1.0, "y": 1, "kind": "b"}  # next, not 13th
    assert len(trials) == 13 and all(t.state == TrialState.COMPLETE for t in trials)


def test_a_grid_sweep_refuses_an_enqueued_point_that_leaves_parameters_to_the_sampler(
    sweep, tmp_path
):
    sweep(["hydra/sweeper/sampler=grid", "x=choice(-1.0,1.0)", "hydra.sweeper.n_trials=1"])
    before = load("quadratic", tmp_path)
    result = hydratune("steer", tmp_path / "sweeps" / "quadratic", "enqueue", "x=1.0")
    assert result.exit_code == 2, result.output
    assert "give every searched parameter (missing: y, kind)" in " ".join(result.output.split())
    after = load("quadratic", tmp_path)  # the grid sampler would have crashed the sweep on it
    assert after.user_attrs == before.user_attrs and len(after.trials) == len(before.trials)


def test_narrow_under_autos_gp_says_the_narrowed_parameter_is_drawn_at_random(sweep, tmp_path):
    only_x = ["~hydra.sweeper.params.y", "~hydra.sweeper.params.kind"]
    sweep(["hydra.sweeper.n_trials=2", *only_x])  # a numeric space: auto runs GP
    steer = steerer(tmp_path)
    said = steer.caveat(steer.narrow(["x=interval(0, 2)"]))
    assert "sampler auto runs Optuna's GP here" in said
    assert "drawn at random inside its new range until trial 100" in said
    assert "GP" not in (steer.caveat(steer.fix(["x=1"])) or "")  # fix: no draw to model


def test_workers_skip_a_recorded_fix_or_narrow_outside_the_space_with_one_warning(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=1"])
    study = load("quadratic", tmp_path)  # a script or another version writes the record
    fix = write_action(study, "fix", {"params": {"x": 99.0}}, "fix x=99.0", 1)
    narrow = {"distributions": {"y": distribution_to_json(IntDistribution(50, 60))}}
    narrow = write_action(study, "narrow", narrow, "narrow y=[50, 60]", 1)
    messages = Messages("hydratune.steering.record")
    try:
        sweep(["hydra.sweeper.n_trials=4"])
    finally:
        messages.logger.removeHandler(messages)
    trials = load("quadratic", tmp_path).trials
    assert len(trials) == 4 and all(-5 <= t.params["x"] <= 5 for t in trials)
    assert all(-4 <= t.params["y"] <= 4 for t in trials)
    for action, why in ((fix, "x=99.0: outside [-5.0, 5.0]"), (narrow, "not within")):
        (warning,) = [m for m in messages.texts if action.key in m]
        assert why in warning


@pytest.mark.slow  # seconds of real sweeps; the core verbs stay in the fast tier
def test_unfix_searches_the_parameter_again_over_its_declared_range(sweep, tmp_path):
    run = Background(tmp_path, "hydra.sweeper.n_trials=8", "hydra/sweeper/sampler=random")
    run.started(0)
    steer = steerer(tmp_path)
    steer.fix(["x=4.5"])
    run.release(0)
    run.started(1)
    steer.unfix(["x"])
    run.release()
    run.join()
    trials = load("quadratic", tmp_path).trials
    assert trials[1].params["x"] == 4.5
    assert len({t.params["x"] for t in trials[2:]}) == 6  # sampled again, not pinned


class Messages(logging.Handler):
    """The messages one logger emits, as the sweep logs them."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.INFO)
        self.texts: list[str] = []
        self.logger = logging.getLogger(name)
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage())


@contextmanager
def paused_after_trial_0(cwd: Path) -> Iterator[tuple[Background, Steerer]]:
    """A sweep of 3 trials paused while trial 0 runs, once its loop holds with nothing
    running; with it, the steerer that paused it."""
    messages = Messages("hydratune.steering.live")
    try:
        run = Background(cwd, "hydra.sweeper.n_trials=3")
        run.started(0)
        steer = steerer(cwd)
        steer.pause()
        run.release()
        wait_for(lambda: any("paused; waiting" in m for m in messages.texts), "the loop to hold")
        yield run, steer
    finally:
        messages.logger.removeHandler(messages)


@pytest.mark.slow  # seconds of real sweeps; the core verbs stay in the fast tier
def test_pause_starts_no_trial_until_resume(sweep, tmp_path):
    with paused_after_trial_0(tmp_path) as (run, steer):
        trials = load("quadratic", tmp_path).trials  # the loop holds with nothing running
        assert [t.state for t in trials] == [TrialState.COMPLETE]
        steer.resume()
        run.join()
    assert len(load("quadratic", tmp_path).trials) == 3


@pytest.mark.slow  # seconds of real sweeps; the core verbs stay in the fast tier
def test_a_paused_sweep_whose_n_trials_is_lowered_to_what_finished_ends(sweep, tmp_path):
    with paused_after_trial_0(tmp_path) as (run, steer):
        steer.n_trials(1)  # nothing is left to wait for: the sweep ends, still paused
        run.join()
    assert [t.state for t in load("quadratic", tmp_path).trials] == [TrialState.COMPLETE]
    assert read_state(load("quadratic", tmp_path).user_attrs).mode == "paused"


@pytest.mark.slow  # seconds of real sweeps; the core verbs stay in the fast tier
def test_stop_lets_the_running_trial_finish_and_holds_across_a_restart(sweep, tmp_path):
    run = Background(tmp_path, "hydra.sweeper.n_trials=4")
    run.started(0)
    steerer(tmp_path).stop()
    run.release()
    run.join()
    assert [t.state for t in load("quadratic", tmp_path).trials] == [TrialState.COMPLETE]

    again = Background(tmp_path, "hydra.sweeper.n_trials=4")  # a rerun honours the stop
    again.join()
    assert len(load("quadratic", tmp_path).trials) == 1

    steerer(tmp_path).resume()
    rerun = Background(tmp_path, "hydra.sweeper.n_trials=4")
    rerun.join()
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert read_state(load("quadratic", tmp_path).user_attrs).mode == "running"


def test_prune_stops_a_running_trial_as_pruned_by_hand(sweep, tmp_path):
    run = Background(tmp_path, "hydra.sweeper.n_trials=3")
    run.started(0)
    steer = steerer(tmp_path)
    steer.prune(0)  # the trial is held at the gate, asking should_prune()
    run.started(1)  # the next trial started: trial 0 ended
    trial = load("quadratic", tmp_path).trials[0]
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs[PRUNE_REQUESTED].startswith("pruned by hand: ")
    with pytest.raises(SteerError, match=r"trial #0 is not running; running now: #1"):
        steer.prune(0)
    run.release()
    run.join()
    states = [t.state for t in load("quadratic", tmp_path).trials]
    assert states == [TrialState.PRUNED, TrialState.COMPLETE, TrialState.COMPLETE]


def test_two_steerers_at_once_are_both_recorded_and_the_later_wins(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=2"])
    barrier = threading.Barrier(2)
    done: list[Any] = []

    def steer(value: float) -> None:
        handle = steerer(tmp_path)  # each person has their own connection to the study
        barrier.wait()
        done.append(handle.fix([f"x={value}"]))

    threads = [threading.Thread(target=steer, args=(v,)) for v in (1.0, 2.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    state = read_state(load("quadratic", tmp_path).user_attrs)
    assert sorted(a.text for a in state.actions) == ["fix x=1.0", "fix x=2.0"]
    later = max(done, key=lambda a: a.key)
    assert state.fixed == later.args["params"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """One finished sweep for the error cases (they write nothing, so they can share it)."""
    cwd = tmp_path_factory.mktemp("swept")
    old = Path.cwd()
    os.chdir(cwd)
    try:
        multirun(["hydra.sweeper.n_trials=2"])
    finally:
        os.chdir(old)
    return cwd / "sweeps" / "quadratic"


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (
            ["fix", "kinds=b"],
            "'kinds' is not a searched parameter of this sweep. Did you mean kind?",
        ),
        (["fix", "x=7"], "x=7.0: outside [-5.0, 5.0]"),
        (["fix", "x=interval(0, 1)"], "'x=interval(0, 1)' is a range; give one value, e.g. x=-5.0"),
        (["fix", "kind=choice(a, b)"], "is a range; give one value, e.g. kind=a"),
        (["enqueue", "kind=c"], "kind=c, not one of the choices (a, b)"),
        (["enqueue", "x=1", "z=2"], "'z' is not a searched parameter"),
        (["narrow", "x=interval(0, 6)"], "[0.0, 6.0] is not within the declared range [-5.0, 5.0]"),
        (["narrow", "y=range(-8, 0)"], "[-8, -1] is not within the declared range [-4, 4]"),
        (["narrow", "kind=choice(a)"], "narrow works on numeric ranges"),
        (["unfix", "z"], "'z' is not a searched parameter"),
        (["unfix", "x"], "unfix: x is neither fixed nor narrowed; steered now: none"),
        (["prune", "1"], "trial #1 is not running; running now: none"),
        (["n_trials", "0"], "n_trials: 0 is not a whole number of trials from 1 to 1,000,000,000"),
        (["n_trials", "many"], "n_trials: give one whole number"),
        (["n_trials", "²"], "n_trials: give one whole number"),  # str.isdigit() says yes
        (["prune", "١"], "prune: give one whole number"),
        (
            ["narrow", "x=tag(log, interval(0.1, 2))"],
            "the declared [-5.0, 5.0] is on a linear scale and [0.1, 2.0] (log) on a log one",
        ),
        (["pause", "now"], "pause takes a trial number or nothing; got now"),
        (["pause", "0"], "pause 0: trial #0 is not a run of a checkpointed schedule"),
        (["stop", "now"], "stop takes no arguments"),
        (["show", "now"], "show takes no arguments"),
        (  # not a note in this sweep's study: the person named another
            ["note", "0", "checked", "--storage", "other.journal"],
            "--storage after the verb would be read as one of its words: give it first",
        ),
        (["fail", "0", "bad data", "--study=other"], "--study after the verb would be read"),
    ],
)
def test_a_bad_steering_request_names_the_problem_and_writes_nothing(swept, words, message):
    cwd = swept.parents[1]
    before = load("quadratic", cwd)
    attrs, n = before.user_attrs, len(before.trials)
    result = hydratune("steer", swept, *words)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Nothing was written" in result.output
    after = load("quadratic", cwd)
    assert after.user_attrs == attrs and len(after.trials) == n


def test_an_unknown_verb_and_a_study_that_was_never_swept_are_refused(swept, tmp_path):
    result = hydratune("steer", swept, "jump")
    assert result.exit_code == 2 and "'jump' is not a steering verb" in result.output
    storage = tmp_path / "plain.journal"
    plain = optuna.create_study(
        study_name="plain",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(storage))
        ),
    )
    result = hydratune("steer", "--storage", storage, "--study", plain.study_name, "pause")
    assert result.exit_code == 2 and "has no recorded search space" in result.output
    assert plain.user_attrs == {}


@pytest.mark.slow  # seconds of real sweeps; the core verbs stay in the fast tier
def test_show_gives_state_best_running_trials_and_the_log(sweep, tmp_path):
    run = Background(tmp_path, "hydra.sweeper.n_trials=2")
    run.started(0)
    sweep_dir = tmp_path / "sweeps" / "quadratic"
    assert hydratune("steer", sweep_dir, "fix", "kind=b").exit_code == 0
    assert hydratune("steer", sweep_dir, "n_trials", "3").exit_code == 0
    shown = hydratune("steer", sweep_dir, "show")
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert "study 'quadratic': running, 0 of n_trials 3 finished (steered; the sweep set 2)" in text
    assert "trials: 1 running" in text and "#0" in text
    assert "fixed: kind=b" in text and "fix kind=b" in text and "n_trials 3" in text
    run.release()
    run.join()
    shown = hydratune("steer", sweep_dir, "show").output
    best = load("quadratic", tmp_path).best_trial
    assert f"best so far: #{best.number} value {best.value:.6g}" in shown
    assert "running trials: none" in shown


@pytest.mark.cli
def test_show_names_a_worker_by_host_and_pid_and_fits_80_columns(sweep, tmp_path):
    run = Background(tmp_path, "hydra.sweeper.n_trials=3")
    run.started(0)
    sweep_dir = tmp_path / "sweeps" / "quadratic"
    steer = steerer(tmp_path)
    steer.enqueue(["x=-3.14159265", "y=-4", "kind=a"])
    steer.narrow(["x=interval(-4.75, 4.5)"])
    shown = run_steer(tmp_path, sweep_dir, "show", COLUMNS="80")
    run.release()
    run.join()
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, shown.stdout
    owner = load("quadratic", tmp_path).trials[0].user_attrs[OWNER]
    host_pid = ":".join(owner.split(":")[:2])
    (row,) = [line for line in lines if line.startswith("#0 ")]
    assert f" {host_pid} " in row and owner not in shown.stdout  # vm:6345, not 60 characters
    assert "narrow x=[-4.75, 4.5]" in shown.stdout  # a log row whole on one line


# -- real commands: worker processes, several hosts' worth of workers ------------------------


def start_app(cwd: Path, *overrides: str) -> subprocess.Popen:
    (cwd / "gate").mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(APP), "-m", *overrides],
        cwd=cwd,
        env={**os.environ, "GATE_DIR": str(cwd / "gate")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def steer_command(cwd: Path, *words: str) -> subprocess.Popen:
    """``hydratune steer ...`` as a person types it in another shell."""
    return subprocess.Popen(
        [sys.executable, "-m", "hydratune", "steer", *words],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def succeed(*procs: subprocess.Popen) -> list[str]:
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:]
    return outputs


def started(cwd: Path, *numbers: int) -> None:
    for n in numbers:
        wait_for(lambda n=n: (cwd / "gate" / f"started-{n}").exists(), f"trial {n} to start")


@pytest.mark.slow
def test_n_jobs_2_workers_honour_steering_and_prune_in_a_worker_process(tmp_path):
    app = start_app(tmp_path, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2")
    started(tmp_path, 0, 1)
    sweep_dir = "sweeps/quadratic"
    succeed(steer_command(tmp_path, sweep_dir, "fix", "kind=b"))
    succeed(steer_command(tmp_path, sweep_dir, "prune", "1"))
    started(tmp_path, 2)  # trial 1 was pruned in its worker, and its slot asked again
    (tmp_path / "gate" / "go-all").touch()
    succeed(app)
    trials = load("quadratic", tmp_path).trials
    assert trials[1].state == TrialState.PRUNED and PRUNE_REQUESTED in trials[1].user_attrs
    assert all(t.params["kind"] == "b" for t in trials[2:])
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 6


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_on_postgres_and_two_steerers_at_once(tmp_path, postgres_url):
    study = "steered"
    where = ["--storage", postgres_url, "--study", study]
    settings = [
        f"hydra.sweeper.storage={postgres_url}",
        f"hydra.sweeper.study_name={study}",
        "hydra.sweeper.n_trials=6",
    ]
    workers = [start_app(tmp_path, *settings) for _ in range(2)]
    started(tmp_path, 0, 1)  # one trial held in each worker
    # two people at once, from two shells
    succeed(
        steer_command(tmp_path, *where, "fix", "kind=b"),
        steer_command(tmp_path, *where, "narrow", "x=interval(0, 2)"),
    )
    for n in (0, 1):
        (tmp_path / "gate" / f"go-{n}").touch()
    started(tmp_path, 2, 3)  # the next trial of each worker, asked after the steering
    (tmp_path / "gate" / "go-all").touch()
    succeed(*workers)

    trials = optuna.load_study(study_name=study, storage=postgres_url).trials
    later = [t for t in trials if t.number >= 2 and t.state == TrialState.COMPLETE]
    assert len({t.user_attrs["owner"] for t in later}) == 2  # both workers ran steered trials
    assert all(t.params["kind"] == "b" and 0 <= t.params["x"] <= 2 for t in later)
    state = read_state(optuna.load_study(study_name=study, storage=postgres_url).user_attrs)
    assert sorted(a.verb for a in state.actions) == ["fix", "narrow"]
    shown = succeed(steer_command(tmp_path, *where, "show"))[0]
    assert "fix kind=b" in shown and "narrow x=[0.0, 2.0]" in shown
    assert postgres_url.split(":")[2].split("@")[0] not in shown  # no password printed


@pytest.mark.slow  # seconds of real sweeps; the core verbs stay in the fast tier
def test_the_report_marks_steering_on_the_history_and_lists_it(sweep, tmp_path):
    from hydratune.insight.report import write_report
    from hydratune.insight.report.model import objectives_of
    from hydratune.insight.report.sections import build_sections

    sweep(["hydra.sweeper.n_trials=3"])
    steer = steerer(tmp_path)
    steer.fix(["kind=b"])
    steer.n_trials(5)
    sweep(["hydra.sweeper.n_trials=3"])  # the rerun honours the steered target
    study = load("quadratic", tmp_path)
    assert len(study.trials) == 5 and all(t.params["kind"] == "b" for t in study.trials[3:])

    sections = build_sections(study, study.trials, objectives_of(study))
    history = next(s for s in sections if s.key == "history").figures[0][1]
    (line,) = history.layout.shapes
    assert line.x0 == 2.5  # just before trial 3, the first one steered
    assert history.layout.annotations[0].text == "fix kind=b; n_trials 5"
    markdown = write_report(study, tmp_path / "report", png=False).markdown.read_text()
    assert "Steering" in markdown and "| #3 | fix kind=b |" in markdown
