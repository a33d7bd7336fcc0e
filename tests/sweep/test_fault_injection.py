"""Fault injection: start a sweep, inject one fault at a random moment, rerun the same command,
check the invariants. Every kind of fault, in the sweeper's process and with ``n_jobs=2``.

Faults: ``kill -9`` of the sweeper or of a worker, Ctrl-C (SIGINT to the process group, as a
terminal sends it), SIGTERM to the sweeper, a torn journal tail (a write cut short by a kill),
a task that calls ``sys.exit``. The moment is random (seeded): once trial k has started, after
a random time up to two trials' duration. Right after Ctrl-C or SIGTERM, no trial is left
RUNNING (the interrupted sweep failed them as lost). Invariants after the rerun: it exits 0; no
trial that was complete after the fault is lost or changed; no trial is RUNNING or WAITING;
exactly ``n_trials`` trials ended by themselves; every trial dir belongs to one trial; the
journal opens in plain Optuna. Each (mode, fault) pair is one test; the counts of faults
injected and survived are printed (``-s``); ``HYDRATUNE_FAULT_REPEAT=n`` runs every pair n
times (once in CI).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from helpers import APPS, sigint_to_group
from hydratune.attrs import OUTPUT_DIR
from hydratune.steering import finished_count

pytestmark = pytest.mark.slow

SEED = 14
N = 4
TRIAL_SECONDS = 0.25
COMMAND = [
    sys.executable,
    str(APPS / "quadratic_app.py"),
    "-m",
    f"hydra.sweeper.n_trials={N}",
    "hydra.sweeper.max_failure_rate=0.5",  # the trial that calls sys.exit fails by itself
]
KINDS = {
    "in-process": ["kill -9 sweeper", "SIGINT", "SIGTERM", "torn journal tail", "sys.exit"],
    "n_jobs=2": [
        "kill -9 sweeper",
        "kill -9 worker",
        "SIGINT",
        "SIGTERM",
        "torn journal tail",
        "sys.exit",
    ],
}


def plain_study(cwd: Path) -> optuna.Study:
    """The study as plain Optuna reads the journal (no hydratune repair)."""
    backend = JournalFileBackend(str(cwd / "outputs/hydratune.journal"))
    return optuna.load_study(study_name="quadratic", storage=JournalStorage(backend))


class Round:
    """One sweep with one fault, then the rerun, in its own directory."""

    def __init__(self, cwd: Path, mode: str, kind: str, rng: random.Random) -> None:
        self.cwd, self.mode, self.kind, self.rng = cwd, mode, kind, rng
        self.pids = cwd / "pids"
        self.pids.mkdir(parents=True)
        self.at_trial = rng.randrange(N - 1)
        self.env = dict(os.environ, TRIAL_PIDS=str(self.pids), TRIAL_SECONDS=str(TRIAL_SECONDS))
        if kind == "sys.exit":
            self.env["EXIT_AT_TRIAL"] = str(self.at_trial)
        self.command = [*COMMAND, f"hydra.sweeper.n_jobs={2 if mode == 'n_jobs=2' else 1}"]
        self.first_exit: int | None = None
        self.running_after_interrupt: list[int] = []

    def start(self) -> subprocess.Popen:
        return subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=sigint_to_group,
        )

    def inject(self) -> bool:
        """Run the sweep with the fault; whether the fault struck a running sweep."""
        proc = self.start()
        try:
            trial_pid = self._wait_for_trial(proc)
            if self.kind == "sys.exit":  # the sweep must go on past the failing trial
                self.first_exit = proc.wait(timeout=120)
                return True
            time.sleep(self.rng.uniform(0, 2 * TRIAL_SECONDS))  # the random moment, not a wait
            if proc.poll() is not None:
                return False  # the sweep had ended: nothing to inject into
            if self.kind in ("kill -9 sweeper", "torn journal tail"):
                proc.kill()
            elif self.kind == "kill -9 worker":
                os.kill(trial_pid, signal.SIGKILL)
            elif self.kind == "SIGINT":
                os.killpg(proc.pid, signal.SIGINT)  # as a terminal: sweeper and workers
            elif self.kind == "SIGTERM":
                proc.terminate()
            proc.wait(timeout=120)
            if self.kind == "torn journal tail":
                self._tear_journal()
            if self.kind in ("SIGINT", "SIGTERM"):
                trials = plain_study(self.cwd).trials
                self.running_after_interrupt = [
                    t.number for t in trials if t.state == TrialState.RUNNING
                ]
            return True
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()

    def _wait_for_trial(self, proc: subprocess.Popen) -> int:
        """The pid running trial ``at_trial``, once that trial has started."""
        marker, deadline = self.pids / str(self.at_trial), time.monotonic() + 120
        while not marker.exists() or not marker.read_text():
            assert proc.poll() is None or self.kind == "sys.exit", proc.stdout.read()
            assert time.monotonic() < deadline, "the trial never started"
            time.sleep(0.02)  # polling for the marker
        return int(marker.read_text())

    def _tear_journal(self) -> None:
        """What a write cut short leaves: the first half of a record, no newline."""
        journal = self.cwd / "outputs/hydratune.journal"
        last = journal.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        with open(journal, "ab") as f:
            f.write(last[: len(last) // 2])

    def check_rerun(self) -> list[str]:
        """Rerun the same command; the invariants it broke (none: the fault was survived)."""
        complete_before = {
            t.number: t.values
            for t in plain_study(self.cwd).trials
            if t.state == TrialState.COMPLETE
        }
        rerun = self.start()
        out, _ = rerun.communicate(timeout=180)
        broken = [] if rerun.returncode == 0 else [f"rerun exit {rerun.returncode}: {out[-2000:]}"]
        if self.running_after_interrupt:
            broken.append(f"trials the interrupt left RUNNING: {self.running_after_interrupt}")
        if self.first_exit not in (None, 0):
            broken.append(f"the sweep stopped at the task's sys.exit: exit {self.first_exit}")
        study = plain_study(self.cwd)
        trials = study.trials
        after = {t.number: t for t in trials}
        lost = [n for n, v in complete_before.items() if after[n].values != v]
        if lost:
            broken.append(f"complete trials lost or changed: {lost}")
        stuck = [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        if stuck:
            broken.append(f"trials left RUNNING/WAITING: {stuck}")
        ended = finished_count(trials)
        if ended != N:
            broken.append(f"{ended} trials ended by themselves, not n_trials={N}")
        broken += self._trial_dirs(trials)
        return broken

    def _trial_dirs(self, trials: list[optuna.trial.FrozenTrial]) -> list[str]:
        dirs = [t.user_attrs[OUTPUT_DIR] for t in trials if OUTPUT_DIR in t.user_attrs]
        broken = [] if len(dirs) == len(set(dirs)) else [f"trial dirs shared: {dirs}"]
        broken += [
            f"trial #{t.number} wrote to {t.user_attrs[OUTPUT_DIR]}"
            for t in trials
            if OUTPUT_DIR in t.user_attrs and Path(t.user_attrs[OUTPUT_DIR]).name != str(t.number)
        ]
        numbers = {str(t.number) for t in trials}
        sweep_dir = self.cwd / "sweeps/quadratic"
        strays = [p.name for p in sweep_dir.iterdir() if p.is_dir() and p.name not in numbers]
        return broken + ([f"dirs of no trial: {strays}"] if strays else [])


@pytest.mark.parametrize(
    ("mode", "kind"), [(mode, kind) for mode, kinds in KINDS.items() for kind in kinds]
)
def test_every_fault_is_survived_by_a_rerun(tmp_path, mode, kind):
    """One (mode, fault) pair per test, so pytest-xdist shares them out; each draws its moments
    from its own seeded generator. A draw that finds the sweep already ended is drawn again."""
    rng = random.Random(f"{SEED} {mode} {kind}")
    repeat = int(os.environ.get("HYDRATUNE_FAULT_REPEAT", "1"))  # more rounds, by hand
    injected, failures = 0, []
    for i in range(3 * repeat):
        one = Round(tmp_path / str(i), mode, kind, rng)
        if not one.inject():
            continue
        injected += 1
        broken = one.check_rerun()
        if broken:
            failures.append(f"{mode}, {kind} at trial {one.at_trial}: " + "; ".join(broken))
        if injected == repeat:
            break
    print(
        f"\nfault injection (seed {SEED}): {mode}, {kind}: {injected} injected,"
        f" {injected - len(failures)} survived"
    )
    assert not failures, "\n".join(failures)
    assert injected == repeat, "the fault must strike a running sweep"
