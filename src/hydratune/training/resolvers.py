"""OmegaConf resolvers that let Lightning callbacks follow the ``objective`` node.

The objective says ``direction: maximize``; ModelCheckpoint and EarlyStopping want
``mode: max`` and a single ``monitor`` name. With these, ``conf/callbacks/*.yaml`` write::

    monitor: ${hydratune.primary:${objective.metric}}
    mode: ${hydratune.mode:${objective.direction}}

and stay right when a user changes the objective, including a multi-objective list (the
callbacks then follow the first metric). Importing this module registers them; it is cheap and
imports nothing heavy, so the app imports it before Hydra resolves anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf

_MODES = {"minimize": "min", "maximize": "max"}


def primary(value: Any) -> Any:
    """The first element of a list (the primary objective), or the value itself."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            raise ValueError("objective.metric/direction is an empty list")
        return value[0]
    return value


def lightning_mode(direction: Any) -> str:
    """Optuna's ``minimize``/``maximize`` (or a list: its first) as Lightning's ``min``/``max``."""
    direction = primary(direction)
    try:
        return _MODES[direction]
    except KeyError:
        raise ValueError(
            f"objective.direction must be one of {sorted(_MODES)}, got {direction!r}"
        ) from None


def register_resolvers() -> None:
    """Register ``hydratune.primary`` and ``hydratune.mode``; safe to call more than once."""
    for name, fn in (("hydratune.primary", primary), ("hydratune.mode", lightning_mode)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()
