"""Errors shared across the package."""

from __future__ import annotations


class FatalTrialError(Exception):
    """A trial error that every trial would hit the same way (a metric that is never logged,
    a config that cannot compose): the sweep stops at once instead of repeating it."""
