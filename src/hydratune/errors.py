"""Errors shared across the package."""

from __future__ import annotations


class FatalTrialError(Exception):
    """A trial error that every trial would hit the same way (a metric that is never logged,
    a config that cannot compose): the sweep stops at once instead of repeating it."""


class StudyConfigError(ValueError):
    """A ``hydra.sweeper`` setting that cannot open the study it names."""


class UnknownKeyError(KeyError):
    """A searched or fixed parameter that names no key of the composed config."""

    def __str__(self) -> str:
        return str(self.args[0])
