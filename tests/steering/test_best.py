"""A trial failed by hand (``hydratune steer fail``) is never the best: the results file,
``hydratune export``, the report and ``steer show`` all name the next best, and each says once
which trial was passed over and why."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState, create_trial

from helpers import load, run_steer, swept_study
from hydratune.steering import best_trial, best_trials, passed_over, write_action

REASON = "the data loader skipped half the set"
# the end of a sweep writes its report (no PNGs: seconds of a browser) and its export too
WRAP_UP = ["hydra.sweeper.report=true", "hydra.sweeper.report_png=false"]


def hydratune(cwd, *words) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hydratune", *map(str, words)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return " ".join((done.stdout + done.stderr).split())


def fail_the_best(cwd: Path, overrides: Sequence[str] = ()) -> tuple[int, int]:
    """A sweep of 6 trials in ``cwd`` whose best was then failed by hand; (best, next best)."""
    study = swept_study(cwd, ["hydra.sweeper.n_trials=6", *overrides])
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    ranked = sorted(complete, key=lambda t: (t.value, t.number))
    said = run_steer(cwd, "sweeps/quadratic", "fail", ranked[0].number, REASON)
    assert said.returncode == 0, said.stderr
    return ranked[0].number, ranked[1].number


@pytest.fixture
def failed_best(tmp_path) -> tuple[int, int]:
    """For a test that goes on sweeping: its own."""
    return fail_the_best(tmp_path)


@pytest.fixture(scope="module")
def failed_best_read(tmp_path_factory) -> tuple[Path, int, int]:
    """For the tests that only read the sweep dir, one: (its cwd, best, next best)."""
    cwd = tmp_path_factory.mktemp("failed_best")
    return cwd, *fail_the_best(cwd)


@pytest.mark.cli
def test_the_results_file_names_the_next_best_and_why(sweep, tmp_path, failed_best):
    failed, next_best = failed_best
    fixed = run_steer(tmp_path, "sweeps/quadratic", "fix", "x=5", "y=4", "kind=a")  # a bad one
    assert fixed.returncode == 0, fixed.stderr
    sweep(["hydra.sweeper.n_trials=7"])  # the sweep goes on: the results file is written again
    study = load("quadratic", tmp_path)
    assert study.best_trial.number == failed  # Optuna still names it
    results = yaml.safe_load((tmp_path / "sweeps/quadratic/optimization_results.yaml").read_text())
    assert results["best_trial_number"] == next_best
    assert results["best_excludes"] == f"not counted as best, failed by hand: #{failed} ({REASON})"
    best_config = yaml.safe_load((tmp_path / "sweeps/quadratic/best_config.yaml").read_text())
    assert best_config["x"] == study.trials[next_best].params["x"]


@pytest.mark.cli
def test_a_finished_sweeps_command_run_again_writes_its_results_report_and_export_anew(
    sweep, tmp_path, capfd
):
    export = tmp_path / "conf/experiment/quadratic_best.yaml"
    command = [*WRAP_UP, f"hydra.sweeper.export_best={export}"]
    failed, next_best = fail_the_best(tmp_path, command)  # the sweep had finished naming it
    results_file = tmp_path / "sweeps/quadratic/optimization_results.yaml"
    report = tmp_path / "sweeps/quadratic/report/report.md"
    assert yaml.safe_load(results_file.read_text())["best_trial_number"] == failed
    assert f"- **best**: trial #{failed}: " in report.read_text()
    capfd.readouterr()
    sweep(["hydra.sweeper.n_trials=6", *command])  # nothing to run, the same command again
    assert len(load("quadratic", tmp_path).trials) == 6
    results = yaml.safe_load(results_file.read_text())
    assert results["best_trial_number"] == next_best
    assert results["best_excludes"] == f"not counted as best, failed by hand: #{failed} ({REASON})"
    best_config = yaml.safe_load((tmp_path / "sweeps/quadratic/best_config.yaml").read_text())
    assert best_config["x"] == load("quadratic", tmp_path).trials[next_best].params["x"]
    assert f"- **best**: trial #{next_best}: " in report.read_text()
    assert f"# Trial #{next_best} of study 'quadratic'" in export.read_text()
    said = "as the study now says: optimization_results.yaml, best_config.yaml, the report, the"
    assert said in "".join(capfd.readouterr())  # Hydra's job logging owns the log
    written = [path.stat().st_mtime_ns for path in (results_file, report, export)]
    sweep(["hydra.sweeper.n_trials=6", *command])  # and once they agree, nothing is written
    assert [path.stat().st_mtime_ns for path in (results_file, report, export)] == written
    assert "its result files were up to date" in "".join(capfd.readouterr())


@pytest.mark.cli
def test_when_every_complete_trial_is_failed_by_hand_the_results_say_there_is_no_best(
    sweep, tmp_path, capfd
):
    export = tmp_path / "conf/experiment/quadratic_best.yaml"
    command = ["hydra.sweeper.n_trials=2", f"hydra.sweeper.export_best={export}"]
    sweep(command)
    sweep_dir = tmp_path / "sweeps/quadratic"
    assert (sweep_dir / "best_config.yaml").is_file() and export.is_file()
    for number in (0, 1):
        said = run_steer(tmp_path, "sweeps/quadratic", "fail", number, REASON)
        assert said.returncode == 0, said.stderr
    best = load("quadratic", tmp_path).best_trial.number
    capfd.readouterr()
    sweep(command)  # nothing to run, the same command again
    said = "".join(capfd.readouterr())  # Hydra's job logging owns the log
    assert f"{export} removed: its trial #{best} was failed by hand" in said
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best_trial_number"] is None
    assert "best_params" not in results and "best_config" not in results
    assert "failed by hand" in results["best_excludes"]
    # both named a trial failed by hand and were provably ours: a rerun would have trained it
    assert not (sweep_dir / "best_config.yaml").exists() and not export.exists()


@pytest.mark.cli
def test_export_writes_the_next_best_and_says_why_once(tmp_path, failed_best_read):
    cwd, failed, next_best = failed_best_read
    said = hydratune(cwd, "export", "sweeps/quadratic", "--to", tmp_path / "e/best.yaml")
    assert said.count(REASON) == 1 and f"#{failed} ({REASON})" in said
    assert f"# Trial #{next_best} of study 'quadratic'" in (tmp_path / "e/best.yaml").read_text()
    # the trial failed by hand, asked for by number: refused, naming why, nothing written
    done = subprocess.run(
        [sys.executable, "-m", "hydratune", "export", "sweeps/quadratic", "--trial", str(failed)]
        + ["--to", str(tmp_path / "e/failed.yaml")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and not (tmp_path / "e/failed.yaml").exists()
    said = " ".join((done.stdout + done.stderr).split())
    assert f"trial #{failed} of study 'quadratic' was failed by hand ({REASON})" in said


@pytest.mark.cli
def test_the_report_names_the_next_best_and_lists_the_failed_one_with_its_reason(
    tmp_path, failed_best_read
):
    cwd, failed, next_best = failed_best_read
    hydratune(cwd, "report", "sweeps/quadratic", "--no-png", "--out", tmp_path / "r")
    markdown = (tmp_path / "r/report.md").read_text()
    assert f"- **best**: trial #{next_best}: " in markdown
    assert f"- **note**: not counted as best, failed by hand: #{failed}\n" in markdown
    assert f"| #{failed} | failed by hand | {REASON} |" in markdown
    top = markdown.split("Top ")[1].split("Pruned and failed")[0]
    assert f"| #{failed} |" not in top


@pytest.mark.cli
def test_steer_show_names_the_next_best_and_the_reason_once(failed_best_read):
    cwd, failed, next_best = failed_best_read
    said = hydratune(cwd, "steer", "sweeps/quadratic", "show")
    assert f"best so far: #{next_best} value" in said
    assert f"(not counted as best, failed by hand: #{failed})" in said
    assert said.count(REASON) == 1  # in the steering log


def two_objective_study(*values: tuple[float, float]) -> optuna.Study:
    study = optuna.create_study(directions=["minimize", "minimize"])
    for pair in values:
        study.add_trial(create_trial(values=list(pair)))
    return study


def test_the_front_without_a_trial_failed_by_hand_gains_the_trials_it_dominated():
    study = two_objective_study((1, 1), (2, 2), (3, 0), (2, 2))
    assert [t.number for t in best_trials(study)] == [0, 2]
    write_action(study, "fail", {"trial": 0, "reason": "wrong"}, "fail #0: wrong", 4)
    assert [t.number for t in best_trials(study)] == [1, 2, 3]  # equal values: both on it
    assert passed_over(study) == "not counted as best, failed by hand: #0 (wrong)"
    assert best_trial(study) is None  # no single best for two objectives


def test_a_trial_failed_by_hand_that_was_not_best_is_not_mentioned():
    study = optuna.create_study()
    for value in (3.0, 1.0, 2.0):
        study.add_trial(create_trial(value=value))
    write_action(study, "fail", {"trial": 0, "reason": "wrong"}, "fail #0: wrong", 3)
    assert best_trial(study).number == 1 and passed_over(study) is None
