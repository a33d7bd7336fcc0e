"""Ctrl-C and SIGTERM: told apart from a task that raises ``KeyboardInterrupt`` or exits.

A task can end in ``SystemExit`` or ``KeyboardInterrupt`` for two reasons: the sweep was
interrupted (Ctrl-C, SIGTERM; Lightning turns either into ``sys.exit(1)`` inside ``fit``), or
the task raised it itself (``sys.exit(2)`` in user code). The first must stop the sweep and
fail the running trials as lost; the second fails only its trial. Only the signal handler
knows which: it records the signal before raising ``KeyboardInterrupt``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_received: list[int] = []
_last: list[int] = []  # the last interrupting signal, kept after the handlers are gone
_pending: list[int] = []  # received while deferred, not raised yet
_depth = 0  # how many ``deferred()`` blocks the main thread is in


def received() -> str | None:
    """The name of the first interrupting signal this process got, or None."""
    return signal.Signals(_received[0]).name if _received else None


def raise_if_received(error: BaseException) -> None:
    """``KeyboardInterrupt`` from ``error`` when an interrupt was recorded: whatever a task
    ended in after Ctrl-C (Lightning's ``sys.exit(1)``, or an error in cleanup that replaced
    the ``KeyboardInterrupt``, as a child killed by the same signal raises) is the interrupt."""
    if _received:
        raise KeyboardInterrupt(f"interrupted by {received()}") from error


def exit_status() -> int:
    """The shell's exit status for the last interrupt this process got: 128 + its number
    (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (_last[0] if _last else signal.SIGINT)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    _last[:] = [signum]
    if _depth:
        _pending.append(signum)
        return
    raise KeyboardInterrupt(f"interrupted by {signal.Signals(signum).name}")


@contextmanager
def deferred() -> Iterator[None]:
    """Meanwhile, an interrupt waits until the block ends: a trial asked from the storage is
    registered before Ctrl-C can strike, so it is failed as lost and not left RUNNING."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if not _depth and _pending:
        signum = _pending[0]
        _pending.clear()
        raise KeyboardInterrupt(f"interrupted by {signal.Signals(signum).name}")


def _install(signums: tuple[int, ...]) -> dict[int, object]:
    """Route ``signums`` to ``_interrupt``; SIGINT stays ignored where it is (a background job)."""
    previous: dict[int, object] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in signums:
        if signal.getsignal(signum) == signal.SIG_IGN:
            continue
        previous[signum] = signal.signal(signum, _interrupt)
    return previous


@contextmanager
def interrupt_handlers() -> Iterator[None]:
    """Meanwhile, Ctrl-C and SIGTERM raise ``KeyboardInterrupt`` and are recorded."""
    _received.clear()
    _pending.clear()
    previous = _install((signal.SIGINT, signal.SIGTERM))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        _received.clear()


def ignore_in_worker() -> None:
    """A local worker ignores Ctrl-C, which a terminal sends to it too: the sweeper alone
    handles it (fails the running trials as lost, then ends its workers), and no worker prints
    a traceback from wherever the signal found it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class TrialTimeoutError(RuntimeError):
    """The trial ran past ``hydra.sweeper.trial_timeout`` and was stopped: it fails."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Meanwhile, ``TrialTimeoutError`` is raised in the main thread once ``seconds`` have
    passed (``SIGALRM``): a trial that hangs is stopped where it hangs, in the sweeper's
    process as in a worker, a Ray task or a submitit job, which all run it in a main thread.
    No limit where ``seconds`` is None or off the main thread (where no signal arrives)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: FrameType | None) -> None:
        raise TrialTimeoutError(
            f"stopped after hydra.sweeper.trial_timeout={seconds:g} s; raise it if the trial "
            "needs longer"
        )

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
