"""Parameter values checked against a sweep's search space: the points a person chooses.

The sweep YAML's ``enqueue:`` list and ``hydratune steer enqueue|fix`` go through the same
check, so a value the workers would refuse is refused where it is typed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from hydratune.space import SearchSpace, SearchSpaceError, format_value


class SteeringError(ValueError):
    """An ``enqueue`` item, a warm-start source or a steering request that does not fit the
    sweep."""


def params_from_mapping(space: SearchSpace, item: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Parameter values of a mapping item, checked against their distributions."""
    params = {}
    for key, value in item.items():
        dist = space.distributions.get(str(key))
        if dist is None:
            close = difflib.get_close_matches(str(key), list(space.distributions), n=2)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise SteeringError(
                f"{where}: '{key}' is not a searched parameter.{hint} Searched: "
                f"{', '.join(space.distributions) or 'none'}. To enqueue an experiment or "
                "other overrides, write a list: [experiment=name]"
            )
        pair = space.pairs.get(str(key))
        if pair is not None and is_sequence(value):
            value = pair.label(list(value))  # a pair's row given as its values
        params[str(key)] = fit_value(space, str(key), value, f"{where}.{key}")
    for key in params:
        condition = space.conditions.get(key)
        if condition and condition.parent in params and not space.is_active(key, params):
            raise SteeringError(
                f"{where}.{key}: searched only when {condition.parent} is one of "
                f"{[format_value(v) for v in condition.values]}, and the item sets "
                f"{condition.parent}={format_value(params[condition.parent])}"
            )
    return params


def fit_value(space: SearchSpace, key: str, value: Any, where: str) -> Any:
    """``SearchSpace.fit``, its error as a ``SteeringError``."""
    try:
        return space.fit(key, value, where)
    except SearchSpaceError as error:
        raise SteeringError(str(error)) from None


def is_sequence(item: Any) -> bool:
    """A list of values or overrides, not a string."""
    return isinstance(item, Sequence) and not isinstance(item, str)
