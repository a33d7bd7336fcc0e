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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hydratune import compat
from hydratune.space.architecture import (
    Architecture,
    Blocks,
    Given,
    add_blocks,
    add_cell,
    architecture_override,
)
from hydratune.space.grammar import (
    Condition,
    SearchSpaceError,
    bare_key,
    describe,
    entry_line,
    format_value,
    grid_values,
    make_parser,
    parse_entry,
    parse_line,
)

log = logging.getLogger(__name__)


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
    fixed_keys: set[str] = field(default_factory=set)  # pair keys a fixed value overrules
    # config key -> its blocks or cell (hydratune.space.architecture): one override each
    architectures: dict[str, Architecture] = field(default_factory=dict)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest every active parameter on ``trial``, parents before their dependents."""
        for name in self.order():
            if self.is_active(name, trial.params):
                suggest(trial, name, self.distributions[name])
        return trial.params

    def is_active(self, name: str, params: Mapping[str, Any]) -> bool:
        """Whether ``name`` is searched in a trial whose parents have ``params``: always,
        or while its condition holds."""
        condition = self.conditions.get(name)
        return condition is None or params.get(condition.parent, _INACTIVE) in condition.values

    def active(self, params: Mapping[str, Any]) -> list[str]:
        """The parameters a trial with ``params`` has, parents first."""
        return [name for name in self.order() if self.is_active(name, params)]

    def contains(self, name: str, value: Any) -> bool:
        """Whether parameter ``name`` can take ``value`` (range, step grid, choices)."""
        return compat.distribution_contains(self.distributions[name], value)

    def fit(self, name: str, value: Any, where: str) -> Any:
        """``value`` as parameter ``name`` stores it (an int for an int range, the choice's own
        object for a categorical), or ``SearchSpaceError`` if the space cannot produce it."""
        dist = self.distributions[name]
        if isinstance(dist, CategoricalDistribution):
            for choice in dist.choices:
                if _same(choice, value):
                    return choice
            raise SearchSpaceError(
                f"{where}={format_value(value)}, not one of the choices "
                f"({', '.join(format_value(c) for c in dist.choices)})"
            )
        if not isinstance(value, Real) or isinstance(value, bool):
            raise SearchSpaceError(
                f"{where}={format_value(value)}: expected a number for {describe(dist)}"
            )
        try:
            number = float(value)
        except OverflowError:  # an int of hundreds of digits: outside any range there is
            raise SearchSpaceError(
                f"{where}: a number beyond a float, outside {describe(dist)}"
            ) from None
        if isinstance(dist, IntDistribution):
            if number != int(value):
                raise SearchSpaceError(f"{where}={value}: expected an integer for {describe(dist)}")
            value = int(value)
        elif isinstance(dist, FloatDistribution):
            value = number
        if not self.contains(name, value):
            raise SearchSpaceError(f"{where}={format_value(value)}: outside {describe(dist)}")
        return value

    def misfit(self, params: Mapping[str, Any]) -> str | None:
        """Why a trial with ``params`` could not come from this space, or None if it could."""
        expected = self.active(params)
        missing = sorted(set(expected) - set(params))
        extra = sorted(set(params) - set(expected))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"lacks {', '.join(missing)}")
            if extra:
                parts.append(f"has {', '.join(extra)}, which this sweep does not search")
            return "; ".join(parts)
        for name in expected:
            if not self.contains(name, params[name]):
                dist = self.distributions[name]
                return f"{name}={format_value(params[name])} is outside {describe(dist)}"
        return None

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
        owned = {n for a in self.architectures.values() for n in a.params(list(params))}
        for name, value in params.items():
            if name in owned:
                continue
            pair = self.pairs.get(name)
            if pair is None:
                lines.append(f"{name}={format_value(value)}")
                continue
            row = next(r for r in pair.rows if pair.label(r) == value)
            lines += [
                f"{k}={format_value(v)}"
                for k, v in zip(pair.keys, row, strict=True)
                if k not in self.fixed_keys
            ]
        lines += [
            line
            for arch in self.architectures.values()
            if (line := architecture_override(arch, params)) is not None
        ]
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
        self.add(params, parser, origin, condition_of(block, parser, origin))

    def add_architecture(
        self,
        kind: str,
        key: str,
        spec: Mapping[str, Any],
        parser: OverridesParser,
        given: Given | None = None,
    ) -> None:
        """Search blocks (``kind`` "blocks") or a cell ("cells") for the list at ``key``,
        under the spec's own ``when`` (``model=mlp``) if it has one; ``given``: expressions
        for its parameters written elsewhere (the command line), which win."""
        where = f"hydra.sweeper.{kind}.{key}"
        if not isinstance(spec, Mapping):
            raise SearchSpaceError(f"{where}: expected a mapping, got {spec!r}")
        if key in self.architectures or key in self.distributions:
            raise SearchSpaceError(f"{where}: '{key}' is already searched; give it one definition")
        nested = [k for k, v in spec.items() if isinstance(v, Mapping) and k not in NESTING]
        if nested and len(nested) == len(spec):  # hydra.sweeper.blocks.model.layers.when=...
            inner = ", ".join(f"{k}: ..." for k in spec[nested[0]])
            raise SearchSpaceError(
                f"{where}.{nested[0]}: Hydra reads a command-line key's dots as nesting, and "
                f"'{key}.{nested[0]}' is one entry: give it whole, "
                f"'++hydra.sweeper.{kind}={{{key}.{nested[0]}: {{{inner}}}}}'"
            )
        when = spec.get("when")
        condition = condition_of(str(when), parser, f"{where}.when") if when else None
        add = add_blocks if kind == "blocks" else add_cell
        self.architectures[key] = add(self, key, spec, parser, condition, given)

    def config_keys(self) -> list[str]:
        """The config keys the space sets: its parameters, with each pair's keys in its place."""
        keys: list[str] = list(self.architectures)
        owned = {n for a in self.architectures.values() for n in a.params(list(self.distributions))}
        for name in self.distributions:
            if name not in owned:
                keys += list(self.pairs[name].keys) if name in self.pairs else [name]
        return keys

    def group_options(self, is_group: Callable[[str], bool]) -> list[str]:
        """``group=option`` for every option a searched config group (``is_group``) can take."""
        return [
            f"{key}={format_value(choice)}"
            for key, dist in self.distributions.items()
            if is_group(key)
            for choice in getattr(dist, "choices", ())
        ]

    def add_pair(self, name: str, keys: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Search ``rows`` of values for ``keys`` as one categorical parameter ``name``."""
        where = f"hydra.sweeper.paired.{name}"
        listed = is_sequence(keys) and is_sequence(rows) and all(map(is_sequence, rows))
        if not (keys and rows and listed):
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

    def yield_to_fixed(self) -> None:
        """A fixed value (``trainer.max_epochs=2`` on the command line, or in ``params``) wins
        over a ``when`` entry, a ``paired`` key or blocks and cells (``model.layers=[...]``)
        for the same key, as it wins over a ``params`` entry, and says so: otherwise the
        trial's searched value, applied after the fixed ones, would silently beat it."""
        fixed = {bare_key(line.split("=", 1)[0]): line for line in self.fixed}
        for key in [k for k in self.architectures if k in fixed]:
            arch = self.architectures.pop(key)
            for name in arch.params(list(self.distributions)):
                del self.distributions[name]
                self.conditions.pop(name, None)
            kind = "blocks" if isinstance(arch, Blocks) else "cells"
            log.warning("%s is fixed: it wins over hydra.sweeper.%s.%s", fixed[key], kind, key)
        for name in [n for n in self.conditions if n in fixed]:
            log.warning(
                "%s is fixed: it wins over hydra.sweeper.when's search of %s", fixed[name], name
            )
            del self.distributions[name], self.conditions[name]
        for name, pair in list(self.pairs.items()):
            overruled = [k for k in pair.keys if k in fixed]
            if not overruled:
                continue
            rest = [k for k in pair.keys if k not in fixed]
            log.warning(
                "%s is fixed: it wins over hydra.sweeper.paired.%s, %s",
                ", ".join(fixed[k] for k in overruled),
                name,
                f"which still sets {', '.join(rest)}" if rest else "which is not searched",
            )
            self.fixed_keys.update(overruled)
            if not rest:
                del self.pairs[name], self.distributions[name]

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
NESTING = ("each", "edges")  # the mappings a blocks or cell entry holds


def condition_of(block: str, parser: OverridesParser, origin: str) -> Condition:
    """``key=value`` or ``key=v1,v2`` (a ``when`` block) as a ``Condition``."""
    try:
        override = parser.parse_override(block)
    except HydraException as error:
        raise SearchSpaceError(f"{origin}: cannot parse the condition '{block}': {error}") from None
    sweep = override.is_sweep_override()
    values = tuple(override.sweep_iterator()) if sweep else (override.value(),)
    return Condition(override.get_key_element(), values)


def suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """Suggest ``name`` from ``dist`` through the trial's public API."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


def parse_search_space(
    params: Mapping[str, Any] | None,
    arguments: Sequence[str],
    parser: OverridesParser | None = None,
    when: Mapping[str, Mapping[str, Any]] | None = None,
    paired: Mapping[str, Mapping[str, Any]] | None = None,
    blocks: Mapping[str, Mapping[str, Any]] | None = None,
    cells: Mapping[str, Mapping[str, Any]] | None = None,
) -> SearchSpace:
    """Compile ``hydra.sweeper.params``, ``when``, ``paired``, ``blocks``, ``cells`` and
    command-line sweep arguments into a ``SearchSpace``.

    Command-line arguments win over ``params`` for the same key, as in hydra-optuna-sweeper.
    Raises ``SearchSpaceError`` naming the parameter and where it came from.
    """
    parser = parser or make_parser()
    lines: dict[str, tuple[str, str]] = {}
    for key, expr in (params or {}).items():
        origin = f"hydra.sweeper.params.{key}"
        lines[bare_key(key)] = (entry_line(key, expr, origin), origin)
    for argument in arguments:
        lines[bare_key(argument.split("=", 1)[0])] = (argument, "the command line")
    # A line for one parameter of blocks or a cell (model.cell.e0-3=choice(skip)) goes to it.
    architectures = [
        (kind, str(k), s)
        for kind, d in (("blocks", blocks), ("cells", cells))
        for k, s in (d or {}).items()
    ]
    given = {
        key: {k: lines.pop(k) for k in list(lines) if k.startswith(f"{key}.")}
        for _, key, _ in architectures
    }

    space = SearchSpace()
    for line, origin in lines.values():
        key, dist = parse_line(line, parser, origin)
        if origin.startswith("hydra.sweeper.params"):
            space.from_params.add(key)
        if dist is None:
            space.fixed.append(line)
        else:
            space.distributions[key] = dist
    for block, block_params in (when or {}).items():
        space.add_conditional(block, block_params, parser, f"hydra.sweeper.when.{block}")
    for name, pair in (paired or {}).items():
        fields = pair if isinstance(pair, Mapping) else {}  # else: "give keys and rows"
        space.add_pair(name, fields.get("keys") or [], fields.get("rows") or [])
    for kind, key, spec in architectures:
        space.add_architecture(kind, key, spec, parser, given[key])
    space.yield_to_fixed()
    space.validate()
    return space


def is_sequence(item: Any) -> bool:
    """A list of values or overrides, not a string."""
    return isinstance(item, Sequence) and not isinstance(item, str)


def _same(choice: Any, value: Any) -> bool:
    if isinstance(choice, bool) or isinstance(value, bool):
        return choice is value
    if isinstance(choice, Real) and isinstance(value, Real):
        return float(choice) == float(value)
    return choice == value
