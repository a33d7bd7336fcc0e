"""Hydra's override grammar, read as Optuna distributions and written back as overrides.

The grammar is Hydra's, as in hydra-optuna-sweeper, with one set of edge-case rules shared by
every sampler (grid included); the table is in ``hydratune.space.search_space``. Everything
here fails with ``SearchSpaceError`` naming the parameter and where it was written.
"""

from __future__ import annotations

import decimal
import functools
import inspect
import logging
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser, create_functions
from hydra.core.override_parser.types import (
    ChoiceSweep,
    Glob,
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
from hydratune.errors import ConfigError

log = logging.getLogger(__name__)

KNOWN_TAGS = frozenset({"log"})
MAX_CHOICES = 100_000  # a categorical is a list: shuffle(range(...)) beyond this is refused
MAX_FLOAT_STEPS = 2**53  # steps of a float range beyond float precision (and Optuna's Decimal)


@dataclass(frozen=True)
class Condition:
    """A parameter is searched only while ``parent`` took one of ``values``."""

    parent: str
    values: tuple[Any, ...]


class SearchSpaceError(ConfigError):
    """An expression in ``hydra.sweeper.params`` or on the command line that cannot be searched."""


class CastRange(RangeSweep):
    """``int(range(...))`` / ``float(range(...))`` with its cast kept: Hydra's grammar casts
    start, stop and step instead (hydra-core 1.3 and 1.4.0.dev: ``int(range(0, 5, 1.5))`` is
    0..4 by 1, ``int(range(0, 1, 0.25))`` a step of 0). hydra-optuna-sweeper main searches the
    cast of each value the range gives, as a categorical: so does hydratune, on every
    hydra-core, because its parser carries the cast itself."""

    def __init__(self, inner: RangeSweep, cast: type) -> None:
        super().__init__(
            start=inner.start,
            stop=inner.stop,
            step=inner.step,
            tags=set(inner.tags),
            shuffle=inner.shuffle,
        )
        self.cast = cast


def _keeping_range_casts(hydra_cast: Callable[..., Any], cast: type) -> Callable[..., Any]:
    """Hydra's ``int``/``float`` grammar function, except that a range keeps its cast."""

    def function(*args: Any, value: Any = None) -> Any:
        if value is None and len(args) == 1 and isinstance(args[0], RangeSweep):
            return CastRange(args[0], cast)
        return hydra_cast(*args, value=value)

    function.__signature__ = inspect.signature(hydra_cast)  # type: ignore[attr-defined]
    return function  # (Hydra type-checks the arguments against the signature)


def make_parser(config_loader: Any = None) -> OverridesParser:
    """Hydra's override parser with a ``choice`` that admits ``null`` and casts of ranges that
    keep their cast (``CastRange``)."""
    functions = create_functions()
    replaced = {
        "choice": compat.hydra_choice,  # admits null among the options, as the Optuna plugin did
        "int": _keeping_range_casts(functions.functions["int"], int),
        "float": _keeping_range_casts(functions.functions["float"], float),
    }
    for name, func in replaced.items():
        del functions.definitions[name]
        functions.register(name=name, func=func)
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
    if isinstance(value, Glob):  # hydra-optuna-sweeper refuses it too
        raise SearchSpaceError(
            f"{where}: glob() picks options by name, which a search cannot; list them with "
            "choice(a, b, ...)"
        )
    unknown = set(value.tags) - KNOWN_TAGS
    if unknown:
        raise SearchSpaceError(
            f"{where}: unknown tag(s) {sorted(unknown)}; known: {sorted(KNOWN_TAGS)}"
        )
    log_scale = "log" in value.tags

    if isinstance(value, CastRange):
        return _cast_range(value, override.input_line, where, log_scale)

    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        if isinstance(value, RangeSweep) or value.shuffle:
            _warn_shuffle(where)
        if isinstance(value, RangeSweep):  # step 0, empty or huge: said before listing it
            count = _range_bounds(value, override.input_line, where)[3]
            if count > MAX_CHOICES:
                raise SearchSpaceError(
                    f"{where}: {override.input_line} has {count} values to shuffle (at most "
                    f"{MAX_CHOICES}); drop shuffle() to search it as a range"
                )
        choices = list(override.sweep_iterator())
        if not choices:
            raise SearchSpaceError(f"{where}: an empty choice() has nothing to search")
        plain = (str, int, float, bool, type(None))
        bad = next((c for c in choices if not isinstance(c, plain)), None)
        if bad is not None:
            what = {list: "lists", dict: "dicts"}.get(type(bad), "sweeps (range, interval)")
            raise SearchSpaceError(
                f"{where}: choice() options must be plain values, not {what}: {override.input_line}"
            )
        if log_scale:
            raise SearchSpaceError(f"{where}: tag(log, ...) applies to interval/range, not choice")
        return CategoricalDistribution(_unique(choices, where))

    if isinstance(value, RangeSweep):
        low, high, step, _ = _range_bounds(value, override.input_line, where)
        if log_scale:
            raise SearchSpaceError(
                f"{where}: tag(log, range(...)) is not supported; use "
                "tag(log, int(interval(low, high)))"
            )
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(int(low), int(high), step=int(step))
        return FloatDistribution(float(low), float(high), step=float(step))

    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if not _finite(low) or not _finite(high):
            raise SearchSpaceError(
                f"{where}: interval({low}, {high}) needs finite bounds: samplers draw between "
                "them (give the widest values worth trying, e.g. interval(0, 1e6))"
            )
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


def _cast_range(value: CastRange, line: str, where: str, log_scale: bool) -> BaseDistribution:
    """The categorical of the cast of each value the range gives (hydra-optuna-sweeper main)."""
    count = _range_bounds(value, line, where)[3]
    if count > MAX_CHOICES:
        raise SearchSpaceError(
            f"{where}: {line} has {count} values to cast (at most {MAX_CHOICES}); search the "
            "range without the cast"
        )
    if log_scale:
        raise SearchSpaceError(
            f"{where}: tag(log, ...) applies to interval/range, not a cast range"
        )
    start, step = _exact(value.start), _exact(value.step)
    values = [value.cast(float(start + i * step)) for i in range(count)]
    unique = list(dict.fromkeys(values))
    if len(unique) == 1:
        raise SearchSpaceError(
            f"{where}: {line} gives {format_value(unique[0])} for every value: nothing to "
            "search; widen the range or drop the cast"
        )
    if len(unique) < len(values):
        log.warning(
            "%s: %s gives %d values, %d after the cast; searching %s",
            where,
            line,
            len(values),
            len(unique),
            ", ".join(format_value(u) for u in unique),
        )
    if value.shuffle:  # as Hydra shuffles a range's values
        _warn_shuffle(where)
        random.shuffle(unique)
    return CategoricalDistribution(unique)


def _exact(number: Any) -> decimal.Decimal:
    """A bound or step as the decimal it was written as (``0.3``, not 0.29999999999999998...):
    Hydra's own float range counts in these decimals (hydra-core 1.4)."""
    return decimal.Decimal(str(number))


def _finite(value: float) -> bool:
    """Whether ``value`` is a finite float (an int of hundreds of digits is not one)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _range_bounds(value: RangeSweep, line: str, where: str) -> tuple[Any, Any, Any, int]:
    """``(low, high, |step|, count)`` of a range, computed, never listed: a huge range is an
    Optuna distribution with a step, not a list of values. ``stop`` is excluded, as in Hydra;
    a float range has exactly the decimal values Hydra's sweep enumerates (``range(0, 1, 0.3)``
    is 0, 0.3, 0.6, 0.9)."""
    start, stop, step = value.start, value.stop, value.step
    if not all(_finite(v) for v in (start, stop, step)):
        raise SearchSpaceError(
            f"{where}: {line} needs finite start, stop and step: samplers draw between them "
            "(give the widest values worth trying, e.g. range(0, 1000))"
        )
    if step == 0:
        raise SearchSpaceError(f"{where}: {line} has step 0; give a step > 0 (or < 0 downward)")
    is_int = all(isinstance(v, int) for v in (start, stop, step))
    if is_int:
        count = max(0, -((start - stop) // step))  # ceil((stop - start) / step), exact
        first, last = start, start + (count - 1) * step
    else:
        start_d, stop_d, step_d = (_exact(v) for v in (start, stop, step))
        steps = ((stop_d - start_d) / step_d).to_integral_value(rounding=decimal.ROUND_CEILING)
        count = max(0, int(steps))
        first, last = float(start_d), float(start_d + (count - 1) * step_d)
    if count > MAX_FLOAT_STEPS and not is_int:
        raise SearchSpaceError(
            f"{where}: {line} has {count:.3g} values, more steps than a float can tell apart "
            f"(2**53); search it as interval({start}, {stop}) or use a larger step"
        )
    if count == 0:
        raise SearchSpaceError(
            f"{where}: {line} is empty "
            "(range excludes its stop; for a downward range give a negative step)"
        )
    return min(first, last), max(first, last), abs(step), count


def _unique(choices: list[Any], where: str) -> list[Any]:
    """The options once each, in order; a repeated one is dropped with a warning (a grid would
    run it twice, other samplers would weigh it double)."""
    unique: list[Any] = []
    for c in choices:
        # 1 and True (and 1.0) are equal in Python but different values in a config
        if not any(type(c) is type(u) and c == u for u in unique):
            unique.append(c)
    if len(unique) < len(choices):
        log.warning(
            "%s: choice() lists an option more than once; searching %s",
            where,
            ", ".join(format_value(u) for u in unique),
        )
    return unique


def grid_values(name: str, dist: BaseDistribution) -> list[Any]:
    """The values a grid visits for one distribution: the same points other samplers draw from."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        return list(range(dist.low, dist.high + 1, dist.step))
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        low, step = _exact(dist.low), _exact(dist.step)
        n = int((_exact(dist.high) - low) // step) + 1
        return [float(low + i * step) for i in range(n)]
    raise SearchSpaceError(
        f"{name}: the grid sampler cannot enumerate a continuous interval; use "
        "range(start, stop, step) or choice(...) for this parameter"
    )


def on_step(dist: BaseDistribution, value: Any) -> Any:
    """A value drawn from a stepped float distribution, as the decimal point of its grid it
    stands for: Optuna computes ``low + k * step`` in binary floats (0.30000000000000004,
    0.8999999999999999), Hydra's sweep and the grid give 0.3 and 0.9."""
    if not isinstance(dist, FloatDistribution) or dist.step is None:
        return value
    low, step = _exact(dist.low), _exact(dist.step)
    k = ((_exact(value) - low) / step).to_integral_value(rounding=decimal.ROUND_HALF_EVEN)
    return min(float(low + k * step), dist.high)


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
        if _PLAIN.match(value) and _reads_as_itself(value):
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


@functools.lru_cache(maxsize=4096)
def _reads_as_itself(text: str) -> bool:
    """Whether Hydra's grammar reads ``text`` unquoted as this string, not as a number, a bool,
    null, inf or nan (``True``, ``NULL``, ``1e3``, ``1_000`` are those, in any case): a choice
    of quoted ``"1"`` must reach the task as the string. Asked once per distinct value."""
    try:
        read = _plain_parser().parse_override(f"k={text}").value()
    except HydraException:
        return False
    return isinstance(read, str) and read == text


@functools.cache
def _plain_parser() -> OverridesParser:
    return OverridesParser.create()


def _warn_shuffle(where: str) -> None:
    log.warning(
        "%s: shuffle() is sampled as a categorical in shuffled order; the order changes at "
        "every run, so a rerun cannot resume this study (another order of choices is refused): "
        "use choice() or range() to resume",
        where,
    )
