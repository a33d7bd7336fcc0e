"""A multilayer perceptron: the default model, for tabular data or flattened images."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from hydratune.training.models.base import (
    OptimizerFactory,
    SchedulerFactory,
    SupervisedModule,
    make_activation,
)
from hydratune.training.models.cell import Cell


class MLPClassifier(SupervisedModule):
    """``n_layers`` hidden layers of ``hidden_dim`` units (Linear -> activation -> Dropout).

    Any input shape works: the input is flattened. ``n_layers=0`` is a linear model, a useful
    baseline in a sweep. ``num_classes`` 0 or None makes it a regressor (one output, MSE).
    ``layers`` (a list of ``{width, activation, dropout}``, each key defaulting to
    ``hidden_dim``, ``activation``, ``dropout``) replaces ``n_layers``: one entry per hidden
    layer, as ``hydra.sweeper.blocks`` searches it. ``cell`` (edge operations, see
    ``models/cell.py``) adds a cell after the hidden layers, at their width.

    Example::

        model = MLPClassifier(input_shape=(64,), num_classes=10, hidden_dim=32, n_layers=1)
        model = MLPClassifier((64,), 10, layers=[{"width": 64}, {"width": 32, "dropout": 0.2}])
    """

    # What hydra.sweeper.blocks / cells may search, checked before the first trial.
    BLOCK_KEYS = {"layers": ("width", "activation", "dropout")}
    CELL_OPS = {"cell": ("linear", "skip", "none")}

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int | None,
        hidden_dim: int = 128,
        n_layers: int = 2,
        dropout: float = 0.1,
        activation: str = "relu",
        layers: Sequence[Mapping[str, Any]] | None = None,
        cell: Sequence[str] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(input_shape, num_classes, optimizer, scheduler)
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}")
        default = {"width": hidden_dim, "activation": activation, "dropout": dropout}
        blocks = [{**default, **b} for b in layers] if layers is not None else [default] * n_layers
        modules: list[nn.Module] = [nn.Flatten()]
        width = math.prod(self.input_shape)
        for block in blocks:
            unknown = sorted(set(block) - set(default))
            if unknown:
                raise ValueError(f"layers: unknown key(s) {unknown}; expected {sorted(default)}")
            modules += [nn.Linear(width, int(block["width"])), make_activation(block["activation"])]
            modules.append(nn.Dropout(float(block["dropout"])))
            width = int(block["width"])
        if cell is not None:
            ops = {
                "linear": lambda: nn.Sequential(
                    nn.Linear(width, width), make_activation(activation)
                ),
                "skip": nn.Identity,
            }
            modules.append(Cell(cell, ops))
        modules.append(nn.Linear(width, self.out_features))
        self.net = nn.Sequential(*modules)
