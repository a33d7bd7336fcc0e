"""The sweep grammar compiled to Optuna distributions, validated before any trial runs.

The grammar is Hydra's override grammar, as in hydra-optuna-sweeper, with one set of
edge-case rules shared by every sampler (grid included):

==================================  ===================================================
``choice(a, b, null)`` / ``a,b``    categorical over the listed values
``range(start, stop[, step])``      Python/Hydra range: ``stop`` is *excluded*;
                                    int or float distribution with that step
``interval(low, high)``             float in the closed interval ``[low, high]``
``int(interval(low, high))``        int in ``[low, high]``, both ends included
``tag(log, ...)``                   the same, sampled on a log scale (``low > 0``)
``shuffle(...)``                    categorical in shuffled order (warns: breaks resume)
plain ``key=value``, ``~key``       fixed: applied to every trial, never searched
==================================  ===================================================

Example::

    >>> space = parse_search_space({"lr": "tag(log, interval(1e-4, 1e-1))", "seed": "1"}, [])
    >>> space.distributions["lr"]
    FloatDistribution(high=0.1, log=True, low=0.0001, step=None)
    >>> space.fixed
    ['seed=1']
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
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

log = logging.getLogger(__name__)

KNOWN_TAGS = frozenset({"log"})


class SearchSpaceError(ValueError):
    """An expression in ``hydra.sweeper.params`` or on the command line that cannot be searched."""


@dataclass(frozen=True)
class Condition:
    """A parameter is searched only while ``parent`` took one of ``values``."""

    parent: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Pair:
    """Keys that take their values together, one row at a time: one categorical decision."""

    keys: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def label(self, row: Sequence[Any]) -> str:
        return ", ".join(format_value(v) for v in row)


@dataclass
class SearchSpace:
    """What a sweep searches (``distributions``) and what it applies to every trial (``fixed``).

    Keys are override keys as written by the user (``model.lr``, ``model`` for a config group,
    ``+extra`` to add a key). A parameter with a ``Condition`` is suggested (define-by-run, so
    TPE sees it as conditional) and passed to the job only while its condition holds. A
    ``Pair`` is one categorical parameter whose value sets several keys.
    """

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)
    conditions: dict[str, Condition] = field(default_factory=dict)
    pairs: dict[str, Pair] = field(default_factory=dict)
    from_params: set[str] = field(default_factory=set)  # keys set in hydra.sweeper.params

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest every active parameter on ``trial``, parents before their dependents."""
        for name in self.order():
            condition = self.conditions.get(name)
            if (
                condition is None
                or trial.params.get(condition.parent, _INACTIVE) in condition.values
            ):
                suggest(trial, name, self.distributions[name])
        return trial.params

    def order(self) -> list[str]:
        """Parameters with each parent before its dependents (conditions form a forest)."""
        done: list[str] = []
        pending = list(self.distributions)
        while pending:
            ready = [
                n for n in pending if n not in self.conditions or self.conditions[n].parent in done
            ]
            done += ready
            pending = [n for n in pending if n not in ready]
        return done

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """Override strings for one trial: the fixed overrides, then its sampled ``params``."""
        lines = list(self.fixed)
        for name, value in params.items():
            pair = self.pairs.get(name)
            if pair is None:
                lines.append(f"{name}={format_value(value)}")
                continue
            row = next(r for r in pair.rows if pair.label(r) == value)
            lines += [f"{k}={format_value(v)}" for k, v in zip(pair.keys, row, strict=True)]
        return lines

    def grid(self) -> dict[str, list[Any]]:
        """Every searched value per parameter, for Optuna's ``GridSampler``."""
        if self.conditions:
            raise SearchSpaceError(
                "hydra.sweeper.when: the grid sampler needs every parameter in every trial; "
                "conditional parameters need another sampler (tpe, random, ...)"
            )
        return {name: grid_values(name, dist) for name, dist in self.distributions.items()}

    def add(
        self,
        entries: Mapping[str, Any],
        parser: OverridesParser,
        origin: str,
        condition: Condition | None = None,
    ) -> None:
        """Search ``entries`` (``key: expression``, or an already parsed distribution), always
        or only under ``condition``."""
        for name, expr in entries.items():
            dist = (
                expr
                if isinstance(expr, BaseDistribution)
                else parse_entry(name, expr, parser, origin)
            )
            if name in self.distributions and self.conditions.get(name) != condition:
                raise SearchSpaceError(
                    f"{origin}.{name}: '{name}' is already searched elsewhere in the sweep; give "
                    "it one definition"
                )
            self.distributions[name] = dist
            if condition is not None:
                self.conditions[name] = condition

    def add_conditional(
        self, block: str, params: Mapping[str, Any], parser: OverridesParser, origin: str
    ) -> None:
        """Search ``params`` only while ``block`` (``key=value`` or ``key=v1,v2``) holds."""
        try:
            override = parser.parse_override(block)
        except HydraException as error:
            raise SearchSpaceError(
                f"{origin}: cannot parse the condition '{block}': {error}"
            ) from None
        sweep = override.is_sweep_override()
        values = tuple(override.sweep_iterator()) if sweep else (override.value(),)
        self.add(params, parser, origin, Condition(override.get_key_element(), values))

    def config_keys(self) -> list[str]:
        """The config keys the space sets: its parameters, with each pair's keys in its place."""
        keys: list[str] = []
        for name in self.distributions:
            keys += list(self.pairs[name].keys) if name in self.pairs else [name]
        return keys

    def add_pair(self, name: str, keys: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Search ``rows`` of values for ``keys`` as one categorical parameter ``name``."""
        where = f"hydra.sweeper.paired.{name}"
        if not keys or not rows:
            raise SearchSpaceError(f"{where}: give keys: [...] and rows: [[...], ...]")
        for i, row in enumerate(rows):
            if len(row) != len(keys):
                raise SearchSpaceError(
                    f"{where}.rows[{i}] has {len(row)} value(s) for {len(keys)} key(s) "
                    f"{list(keys)}; every row needs one value per key"
                )
        pair = Pair(tuple(keys), tuple(tuple(r) for r in rows))
        self.pairs[name] = pair
        self.distributions[name] = CategoricalDistribution([pair.label(r) for r in pair.rows])

    def validate(self) -> None:
        """Conditions name searched parameters and form no cycle."""
        for name, condition in self.conditions.items():
            if condition.parent not in self.distributions:
                close = difflib.get_close_matches(condition.parent, list(self.distributions), n=1)
                hint = f" Did you mean {close[0]}?" if close else ""
                raise SearchSpaceError(
                    f"hydra.sweeper.when: the condition of '{name}' names '{condition.parent}', "
                    f"which is not a searched parameter.{hint}"
                )
        for name in self.conditions:
            seen, node = [name], self.conditions[name].parent
            while node in self.conditions:
                if node in seen:
                    cycle = " -> ".join([*seen[seen.index(node) :], node])
                    raise SearchSpaceError(f"hydra.sweeper.when: circular conditions: {cycle}")
                seen.append(node)
                node = self.conditions[node].parent


_INACTIVE = object()


def suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """Suggest ``name`` from ``dist`` through the trial's public API."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


def _choice(*args: Any) -> ChoiceSweep:
    """Hydra's ``choice``, also accepting ``null`` among the options (as the Optuna plugin did)."""
    from hydra._internal.grammar.grammar_functions import choice

    return choice(*args)


_choice.__annotations__ = {"args": Any, "return": ChoiceSweep}  # Hydra type-checks arguments


def make_parser(config_loader: Any = None) -> OverridesParser:
    """Hydra's override parser with a ``choice`` that admits ``null``."""
    functions = create_functions()
    del functions.definitions["choice"]
    functions.register(name="choice", func=_choice)
    return OverridesParser(functions=functions, config_loader=config_loader)


def parse_search_space(
    params: Mapping[str, Any] | None,
    arguments: Sequence[str],
    parser: OverridesParser | None = None,
    when: Mapping[str, Mapping[str, Any]] | None = None,
    paired: Mapping[str, Mapping[str, Any]] | None = None,
) -> SearchSpace:
    """Compile ``hydra.sweeper.params``, ``when``, ``paired`` and command-line sweep arguments
    into a ``SearchSpace``.

    Command-line arguments win over ``params`` for the same key, as in hydra-optuna-sweeper.
    Raises ``SearchSpaceError`` naming the parameter and where it came from.
    """
    parser = parser or make_parser()
    lines: dict[str, tuple[str, str]] = {}
    for key, expr in (params or {}).items():
        origin = f"hydra.sweeper.params.{key}"
        lines[_bare_key(key)] = (_entry_line(key, expr, origin), origin)
    for argument in arguments:
        lines[_bare_key(argument.split("=", 1)[0])] = (argument, "the command line")

    space = SearchSpace()
    for line, origin in lines.values():
        key, dist = _parse_line(line, parser, origin)
        if origin.startswith("hydra.sweeper.params"):
            space.from_params.add(key)
        if dist is None:
            space.fixed.append(line)
        else:
            space.distributions[key] = dist
    for block, block_params in (when or {}).items():
        space.add_conditional(block, block_params, parser, f"hydra.sweeper.when.{block}")
    for name, pair in (paired or {}).items():
        space.add_pair(name, pair.get("keys") or [], pair.get("rows") or [])
    space.validate()
    return space


def _parse_line(
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
    _, dist = _parse_line(_entry_line(key, expr, f"{origin}.{key}"), parser, origin)
    if dist is None:
        raise SearchSpaceError(
            f"{origin}.{key}: must be searched (choice, range, interval); fixed values belong "
            "in hydra.sweeper.params"
        )
    return dist


def _entry_line(key: str, expr: Any, origin: str) -> str:
    """``key=expression`` for one entry of a YAML mapping of parameters."""
    if expr is None or str(expr).strip() == "":
        raise SearchSpaceError(
            f"{origin}: empty expression; give a value or a sweep such as choice(a, b) or "
            "interval(0.0, 1.0)"
        )
    return f"{key}={expr if isinstance(expr, str) else format_value(expr)}"


def _bare_key(key: str) -> str:
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
