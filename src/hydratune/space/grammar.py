"""Hydra's override grammar, read as Optuna distributions and written back as overrides.

The grammar is Hydra's, as in hydra-optuna-sweeper, with one set of edge-case rules shared by
every sampler (grid included); the table is in ``hydratune.space.search_space``. Everything
here fails with ``SearchSpaceError`` naming the parameter and where it was written.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser, create_functions
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
)
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hydratune import compat

log = logging.getLogger(__name__)

KNOWN_TAGS = frozenset({"log"})


class SearchSpaceError(ValueError):
    """An expression in ``hydra.sweeper.params`` or on the command line that cannot be searched."""


def _choice(*args: Any) -> ChoiceSweep:
    """Hydra's ``choice``, also accepting ``null`` among the options (as the Optuna plugin did)."""
    return compat.hydra_choice(*args)


_choice.__annotations__ = {"args": Any, "return": ChoiceSweep}  # Hydra type-checks arguments


def make_parser(config_loader: Any = None) -> OverridesParser:
    """Hydra's override parser with a ``choice`` that admits ``null``."""
    functions = create_functions()
    del functions.definitions["choice"]
    functions.register(name="choice", func=_choice)
    return OverridesParser(functions=functions, config_loader=config_loader)


def parse_line(
    line: str, parser: OverridesParser, origin: str
) -> tuple[str, BaseDistribution | None]:
    try:
        override = parser.parse_override(line)
    except HydraException as error:
        raise SearchSpaceError(f"{origin}: cannot parse '{line}': {error}") from None
    key = override.get_key_element()
    return key, _to_distribution(override, f"{origin} ({key})")


def parse_entry(key: str, expr: Any, parser: OverridesParser, origin: str) -> BaseDistribution:
    """The distribution of one ``key: expression`` entry of a YAML space (a file or a block)."""
    _, dist = parse_line(entry_line(key, expr, f"{origin}.{key}"), parser, origin)
    if dist is None:
        raise SearchSpaceError(
            f"{origin}.{key}: must be searched (choice, range, interval); fixed values belong "
            "in hydra.sweeper.params"
        )
    return dist


def entry_line(key: str, expr: Any, origin: str) -> str:
    """``key=expression`` for one entry of a YAML mapping of parameters."""
    if expr is None or str(expr).strip() == "":
        raise SearchSpaceError(
            f"{origin}: empty expression; give a value or a sweep such as choice(a, b) or "
            "interval(0.0, 1.0)"
        )
    return f"{key}={expr if isinstance(expr, str) else format_value(expr)}"


def bare_key(key: str) -> str:
    return key.lstrip("+~").split("=", 1)[0]


def _to_distribution(override: Override, where: str) -> BaseDistribution | None:
    if not override.is_sweep_override():
        return None
    value = override.value()
    unknown = set(getattr(value, "tags", set())) - KNOWN_TAGS
    if unknown:
        raise SearchSpaceError(
            f"{where}: unknown tag(s) {sorted(unknown)}; known: {sorted(KNOWN_TAGS)}"
        )
    log_scale = "log" in value.tags

    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        if isinstance(value, RangeSweep) or value.shuffle:
            log.warning("%s: shuffle() is sampled as a categorical in shuffled order", where)
        choices = list(override.sweep_iterator())
        if not choices:
            raise SearchSpaceError(f"{where}: an empty choice() has nothing to search")
        if not all(isinstance(c, (str, int, float, bool, type(None))) for c in choices):
            raise SearchSpaceError(
                f"{where}: choice() options must be plain values, not lists or dicts"
            )
        if log_scale:
            raise SearchSpaceError(f"{where}: tag(log, ...) applies to interval/range, not choice")
        return CategoricalDistribution(choices)

    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise SearchSpaceError(
                f"{where}: {override.input_line} is empty "
                "(range excludes its stop; for a downward range give a negative step)"
            )
        low, high, step = min(values), max(values), abs(value.step)
        if log_scale:
            raise SearchSpaceError(
                f"{where}: tag(log, range(...)) is not supported; use "
                "tag(log, int(interval(low, high)))"
            )
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return FloatDistribution(float(low), float(high), step=float(step))
        return IntDistribution(int(low), int(high), step=int(step))

    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if not low < high:
            raise SearchSpaceError(
                f"{where}: interval({low}, {high}) needs low < high; did you swap the bounds?"
            )
        if log_scale and low <= 0:
            raise SearchSpaceError(
                f"{where}: tag(log, interval({low}, {high})) needs low > 0 for a log scale"
            )
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log_scale)
        return FloatDistribution(float(low), float(high), log=log_scale)

    raise SearchSpaceError(f"{where}: {override.input_line} is not a sweep hydratune can search")


def grid_values(name: str, dist: BaseDistribution) -> list[Any]:
    """The values a grid visits for one distribution: the same points other samplers draw from."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        return list(range(dist.low, dist.high + 1, dist.step))
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        n = int(math.floor((dist.high - dist.low) / dist.step + 1e-9)) + 1
        return [dist.low + i * dist.step for i in range(n)]
    raise SearchSpaceError(
        f"{name}: the grid sampler cannot enumerate a continuous interval; use "
        "range(start, stop, step) or choice(...) for this parameter"
    )


def describe(dist: BaseDistribution) -> str:
    """A distribution as a person reads it: ``choice(a, b)``, ``[1e-05, 0.1] (log)``."""
    if isinstance(dist, CategoricalDistribution):
        return f"choice{tuple(dist.choices)}"
    low, high = dist.low, dist.high  # type: ignore[attr-defined]
    step = getattr(dist, "step", None)
    log_scale = " (log)" if getattr(dist, "log", False) else ""
    return f"[{low}, {high}]" + (f" step {step}" if step not in (None, 1) else "") + log_scale


_PLAIN = re.compile(r"^[\w\-./:@]+$")


def format_value(value: Any) -> str:
    """A value as Hydra's override grammar reads it back unchanged."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if _PLAIN.match(value) and value not in {"null", "true", "false"}:
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)
