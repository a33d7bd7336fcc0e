"""Faults a user meets, each injected for real: a task that exits, Ctrl-C and SIGTERM inside
Lightning, a damaged journal, an old sweep dir, a truncated ``multirun.yaml``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers import APPS, TINY_SWEEP, load
from hydratune.attrs import LOST


def exits_in_trial_1(cfg):
    """Trial 1 ends its own process the way user code may: ``sys.exit(2)``."""
    if HydraConfig.get().job.num == 1:
        sys.exit(2)
    return 0.0


def raises_bare_keyboard_interrupt_in_trial_1(cfg):
    """Trial 1 raises ``KeyboardInterrupt()`` (no text) while nobody pressed Ctrl-C."""
    if HydraConfig.get().job.num == 1:
        raise KeyboardInterrupt()
    return 0.0


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize(
    ("task", "raised"),
    [
        (exits_in_trial_1, "SystemExit(2)"),
        (raises_bare_keyboard_interrupt_in_trial_1, "KeyboardInterrupt()"),
    ],
)
def test_a_task_that_exits_fails_its_trial_and_the_sweep_goes_on(
    sweep, tmp_path, task, raised, n_jobs
):
    sweep(
        [
            "hydra.sweeper.n_trials=4",
            f"hydra.sweeper.n_jobs={n_jobs}",
            "hydra.sweeper.max_failure_rate=0.5",
        ],
        task=task,
    )
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials].count(TrialState.FAIL) == 1
    failed = trials[1]
    assert failed.state == TrialState.FAIL and raised in failed.user_attrs["fail_reason"]
    assert LOST not in failed.user_attrs  # its own failure: its parameters are not retried
    assert all(t.state == TrialState.COMPLETE for t in trials if t.number != 1)


def start_lightning_sweep(cwd: Path, hang_at: int) -> subprocess.Popen:
    """``hydratune -m`` of a tiny Lightning sweep whose trial ``hang_at`` hangs inside ``fit``."""
    env = dict(os.environ, HANG_AT_TRIAL=str(hang_at), HANG_MARKER=str(cwd / "hanging"))
    env["PYTHONPATH"] = os.pathsep.join([str(APPS), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hydratune",
            "-m",
            *TINY_SWEEP,
            "hydra.sweeper.report=false",
            "hydra.sweeper.export_best=false",
            "+callbacks.hang._target_=hang_callback.HangInTraining",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,
    )


def default_sigint() -> None:
    """Ctrl-C as a terminal gives it (a background job inherits SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_marker(marker: Path, proc: subprocess.Popen, deadline_s: float = 120) -> int:
    deadline = time.monotonic() + deadline_s
    while not marker.exists() or not marker.read_text():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "the trial never started"
        time.sleep(0.05)  # polling for the marker, not waiting for a guessed duration
    return int(marker.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_inside_lightning_fails_the_trial_as_lost_and_writes_results(tmp_path, sig):
    proc = start_lightning_sweep(tmp_path, hang_at=1)
    wait_for_marker(tmp_path / "hanging", proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    trials = load("mlp_digits", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert trials[1].user_attrs[LOST] and sig.name in trials[1].user_attrs["fail_reason"]
    results = OmegaConf.load(tmp_path / "outputs/sweeps/mlp_digits/optimization_results.yaml")
    assert results.n_trials.running == 0 and results.n_trials.fail == 1
    assert f"interrupted by {sig.name}" in out and "run the same command to continue" in out


def test_a_new_journal_does_not_reuse_the_trial_dirs_of_an_old_one(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=3"])
    sweep_dir = tmp_path / "sweeps/quadratic"
    (sweep_dir / "0" / "old-checkpoint.ckpt").write_text("from the first study")
    (tmp_path / "outputs/hydratune.journal").unlink()  # a new journal, the same sweep dir
    sweep(["hydra.sweeper.n_trials=2"])
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]
    assert not (sweep_dir / "0" / "old-checkpoint.ckpt").exists()
    (aside,) = tmp_path.glob("sweeps/quadratic.before-*")
    assert sorted(p.name for p in aside.iterdir()) == ["0", "1", "2"]
    assert (aside / "0" / "old-checkpoint.ckpt").read_text() == "from the first study"


@pytest.mark.parametrize("keep", [0.05, 0.5])
def test_report_of_a_sweep_dir_with_a_truncated_multirun_yaml_uses_the_results_file(
    sweep, tmp_path, monkeypatch, keep
):
    from typer.testing import CliRunner

    from hydratune import cli

    sweep(["hydra.sweeper.n_trials=3"])
    sweep_dir = tmp_path / "sweeps/quadratic"
    multirun = sweep_dir / "multirun.yaml"
    multirun.write_bytes(multirun.read_bytes()[: int(multirun.stat().st_size * keep)])
    monkeypatch.chdir("/")  # the default storage of another directory must not be guessed
    result = CliRunner().invoke(
        cli.app, ["report", str(sweep_dir), "--no-png", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    best = load("quadratic", tmp_path).best_trial
    assert f"trial #{best.number}: {best.value:.6g}" in (tmp_path / "r" / "report.md").read_text()


def sigint_to_group() -> None:
    """A process group of its own, with Ctrl-C as a terminal gives it to every process in it."""
    os.setsid()
    default_sigint()


@pytest.mark.slow
def test_ctrl_c_with_two_workers_fails_running_trials_without_tracebacks(tmp_path):
    env = dict(os.environ, HANG_AT_TRIAL="2", HANG_MARKER=str(tmp_path / "hanging"))
    command = [sys.executable, str(APPS / "quadratic_app.py"), "-m", "hydra.sweeper.n_trials=5"]
    proc = subprocess.Popen(
        [*command, "hydra.sweeper.n_jobs=2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=sigint_to_group,
    )
    wait_for_marker(tmp_path / "hanging", proc)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the sweeper and its workers
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "IndexError" not in out and "Exception in" not in out, out
    trials = load("quadratic", tmp_path).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING], out
    assert trials[2].state == TrialState.FAIL and trials[2].user_attrs[LOST]
    print(out[-3000:])


def journal_of(tmp_path: Path) -> Path:
    return tmp_path / "outputs/hydratune.journal"


def test_a_torn_journal_tail_is_moved_aside_and_the_rerun_continues(sweep, tmp_path, capfd):
    sweep(["hydra.sweeper.n_trials=3"])
    journal = journal_of(tmp_path)
    whole = journal.stat().st_size
    with open(journal, "ab") as f:  # a write cut short by a full disk or a kill
        f.write(b'{"op_code":5,"worker_id":"x","trial_id":0,"user_attr":{"a')
    sweep(["hydra.sweeper.n_trials=5"])
    trials = load("quadratic", tmp_path).trials  # plain Optuna reads it
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    (aside,) = tmp_path.glob("outputs/hydratune.journal.damaged-*")
    assert aside.read_bytes().startswith(b'{"op_code":5,"worker_id":"x"')
    warning = f"hydratune.journal: damaged journal line at byte {whole}"
    assert warning in "".join(capfd.readouterr())  # Hydra's job logging owns the log


def test_garbage_lines_are_skipped_and_no_complete_record_is_lost(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=2"])
    journal = journal_of(tmp_path)
    with open(journal, "ab") as f:
        f.write(b"GARBAGE\n")  # echo GARBAGE >> outputs/hydratune.journal
        # a torn record, then a complete one glued to it by a writer that does not repair
        f.write(b'{"op_code":5,"worker_id":"x","trial_id":0,"us')
        f.write(b'{"op_code":2,"worker_id":"w","study_id":0,"user_attr":{"glued":"kept"}}\n')
    journal.write_bytes(journal.read_bytes().replace(b"\n", b"\nGARBAGE\n", 1))  # mid-file
    sweep(["hydra.sweeper.n_trials=3"])
    study = load("quadratic", tmp_path)  # plain Optuna reads it
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert study.user_attrs["glued"] == "kept"
    (aside,) = tmp_path.glob("outputs/hydratune.journal.damaged-*")
    assert aside.read_bytes().count(b"GARBAGE") == 2
