"""Parameter values checked against a sweep's search space: the points a person chooses.

The sweep YAML's ``enqueue:`` list and ``hydratune steer enqueue|fix`` go through the same
check, so a value the workers would refuse is refused where it is typed.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution

from hydratune.errors import ConfigError
from hydratune.space import SearchSpace, SearchSpaceError, describe, format_value, is_sequence


class SteeringError(ConfigError):
    """An ``enqueue`` item, a warm-start source or a steering request that does not fit the
    sweep. A ``ConfigError``: the first two stop a sweep before its first trial, and Hydra
    shows the message alone, one line naming the setting."""


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


def narrowing_problem(space: SearchSpace, name: str, new: BaseDistribution | None) -> str | None:
    """Why ``new`` cannot narrow parameter ``name`` (not a range of the declared kind and
    scale, or not within the declared range), or None if it can: ``steer narrow`` checks a
    request with it, and every worker checks the record again before applying it."""
    declared = space.distributions.get(name)
    if declared is None:
        return f"{name} is not a searched parameter of this sweep"
    if isinstance(declared, CategoricalDistribution):
        return f"{name} is a choice {describe(declared)}; narrow works on numeric ranges"
    integer = "Int" in type(declared).__name__
    log = bool(getattr(declared, "log", False))
    kind = "int(interval(low, high)) or range(...)" if integer else "interval(low, high)"
    if log:
        kind = f"tag(log, {'int(interval(low, high))' if integer else 'interval(low, high)'})"
    if new is None or type(new) is not type(declared):
        return (
            f"give a range of the same kind as the declared {describe(declared)}, "
            f"e.g. {name}={kind}"
        )
    if bool(getattr(new, "log", False)) != log:
        scale = ("log", "linear") if log else ("linear", "log")
        return (
            f"the declared {describe(declared)} is on a {scale[0]} scale and {describe(new)} "
            f"on a {scale[1]} one; give {name}={kind}"
        )
    outside = [v for v in (new.low, new.high) if not space.contains(name, v)]  # type: ignore[attr-defined]
    step, declared_step = getattr(new, "step", None), getattr(declared, "step", None)
    if declared_step is not None and (step is None or not _multiple(step, declared_step)):
        outside.append(f"step {step}")
    if outside:
        return (
            f"{describe(new)} is not within the declared range {describe(declared)} "
            f"({', '.join(str(v) for v in outside)} outside it)"
        )
    return None


def _multiple(step: float, base: float) -> bool:
    ratio = step / base
    return math.isclose(ratio, round(ratio), rel_tol=1e-9) and round(ratio) >= 1
