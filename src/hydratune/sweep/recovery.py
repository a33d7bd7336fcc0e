"""Trials lost to a kill, a crash or an interrupt: detect them, fail them, retry their params.

Every trial a sweep starts records its owner (a mark unique per process lifetime, see
``owner``) and a heartbeat that the sweep renews while the trial runs. A RUNNING trial is
*lost* when its owner is a dead process in this machine's PID namespace, or when its heartbeat
is older than ``grace`` seconds (another host or container: this is how many workers on many
machines find each other's dead trials). A lost trial is failed with the reason stored,
and its parameters are enqueued again, so a ``kill -9`` costs only the partial work of the
trials that were running. Parameters whose process dies on every attempt (an out-of-memory, a
segfault) are given up once retried ``max_retries`` times: that last attempt is a failure of
its own, counted like any other (``max_failure_rate``, the summary, failure-aware search).

This works the same on every storage (journal file, RDB, in-memory); Optuna's own heartbeat
exists only for RDB storages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hydratune import compat
from hydratune.attrs import FAIL_REASON, HEARTBEAT, LOST, OWNER, RETRIES, RETRY_OF, RUNS_ELSEWHERE
from hydratune.owner import owner_alive, short, this_process

log = logging.getLogger(__name__)

INTERRUPTED = "lost: interrupted"  # how the fail reason of a trial stopped by Ctrl-C starts


NOT_STARTED = "lost: submitting"  # a job the cluster refused: the trial never ran
# a sweeper killed while its workers ran the trial: its death was not the trial's
SWEEPER_GONE = "lost: its sweeper "


def _interrupted(trial: FrozenTrial) -> bool:
    """Lost by no fault of its parameters (Ctrl-C, a refused submission): a free retry."""
    reason = str(trial.user_attrs.get(FAIL_REASON, ""))
    return reason.startswith((INTERRUPTED, NOT_STARTED, SWEEPER_GONE))


class Recovery:
    """Owner marks, heartbeats and retries for one sweep process."""

    def __init__(
        self, study: optuna.Study, max_retries: int = 1, interval: float = 10.0, grace: float = 60.0
    ) -> None:
        self.study = study
        self.max_retries = max_retries
        self.interval = interval
        self.grace = grace
        self.owner = this_process()
        self._last_check = 0.0
        self.given_up: list[tuple[int, str]] = []  # (trial, reason) failed by ``recover``

    def runs_elsewhere(self) -> None:
        """Record that this sweep runs its trials in other processes (workers, Ray, Slurm): a
        later sweep that finds it dead then knows its death was not a trial's (a trial's
        crash kills its worker, which this process sees), and retries its trials for free."""
        self.study.set_user_attr(f"{RUNS_ELSEWHERE}{self.owner}", True)

    def gives_up(self, trial: FrozenTrial | optuna.Trial) -> bool:
        """Whether a trial lost to a dead process is the last attempt at its parameters: they
        have been retried ``max_retries`` times already (interrupts aside)."""
        return int(trial.user_attrs.get(RETRIES, 0)) >= self.max_retries

    def give_up_reason(self, trial: FrozenTrial | optuna.Trial, reason: str) -> str:
        """The fail reason of a trial ``gives_up`` is true for."""
        attempts = int(trial.user_attrs.get(RETRIES, 0)) + 1
        return (
            f"{reason}, on each of {attempts} attempt(s) at these parameters "
            f"(hydra.sweeper.max_retries={self.max_retries} spent)"
        )

    def ownership(self) -> dict[str, Any]:
        """The user attributes that mark a trial as run by this process (a heartbeat with the
        owner: an owner always has one)."""
        return {HEARTBEAT: time.time(), OWNER: self.owner}

    def claim(self, trial: optuna.Trial) -> None:
        """Mark ``trial`` as run by this process, in one write."""
        compat.set_user_attrs(trial, self.ownership())

    def is_lost(self, trial: FrozenTrial, now: float) -> str | None:
        """Why a RUNNING trial is lost, or None while its owner may still be working on it."""
        owner = trial.user_attrs.get(OWNER)
        if owner is None or owner == self.owner:
            return None  # not ours to judge (an outside ask) or still running here
        alive = owner_alive(owner)
        if alive is not None:  # a process in this machine's PID namespace: it says it all
            return None if alive else f"its sweep process {short(owner)} is gone"
        beat = trial.user_attrs.get(HEARTBEAT, 0.0)
        if now - beat > self.grace:
            return f"no heartbeat from {short(owner)} for {now - beat:.0f}s"
        return None

    def recover(self, force: bool = False) -> list[int]:
        """Fail lost RUNNING trials and enqueue their params again (or, once ``gives_up``,
        fail them as their own failure, kept in ``given_up``); returns their numbers.

        Runs at most once per ``interval`` unless ``force``.
        """
        now = time.time()
        if not force and now - self._last_check < self.interval:
            return []
        self._last_check = now
        storage = compat.storage_of(self.study)
        elsewhere = {
            key[len(RUNS_ELSEWHERE) :]
            for key in compat.study_user_attrs(self.study)
            if key.startswith(RUNS_ELSEWHERE)
        }
        failed = []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            reason = self.is_lost(trial, now)
            if reason is None:
                continue
            owner = trial.user_attrs.get(OWNER)
            free = owner in elsewhere and owner_alive(owner) is False
            if free:  # becomes SWEEPER_GONE's fail reason: retried, whatever its retries
                reason = f"its sweeper {short(owner)} is gone (a worker ran it)"
            given_up = not free and self.gives_up(trial)
            try:
                if given_up:
                    reason = self.give_up_reason(trial, f"its process died ({reason})")
                    storage.set_trial_user_attr(compat.trial_id(trial), FAIL_REASON, reason)
                else:
                    storage.set_trial_user_attr(compat.trial_id(trial), LOST, True)
                    reason = f"lost: {reason}"
                    storage.set_trial_user_attr(compat.trial_id(trial), FAIL_REASON, reason)
                if not storage.set_trial_state_values(compat.trial_id(trial), TrialState.FAIL):
                    continue
            except UpdateFinishedTrialError:
                continue  # another worker failed it first, and retries it
            log.warning("trial #%d failed: %s", trial.number, reason)
            if given_up:
                self.given_up.append((trial.number, reason))
            failed.append(trial.number)
        self.retry_lost()
        return failed

    def release(self, reason: str) -> list[int]:
        """Fail as lost every trial this process still holds RUNNING (an interrupted sweep:
        the loop fails the trials it knows; this settles any it lost track of). The next run
        queues their parameters again, as for the loop's own."""
        storage = compat.storage_of(self.study)
        failed = []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.user_attrs.get(OWNER) != self.owner:
                continue
            try:
                storage.set_trial_user_attr(compat.trial_id(trial), LOST, True)
                storage.set_trial_user_attr(compat.trial_id(trial), FAIL_REASON, f"lost: {reason}")
                storage.set_trial_state_values(compat.trial_id(trial), TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue  # told meanwhile
            log.warning("trial #%d failed as lost: %s", trial.number, reason)
            failed.append(trial.number)
        return failed

    def retry_lost(self) -> list[int]:
        """Enqueue the params of lost trials not retried yet: every lost trial is run again
        (a trial that ``gives_up`` is a failure, not lost)."""
        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get(RETRY_OF) for t in trials}
        enqueued = []
        for trial in trials:
            lost = trial.state == TrialState.FAIL and trial.user_attrs.get(LOST)
            if not lost or trial.number in retried:
                continue
            depth = trial.user_attrs.get(RETRIES, 0) + (0 if _interrupted(trial) else 1)
            self.study.enqueue_trial(
                trial.params, user_attrs={RETRY_OF: trial.number, RETRIES: depth}
            )
            log.info("trial #%d's parameters are queued to run again", trial.number)
            enqueued.append(trial.number)
        return enqueued

    @contextmanager
    def heartbeat(self, running: Callable[[], Iterable[optuna.Trial]]) -> Iterator[None]:
        """Renew the heartbeat of ``running()`` trials every ``interval`` seconds meanwhile."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.interval):
                try:
                    for trial in list(running()):
                        with suppress(UpdateFinishedTrialError):  # told meanwhile
                            trial.set_user_attr(HEARTBEAT, time.time())
                except Exception as error:  # the storage is away: the loop meets it too
                    log.warning("heartbeat not written: %s", str(error).splitlines()[0])

        thread = threading.Thread(target=beat, name="hydratune-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
