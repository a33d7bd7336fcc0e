"""A NAS-Bench-201-style cell: a small DAG whose edges each apply one operation.

Node 0 is the cell's input, the last node its output; node ``j`` is the sum of
``op_ij(node i)`` over ``i < j``. The operations arrive as one list in the order
``e0-1, e0-2, e1-2, e0-3, e1-3, e2-3`` (``hydra.sweeper.cells`` writes it so), so the number
of nodes follows from its length (1, 3, 6, 10... edges).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

NONE = "none"  # an edge that passes nothing; the sweep refuses a cell it could disconnect


class Cell(nn.Module):
    """Apply ``ops`` (names looked up in ``make``) on the edges of a DAG; shape-preserving."""

    def __init__(self, ops: Sequence[str], make: Mapping[str, Callable[[], nn.Module]]) -> None:
        super().__init__()
        self.nodes = nodes_for(len(ops))
        unknown = sorted({str(o) for o in ops} - set(make) - {NONE})
        if unknown:
            raise ValueError(f"unknown cell operation(s) {unknown}; expected {sorted(make)}")
        self.names = [str(o) for o in ops]
        self.edges = nn.ModuleList(
            nn.Identity() if name == NONE else make[name]() for name in self.names
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x]
        index = 0
        for _ in range(1, self.nodes):
            inputs = []
            for state in states:
                if self.names[index] != NONE:
                    inputs.append(self.edges[index](state))
                index += 1
            states.append(torch.stack(inputs).sum(0) if inputs else torch.zeros_like(x))
        return states[-1]


def nodes_for(edges: int) -> int:
    """The node count of a cell with ``edges`` edges (n(n-1)/2), or ValueError."""
    nodes = round((1 + math.sqrt(1 + 8 * edges)) / 2)
    if edges < 1 or nodes * (nodes - 1) // 2 != edges:
        raise ValueError(f"a cell has 1, 3, 6, 10... edge operations (n(n-1)/2), got {edges}")
    return nodes
