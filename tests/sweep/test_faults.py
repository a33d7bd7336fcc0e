"""Faults a user meets, each injected for real: a task that exits, Ctrl-C and SIGTERM inside
Lightning, a damaged journal, an old sweep dir, a truncated ``multirun.yaml``."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from chromium import CHROMIUM
from helpers import (
    APPS,
    TINY_SWEEP,
    load,
    sigint_to_group,
    start_python,
    start_quadratic_app,
    wait_for_marker,
)
from hydratune.attrs import HEARTBEAT, LOST, OWNER, RETRIES, RETRY_OF
from hydratune.errors import StudyConfigError
from hydratune.owner import this_process
from hydratune.space.grammar import SearchSpaceError
from hydratune.steering import counts_toward_n_trials
from hydratune.sweep.failure_aware import failed_by_itself
from hydratune.sweep.recovery import Recovery
from hydratune.sweep.sweeper import SweepFailedError


def exits_in_trials_1_and_2(cfg):
    """Trial 1 ends its own process the way user code may, ``sys.exit(2)``; trial 2 raises
    ``KeyboardInterrupt()`` (no text) while nobody pressed Ctrl-C."""
    number = HydraConfig.get().job.num
    if number == 1:
        sys.exit(2)
    if number == 2:
        raise KeyboardInterrupt()
    return 0.0


@pytest.mark.parametrize("n_jobs", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_a_task_that_exits_fails_its_trial_and_the_sweep_goes_on(sweep, tmp_path, n_jobs):
    """Both ways of exiting in one sweep: a sweep with ``n_jobs=2`` starts two worker
    processes (seconds), and the trials fail each by itself."""
    sweep(
        [
            "hydra.sweeper.n_trials=4",
            f"hydra.sweeper.n_jobs={n_jobs}",
            "hydra.sweeper.max_failure_rate=0.5",
        ],
        task=exits_in_trials_1_and_2,
    )
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials].count(TrialState.FAIL) == 2
    for failed, raised in ((trials[1], "SystemExit(2)"), (trials[2], "KeyboardInterrupt()")):
        assert failed.state == TrialState.FAIL and raised in failed.user_attrs["fail_reason"]
        assert LOST not in failed.user_attrs  # its own failure: its parameters are not retried
    assert all(t.state == TrialState.COMPLETE for t in trials if t.number not in (1, 2))


def start_lightning_sweep(cwd: Path, hang_at: int) -> subprocess.Popen:
    """``hydratune -m`` of a tiny Lightning sweep whose trial ``hang_at`` hangs inside ``fit``."""
    return start_python(
        cwd,
        "-m",
        "hydratune",
        "-m",
        *TINY_SWEEP,
        "hydra.sweeper.report=false",
        "hydra.sweeper.export_best=false",
        "+callbacks.hang._target_=hang_callback.HangInTraining",
        env={"HANG_AT_TRIAL": str(hang_at), "HANG_MARKER": str(cwd / "hanging")},
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_inside_lightning_fails_the_trial_as_lost_and_writes_results(tmp_path, sig):
    proc = start_lightning_sweep(tmp_path, hang_at=1)
    wait_for_marker(tmp_path / "hanging", proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig  # as the shell expects, after one clear summary line
    assert "run the same command to continue" in out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
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


@pytest.mark.parametrize("cut_before", ["  sweep:", "  runtime:"], ids=["sweep", "runtime"])
def test_report_of_a_sweep_dir_with_a_truncated_multirun_yaml_uses_the_results_file(
    sweep, tmp_path, monkeypatch, cut_before
):
    """Cut inside hydra.sweep, or after hydra.sweeper (which names no storage, so the
    default journal of a directory the file no longer names) but before hydra.runtime.cwd."""
    from typer.testing import CliRunner

    from hydratune import cli

    sweep(["hydra.sweeper.n_trials=3"])
    sweep_dir = tmp_path / "sweeps/quadratic"
    multirun = sweep_dir / "multirun.yaml"
    text = multirun.read_text()
    multirun.write_text(text[: text.index(f"\n{cut_before}\n") + 1])
    monkeypatch.chdir("/")  # the default storage of another directory must not be guessed
    result = CliRunner().invoke(
        cli.app, ["report", str(sweep_dir), "--no-png", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    best = load("quadratic", tmp_path).best_trial
    assert f"trial #{best.number}: {best.value:.6g}" in (tmp_path / "r" / "report.md").read_text()


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


@pytest.mark.cli
def test_a_ctrl_c_that_a_child_dies_of_first_fails_the_trial_as_interrupted(tmp_path):
    """The sweep stops on the child's error rather than the KeyboardInterrupt: its trial is
    failed as lost all the same, and says it was interrupted."""
    hook = "hydra.sweeper.custom_search_space=interrupted_hook.child_killed_by_ctrl_c"
    proc = start_quadratic_app(tmp_path, "hydra.sweeper.n_trials=3", hook)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "CalledProcessError" in out, out
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL], out
    assert trials[1].user_attrs[LOST]
    reason = "lost: interrupted by SIGINT, the sweep stopped on CalledProcessError"
    assert trials[1].user_attrs["fail_reason"] == reason


@pytest.mark.cli
@pytest.mark.parametrize("where", ["hook", "trial"])
def test_a_ctrl_c_that_surfaces_as_an_os_error_still_fails_the_running_trial_as_lost(
    tmp_path, where
):
    """An OSError reads as the storage failing, and a trial's error as its own failure: after
    a Ctrl-C either is the interrupt (a clean clone once left a Slurm trial RUNNING so)."""
    if where == "hook":
        hook = "hydra.sweeper.custom_search_space=interrupted_hook.pipe_broken_by_ctrl_c"
        proc = start_quadratic_app(tmp_path, "hydra.sweeper.n_trials=3", hook)
    else:
        env = {"CTRL_C_IN_CLEANUP_AT_TRIAL": "1"}
        proc = start_quadratic_app(tmp_path, "hydra.sweeper.n_trials=3", env=env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL], out
    assert trials[1].user_attrs[LOST] and "SIGINT" in trials[1].user_attrs["fail_reason"]


def journal_of(tmp_path: Path) -> Path:
    return tmp_path / "outputs/hydratune.journal"


@pytest.mark.parametrize("name", ["optimization_results.yaml", "best_config.yaml"])
def test_a_results_file_of_the_users_in_the_sweep_dir_is_refused_before_any_trial(
    sweep, tmp_path, name
):
    mine = tmp_path / "sweeps" / "quadratic" / name
    mine.parent.mkdir(parents=True)
    mine.write_text("lr: 1  # mine\n")
    with pytest.raises(StudyConfigError, match=f"{name} exists and was not written by a sweep"):
        sweep(["hydra.sweeper.n_trials=2"])
    assert mine.read_text() == "lr: 1  # mine\n"
    assert load("quadratic", tmp_path).trials == []


def test_a_torn_journal_tail_is_moved_aside_and_the_rerun_continues(sweep, tmp_path, capfd):
    sweep(["hydra.sweeper.n_trials=3"])
    journal = journal_of(tmp_path)
    journal.chmod(0o600)  # a private journal
    whole = journal.stat().st_size
    with open(journal, "ab") as f:  # a write cut short by a full disk or a kill
        f.write(b'{"op_code":5,"worker_id":"x","trial_id":0,"user_attr":{"a')
    sweep(["hydra.sweeper.n_trials=5"])
    trials = load("quadratic", tmp_path).trials  # plain Optuna reads it
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    (aside,) = tmp_path.glob("outputs/hydratune.journal.damaged-*")
    assert aside.read_bytes().startswith(b'{"op_code":5,"worker_id":"x"')
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600  # its records as private as the journal's
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


# --- owners, lost workers, n_trials ---------------------------------------------------------


def stale_study(tmp_path: Path, owner: str, beat_age: float) -> tuple[optuna.Study, int]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "s.journal")))
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr(OWNER, owner)
    trial.set_user_attr(HEARTBEAT, time.time() - beat_age)
    return study, trial.number


def mark_of(pid: int, start: str, namespace: str | None = None) -> str:
    """An owner mark as ``owner.this_process`` writes it, for another process on this host."""
    host, _, boot, ours, _, _ = this_process().split(":")
    return ":".join([host, str(pid), boot, namespace or ours, start, "0badc0de"])


def start_ticks(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]


@pytest.mark.parametrize(
    "owner",
    [
        pytest.param(lambda: f"{socket.gethostname()}:{os.getpid()}", id="old-mark-our-pid"),
        pytest.param(lambda: mark_of(os.getpid(), start_ticks(os.getpid())), id="our-pid-reused"),
        pytest.param(lambda: mark_of(1, "1"), id="live-pid-other-start"),
    ],
)
def test_a_trial_owned_by_an_earlier_life_of_a_live_pid_is_lost(tmp_path, owner):
    # In a container every sweeper is PID 1: the killed one's PID is the rerun's own.
    study, number = stale_study(tmp_path, owner(), beat_age=0)  # a fresh heartbeat, even
    assert Recovery(study).recover(force=True) == [number]
    assert "is gone" in study.trials[number].user_attrs["fail_reason"]


def test_a_live_owner_is_left_alone_and_a_foreign_one_is_judged_by_its_heartbeat(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        live = mark_of(child.pid, start_ticks(child.pid))
        study, _ = stale_study(tmp_path / "a", live, beat_age=3600)
        assert Recovery(study, grace=60).recover(force=True) == []  # alive: the PID says so
    finally:
        child.communicate()
    other_container = mark_of(child.pid, "1", namespace="4026530000")
    for beat_age, lost in ((5, []), (120, [0])):
        study, _ = stale_study(tmp_path / str(beat_age), other_container, beat_age=beat_age)
        assert Recovery(study, grace=60).recover(force=True) == lost


def test_a_lost_trial_is_retried_and_a_retry_lost_again_is_a_failure_once_retries_are_spent(
    tmp_path,
):
    dead = mark_of(os.getpid(), "1")  # our pid, an earlier life: its sweep process is gone
    study, first = stale_study(tmp_path, dead, beat_age=0)
    recovery = Recovery(study, max_retries=1)
    assert recovery.recover(force=True) == [first]
    assert study.trials[first].user_attrs[LOST] and recovery.given_up == []
    retry = study.ask()  # the queued retry, run by a sweep that dies too
    assert retry.user_attrs == {RETRY_OF: first, RETRIES: 1}
    retry.set_user_attr(OWNER, dead)
    retry.set_user_attr(HEARTBEAT, time.time())
    assert recovery.recover(force=True) == [retry.number]
    failed = study.trials[retry.number]
    assert LOST not in failed.user_attrs and counts_toward_n_trials(failed)
    assert "on each of 2 attempt(s)" in failed.user_attrs["fail_reason"]
    assert recovery.given_up == [(retry.number, failed.user_attrs["fail_reason"])]
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2  # not queued again


def kills_its_worker_in_trial_1(cfg):
    """Trial 1's worker process dies as the OOM killer kills it."""
    if HydraConfig.get().job.num == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return 0.0


