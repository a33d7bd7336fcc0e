"""``sampler: auto``'s record in a study (``attrs.AUTO_SAMPLER``): what it runs and why.

The sweep writes it once and a resume runs it again (``sweep/auto.py``); steering's caveats and
the report read it too, possibly from another version of hydratune, so its format is defined
here once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from hydratune.schema.optuna_options import SAMPLER_OPTIONS


@dataclass(frozen=True)
class AutoChoice:
    """What ``auto`` runs: ``sampler`` (a named sampler: ``tpe``, ``gp``, ...) with
    ``options``, and from trial ``switch_at`` on, ``then`` with ``then_options``; ``reason``
    says why."""

    sampler: str
    reason: str
    options: dict[str, Any] = field(default_factory=dict)
    switch_at: int | None = None
    then: str | None = None
    then_options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        later = f", {self.then} from trial {self.switch_at}" if self.then else ""
        return f"{self.sampler}{later} ({self.reason})"

    def sampler_at(self, number: int) -> str:
        """The sampler that draws trial ``number``."""
        switched = self.then is not None and self.switch_at is not None
        return self.then if switched and number >= self.switch_at else self.sampler

    def to_json(self) -> str:
        """The record; its ``summary`` is for a person reading the study's attributes."""
        return json.dumps({**asdict(self), "summary": self.describe()}, sort_keys=True)


AUTO_UNREADABLE = (ValueError, TypeError, KeyError)  # what ``parse_auto_choice`` raises


def parse_auto_choice(text: Any) -> AutoChoice:
    """A choice as ``AutoChoice.to_json`` records it (one of ``AUTO_UNREADABLE`` for anything
    else)."""
    fields = json.loads(text)
    if not isinstance(fields, dict):
        raise TypeError(f"{type(fields).__name__}, not an object")
    fields.pop("summary", None)
    choice = AutoChoice(**fields)
    for name in (choice.sampler, choice.then or choice.sampler):
        if name not in SAMPLER_OPTIONS or name == "auto":
            raise KeyError(f"no sampler {name!r}")
    return choice
