"""Architecture spaces: repeated blocks of variable count, and cells whose edges pick operations.

Both compile to ordinary parameters of a ``SearchSpace`` with conditions, so every sampler,
the study and the report see them as the rest of the space; what is special is only how a
trial's parameters become one override the model reads (``model.layers=[{...}, ...]``).

Blocks (``hydra.sweeper.blocks``): a depth parameter and a per-block sub-space. Block ``k``'s
parameters (``model.layers.0.width``...) exist only while the depth is greater than ``k``: a
``Condition`` on the depth, so TPE sees a conditional space and the study holds only the
blocks a trial has. Cells (``hydra.sweeper.cells``): a DAG of ``nodes`` nodes, node 0 the
input and the last the output, one categorical parameter per edge from node ``i`` to node
``j`` (``i < j``), as in NAS-Bench-201; the override is the list of edge operations in the
order ``e0-1, e0-2, e1-2, e0-3, ...``. A cell that some choice of ``none`` edges would cut
from its input is refused before any trial.

An edge is named ``e<i>-<j>`` (parameter ``model.cell.e0-3``) because that is a key Hydra's
override grammar parses: on the command line, in ``hydratune steer`` and inside a ``{...}``
value (``0->3`` is not, and MLflow refuses ``>`` in a parameter name).

Example (the sweep config)::

    hydra:
      sweeper:
        blocks:
          model.layers:
            depth: range(1, 5)          # 1 to 4 blocks
            each: {width: choice(32, 64, 128), dropout: interval(0.0, 0.5)}
        cells:
          model.cell:
            nodes: 4
            ops: [linear, skip, none]
            edges: {e0-3: [linear, skip]}   # never none: the cell cannot disconnect
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from hydratune.space.grammar import (
    Condition,
    SearchSpaceError,
    format_value,
    grid_values,
    parse_entry,
    parse_line,
)


class Space(Protocol):
    """What blocks and cells add their parameters to: ``SearchSpace.add``."""

    def add(
        self,
        entries: Mapping[str, Any],
        parser: OverridesParser,
        origin: str,
        condition: Condition | None = None,
    ) -> None: ...


DISCONNECTING_OP = "none"  # the operation that passes nothing along its edge
DEPTH = "depth"

# A parameter's expression given outside the architecture's own entry (the command line, or
# ``params``), which wins over it: parameter name -> (``key=expression`` line, where written)
Given = Mapping[str, tuple[str, str]]


@dataclass(frozen=True)
class Blocks:
    """``key`` is a list of ``depth`` blocks, each a mapping of the ``each`` sub-keys."""

    key: str
    each: tuple[str, ...]

    @property
    def depth(self) -> str:
        return f"{self.key}.{DEPTH}"

    def param(self, k: int, sub: str) -> str:
        return f"{self.key}.{k}.{sub}"

    def value(self, params: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        if self.depth not in params:
            return None  # inactive (a `when` on the depth)
        return [
            {sub: params[self.param(k, sub)] for sub in self.each if self.param(k, sub) in params}
            for k in range(int(params[self.depth]))
        ]

    def params(self, names: Sequence[str]) -> list[str]:
        return [n for n in names if n == self.depth or n.startswith(f"{self.key}.")]


@dataclass(frozen=True)
class Cell:
    """``key`` is the list of the operations on the edges of a ``nodes``-node cell."""

    key: str
    nodes: int
    ops: tuple[Any, ...] = ()  # every operation some edge can pick

    @property
    def edges(self) -> list[tuple[int, int]]:
        return [(i, j) for j in range(1, self.nodes) for i in range(j)]

    def param(self, edge: tuple[int, int]) -> str:
        return f"{self.key}.{edge_name(edge)}"

    def value(self, params: Mapping[str, Any]) -> list[Any] | None:
        names = [self.param(e) for e in self.edges]
        return [params[n] for n in names] if all(n in params for n in names) else None

    def params(self, names: Sequence[str]) -> list[str]:
        return [n for n in names if n.startswith(f"{self.key}.")]


Architecture = Blocks | Cell


def edge_name(edge: tuple[int, int]) -> str:
    """``e0-3``: the edge from node 0 to node 3, as its parameter and ``edges:`` key name it."""
    return f"e{edge[0]}-{edge[1]}"


def add_blocks(
    space: Space,
    key: str,
    spec: Mapping[str, Any],
    parser: OverridesParser,
    condition: Condition | None,
    given: Given | None = None,
) -> Blocks:
    """Search ``spec`` (``depth``, ``each``) for the list ``key``; block k's parameters only
    while the depth is greater than k. An expression ``given`` for one of its parameters
    (``model.layers.depth=choice(2)`` on the command line) replaces the spec's."""
    where = f"hydra.sweeper.blocks.{key}"
    _only(spec, {"depth", "each", "when"}, where)
    each = spec.get("each")
    if "depth" not in spec or not isinstance(each, Mapping) or not each:
        raise SearchSpaceError(
            f"{where}: give depth: range(1, 5) and each: {{width: choice(32, 64), ...}}"
        )
    given = dict(given or {})
    blocks = Blocks(key, tuple(str(k) for k in each))
    depth = (
        _given(given.pop(blocks.depth), parser)
        if blocks.depth in given
        else parse_entry(DEPTH, spec["depth"], parser, where)
    )
    depths = (
        grid_values(f"{where}.depth", depth)
        if isinstance(depth, (IntDistribution, CategoricalDistribution))
        else []
    )
    if not depths or not all(isinstance(d, int) and d >= 0 for d in depths) or max(depths) < 1:
        raise SearchSpaceError(
            f"{where}.depth: {spec['depth']} gives no block count >= 1; a depth is a whole "
            "number of blocks, e.g. range(1, 5) or choice(2, 4)"
        )
    space.add({blocks.depth: depth}, parser, where, condition)
    for k in range(max(depths)):
        deeper = tuple(d for d in depths if d > k)
        entries = {blocks.param(k, sub): expr for sub, expr in each.items()}
        space.add(
            {
                n: _given(given.pop(n), parser)
                if n in given
                else parse_entry(n, e, parser, f"{where}.each")
                for n, e in entries.items()
            },
            parser,
            where,
            Condition(blocks.depth, deeper),
        )
    _refuse_unknown(
        given, where, f"{blocks.depth}, {key}.<k>.<{'|'.join(blocks.each)}> (k < {max(depths)})"
    )
    return blocks