@pytest.mark.slow  # starts worker processes
def test_a_killed_worker_is_retried_and_is_no_failure_even_at_max_failure_rate_0(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2"], task=kills_its_worker_in_trial_1)
    trials = load("quadratic", tmp_path).trials
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs[LOST]
    assert "worker process died" in trials[1].user_attrs["fail_reason"]
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == 1]
    assert retry.state == TrialState.COMPLETE and retry.params == trials[1].params
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 4


# Above it, parameters kill their worker (kills_its_worker_when_x_is_large). With the sampler's
# seed, trial 2 draws the only such x of a 4-trial sweep: killed on both its attempts. Each
# death costs a fresh worker process, seconds (x > 0 over 6 trials killed four).
KILLING_X = 2


def kills_its_worker_when_x_is_large(cfg):
    """Parameters that kill their worker on every attempt: a deterministic OOM or segfault."""
    if cfg.x > KILLING_X:
        os.kill(os.getpid(), signal.SIGKILL)
    return 0.0


@pytest.mark.slow  # starts worker processes
def test_parameters_that_kill_their_worker_on_every_attempt_fail_once_max_retries_are_spent(
    sweep, tmp_path
):
    with pytest.raises(SweepFailedError, match=r"max_retries=1 spent") as raised:
        sweep(
            ["hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2"],
            task=kills_its_worker_when_x_is_large,
        )
    said = str(raised.value)  # counted: the failures listed are more than the rate allows
    assert "more than 0 failed trial(s), which hydra.sweeper.max_failure_rate=0.0" in said
    trials = load("quadratic", tmp_path).trials
    given_up = [t for t in trials if t.state == TrialState.FAIL and not t.user_attrs.get(LOST)]
    assert given_up, [(t.state, t.user_attrs) for t in trials]
    for failure in given_up:
        first = trials[failure.user_attrs[RETRY_OF]]  # the attempt before, lost and retried
        assert first.user_attrs[LOST] and first.params == failure.params
        assert "worker process died" in failure.user_attrs["fail_reason"]
        assert "on each of 2 attempt(s)" in failure.user_attrs["fail_reason"]
        assert failed_by_itself(failure)  # TPE and GP see it as the worst trial
        assert counts_toward_n_trials(failure)
    killing = [t for t in trials if t.params["x"] > KILLING_X]
    assert killing and all(t.state == TrialState.FAIL for t in killing)


