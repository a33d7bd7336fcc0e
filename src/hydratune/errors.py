"""Errors shared across the package.

An error a person fixes by changing a setting is a ``ConfigError``: Hydra prints its message
alone, as one line naming the key and the fix, not a traceback around it
(``HYDRA_FULL_ERROR=1`` still shows the traceback).
"""

from __future__ import annotations

from hydra.errors import CompactHydraException


class ConfigError(CompactHydraException, ValueError):
    """A setting that cannot work as written; the message names the key and the fix."""


class FatalTrialError(Exception):
    """A trial error that every trial would hit the same way (a metric that is never logged,
    a config that cannot compose): the sweep stops at once instead of repeating it."""


class ScheduleError(FatalTrialError):
    """The app did not do its part of a checkpointed schedule (save or load the checkpoint
    where the schedule told it, train with a continuation's explored values): every trial would
    do the same, so the sweep stops. The run is lost, not failed, and the checkpoint it
    continued from is kept: once the app is fixed, the same command runs it again."""


class StudyConfigError(ConfigError):
    """A ``hydra.sweeper`` setting that cannot open the study it names, or a storage that
    stopped answering (the message says what to do: one line too)."""


class UnknownKeyError(CompactHydraException, KeyError):
    """A searched or fixed parameter that names no key of the composed config."""

    def __str__(self) -> str:
        return str(self.args[0])