def add_cell(
    space: Space,
    key: str,
    spec: Mapping[str, Any],
    parser: OverridesParser,
    condition: Condition | None,
    given: Given | None = None,
) -> Cell:
    """Search one operation per edge of the cell ``key``; refuse a cell that can disconnect.
    An expression ``given`` for an edge (``model.cell.e0-3=choice(skip)``) replaces its ops."""
    where = f"hydra.sweeper.cells.{key}"
    _only(spec, {"nodes", "ops", "edges", "when"}, where)
    nodes = spec.get("nodes")
    if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 2:
        raise SearchSpaceError(f"{where}.nodes: give the number of nodes (>= 2), got {nodes!r}")
    cell = Cell(key, nodes)
    default = _ops(spec.get("ops"), parser, f"{where}.ops")
    named = {str(e): v for e, v in dict(spec.get("edges") or {}).items()}
    known = [edge_name(e) for e in cell.edges]
    for edge in named.keys() - set(known):
        raise SearchSpaceError(
            f"{where}.edges: '{edge}' is not an edge of a {nodes}-node cell; edges are "
            f"{', '.join(known)} (e<from>-<to>)"
        )
    ops = {
        e: _ops(named[edge_name(e)], parser, f"{where}.edges.{edge_name(e)}")
        if edge_name(e) in named
        else default
        for e in cell.edges
    }
    given = dict(given or {})
    for e in cell.edges:
        if cell.param(e) in given:
            line, origin = given.pop(cell.param(e))
            dist = _given((line, origin), parser)
            if not isinstance(dist, CategoricalDistribution):
                raise SearchSpaceError(f"{origin}: {line}: an edge takes operations, choice(...)")
            ops[e] = [str(o) for o in dist.choices]
    _refuse_unknown(given, where, ", ".join(cell.param(e) for e in cell.edges))
    if any(o is None for o in ops.values()):
        raise SearchSpaceError(f"{where}.ops: give the operations, e.g. [conv3x3, skip, none]")
    _refuse_disconnection(ops, nodes, where)
    cell = Cell(key, nodes, tuple(dict.fromkeys(o for edge_ops in ops.values() for o in edge_ops)))
    space.add(
        {cell.param(e): CategoricalDistribution(o) for e, o in ops.items()},
        parser,
        where,
        condition,
    )
    return cell