def test_max_failure_rate_1_never_stops_and_the_sweep_ends_at_n_trials(sweep, tmp_path):
    overrides = ["hydra.sweeper.max_failure_rate=1.0", "fail_when_x_above=2"]
    sweep(["hydra.sweeper.n_trials=12", *overrides])
    trials = load("quadratic", tmp_path).trials
    assert len(trials) == 12 and all(t.state.is_finished() for t in trials)
    assert 0 < [t.state for t in trials].count(TrialState.FAIL) < 12


def test_every_trial_failing_at_max_failure_rate_1_runs_n_trials_and_fails_the_command(
    sweep, tmp_path
):
    with pytest.raises(SweepFailedError, match="every trial failed"):
        sweep(
            ["hydra.sweeper.n_trials=5", "hydra.sweeper.max_failure_rate=1.0"], task=lambda c: None
        )
    assert [t.state for t in load("quadratic", tmp_path).trials] == [TrialState.FAIL] * 5


@pytest.mark.slow
def test_workers_die_with_their_sweeper(tmp_path):
    # one trial, the one that hangs: its worker is the one watched, and the pool starts no other
    env = dict(os.environ, HANG_AT_TRIAL="0", HANG_MARKER=str(tmp_path / "hanging"))
    overrides = ["hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=1"]
    proc = subprocess.Popen(
        [sys.executable, str(APPS / "quadratic_app.py"), "-m", *overrides],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = wait_for_marker(tmp_path / "hanging", proc)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while process_alive(worker):
        assert time.monotonic() < deadline, f"worker {worker} outlived its sweeper"
        time.sleep(0.05)  # polling the worker's state


@pytest.mark.slow  # starts worker processes, three times
def test_a_sweeper_killed_twice_while_its_worker_runs_a_trial_spends_no_retry(tmp_path):
    """The worker was healthy: the sweeper's kill -9 was no fault of the trial's parameters,
    which run again after each (a worker that dies of them is the case max_retries is for).
    One trial: each run starts one worker process, not two (seconds each)."""
    hang_at, overrides = "0", ["hydra.sweeper.n_trials=1", "hydra.sweeper.n_jobs=2"]
    for _ in range(2):
        (tmp_path / "hanging").unlink(missing_ok=True)
        proc = start_quadratic_app(tmp_path, *overrides, hang_at=int(hang_at))
        wait_for_marker(tmp_path / "hanging", proc)
        proc.kill()  # kill -9 of the sweeper; its workers die with it
        proc.communicate()
        hang_at = str(len(load("quadratic", tmp_path).trials))  # the next retry's number
    done = start_quadratic_app(tmp_path, *overrides)
    out, _ = done.communicate(timeout=120)
    assert done.returncode == 0, out
    trials = load("quadratic", tmp_path).trials
    first_params = trials[0].params
    again = [t for t in trials if t.params == first_params]
    assert [t.state for t in again] == [TrialState.FAIL, TrialState.FAIL, TrialState.COMPLETE]
    assert all(t.user_attrs[LOST] for t in again[:2]), [t.user_attrs for t in again]
    assert "a worker ran it" in again[1].user_attrs["fail_reason"]
    assert "spent" not in out


def test_a_worker_whose_sweeper_died_while_it_started_ends_at_once():
    # its sweeper (here pid 1, not this child's parent) was killed before the worker's
    # initializer ran: the worker's parent is no longer it, and it must not run on
    code = "from hydratune.execute.local import _die_with_parent; _die_with_parent(1); print('on')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "on" not in done.stdout, done.stdout + done.stderr


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


# --- checks before the first write ----------------------------------------------------------


def test_a_direction_switch_with_the_grid_sampler_fails_before_changing_the_study(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=2", "x=choice(0, 1)"])
    before = (tmp_path / "outputs/hydratune.journal").read_bytes()
    started = time.monotonic()
    with pytest.raises(StudyConfigError, match="hydra.sweeper.direction: study 'quadratic'"):
        sweep(
            [
                "hydra.sweeper.n_trials=4",
                "hydra.sweeper.direction=maximize",
                "hydra/sweeper/sampler=grid",
                "x=choice(0, 1)",
            ],
            task=pytest.fail,
        )
    assert (tmp_path / "outputs/hydratune.journal").read_bytes() == before  # nothing written
    assert time.monotonic() - started < 25  # not the grid queue's 30 s wait for another worker


@pytest.mark.parametrize(
    "expr", ["interval(0, inf)", "interval(-inf, 0)", "tag(log, interval(1e-3, inf))"]
)
def test_an_infinite_interval_is_rejected_naming_the_key_before_the_study_exists(
    sweep, tmp_path, expr
):
    with pytest.raises(SearchSpaceError, match=r"\(x\): interval\(.*\) needs finite bounds"):
        sweep(["hydra.sweeper.n_trials=2", f"x={expr}"], task=pytest.fail)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("expr", ["range(0, inf)", "range(-inf, 3)", "shuffle(range(0, inf))"])
def test_an_infinite_range_is_rejected_naming_the_key_before_the_study_exists(
    sweep, tmp_path, expr
):
    with pytest.raises(SearchSpaceError, match=r"\(x\): .*range\(.*\) needs finite start"):
        sweep(["hydra.sweeper.n_trials=2", f"x={expr}"], task=pytest.fail)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_the_results_are_written_ends_in_one_line_and_a_rerun_writes_them(
    tmp_path, sig
):
    export = tmp_path / "conf/experiment/quadratic_best.yaml"
    command = ["hydra.sweeper.n_trials=2", f"hydra.sweeper.export_best={export}"]
    # the signal comes as the sweep opens its results file, after its last trial
    env = {"SIGNAL_WHEN_OPENING": f"optimization_results.yaml:{sig.name}"}
    proc = start_quadratic_app(tmp_path, *command, env=env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    said = " ".join(out.split())
    assert f"sweep interrupted by {sig.name} while it wrote its results, report and best" in said
    assert "the same command run again writes what is missing" in said
    sweep_dir = tmp_path / "sweeps/quadratic"
    assert not (sweep_dir / "optimization_results.yaml").exists()
    assert [t.state for t in load("quadratic", tmp_path).trials] == [TrialState.COMPLETE] * 2

    rerun = start_quadratic_app(tmp_path, *command)  # nothing to run: it writes them
    out, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, out
    said = " ".join(out.split())
    written = "as the study now says: optimization_results.yaml, best_config.yaml, the export"
    assert "nothing to run" in said and written in said
    best = load("quadratic", tmp_path).best_trial.number
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert results.best_trial_number == best and results.finished == 2
    assert (sweep_dir / "best_config.yaml").read_bytes() == (
        sweep_dir / str(best) / ".hydra/config.yaml"
    ).read_bytes()
    assert f"# Trial #{best} of study 'quadratic'" in export.read_text()


@pytest.mark.chromium
def test_ctrl_c_while_the_report_draws_ends_with_one_line_and_loses_no_trial(tmp_path):
    # The report's browser says it started, then waits for the test's go (a FIFO) before it
    # runs Chromium: Ctrl-C reaches the sweep while its report draws, not before or after.
    started, go = tmp_path / "browser-started", tmp_path / "go"
    os.mkfifo(go)
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho $$ > {started}\nread _ < {go}\nexec {CHROMIUM} "$@"\n')
    browser.chmod(0o755)
    report = ["hydra.sweeper.report=true", "hydra.sweeper.report_png=true"]
    proc = start_quadratic_app(
        tmp_path, "hydra.sweeper.n_trials=2", *report, env={"BROWSER_PATH": str(browser)}
    )
    wait_for_marker(started, proc)
    proc.send_signal(signal.SIGINT)
    go.write_text("go\n")  # the browser runs on; the sweep's report is given up
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    said = " ".join(out.split())
    assert "sweep interrupted by SIGINT while it wrote its results, report and best config" in said
    assert "`hydratune report sweeps/quadratic`" in said
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    results = OmegaConf.load(tmp_path / "sweeps/quadratic/optimization_results.yaml")
    assert results.n_trials.complete == 2