def _refuse_disconnection(ops: Mapping[tuple[int, int], list[Any]], nodes: int, where: str) -> None:
    """The output stays reachable from the input whatever each edge picks iff some path runs
    along edges that cannot be ``none``: choosing ``none`` everywhere it is allowed is the
    worst case."""
    reached = {0}
    for j in range(1, nodes):
        if any(i in reached and DISCONNECTING_OP not in ops[(i, j)] for i in range(j)):
            reached.add(j)
    if nodes - 1 not in reached:
        raise SearchSpaceError(
            f"{where}: the cell can disconnect: with '{DISCONNECTING_OP}' on every edge that "
            f"allows it, node {nodes - 1} (the output) gets nothing from node 0; leave "
            f"'{DISCONNECTING_OP}' out of the ops of one path, e.g. edges: {{e0-{nodes - 1}: "
            "[conv3x3, skip]}"
        )


def _ops(expr: Any, parser: OverridesParser, where: str) -> list[Any] | None:
    """A list of operations (YAML list, or ``choice(...)``), each once."""
    if expr is None:
        return None
    if isinstance(expr, str):
        dist = parse_entry("ops", expr, parser, where)
        if not isinstance(dist, CategoricalDistribution):
            raise SearchSpaceError(f"{where}: give operations as a list or choice(...)")
        return list(dist.choices)
    ops = [str(o) for o in expr]
    if not ops or len(set(ops)) < len(ops):
        raise SearchSpaceError(f"{where}: give each operation once, got {ops}")
    return ops


def _given(entry: tuple[str, str], parser: OverridesParser) -> BaseDistribution:
    """A given expression's distribution; one value (``params: {model.layers.depth: 2}``) is a
    one-value choice: the list is built from the trial's parameters, so the value is one."""
    line, origin = entry
    key, dist = parse_line(line, parser, origin)
    if dist is not None:
        return dist
    value = parser.parse_override(line).value()
    if not isinstance(value, (str, int, float, bool)):
        raise SearchSpaceError(f"{origin}: {line}: give one plain value or choice(...)")
    return CategoricalDistribution([value])


def _refuse_unknown(given: Given, where: str, known: str) -> None:
    for name, (line, origin) in given.items():
        raise SearchSpaceError(
            f"{origin}: '{name}' (in {line}) is not a parameter of {where}; its parameters "
            f"are {known}"
        )


def _only(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for name in spec:
        if name not in allowed:
            raise SearchSpaceError(
                f"{where}.{name}: unknown; expected {', '.join(sorted(allowed))}"
            )


def check_architecture(arch: Architecture, owners: Sequence[type]) -> None:
    """Refuse block keys or cell operations that no class receiving ``arch.key`` declares
    (its ``BLOCK_KEYS`` / ``CELL_OPS``, as the bundled MLP and CNN do); a class that declares
    nothing is not checked."""
    kind, declared = ("blocks", "BLOCK_KEYS") if isinstance(arch, Blocks) else ("cells", "CELL_OPS")
    leaf = arch.key.rsplit(".", 1)[-1]
    allowed = [getattr(c, declared)[leaf] for c in owners if leaf in getattr(c, declared, {})]
    if not allowed or len(allowed) < len(owners):
        return
    wanted = arch.each if isinstance(arch, Blocks) else arch.ops
    for name in wanted:
        if not any(name in a for a in allowed):
            what = "a block key" if kind == "blocks" else "an operation"
            names = ", ".join(dict.fromkeys(str(n) for a in allowed for n in a))
            raise SearchSpaceError(
                f"hydra.sweeper.{kind}.{arch.key}: '{name}' is not {what} of "
                f"{', '.join(c.__name__ for c in owners)}'s {leaf}; expected one of {names}"
            )


def architecture_override(arch: Architecture, params: Mapping[str, Any]) -> str | None:
    """The override that hands the model its architecture (``model.layers=[{width:64},...]``),
    or None while the architecture is inactive."""
    value = arch.value(params)
    return None if value is None else f"{arch.key}={_format(value)}"


def _format(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_format(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_format(v) for v in value) + "]"
    return format_value(value)
