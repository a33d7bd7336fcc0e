"""A multilayer perceptron: the default model, for tabular data or flattened images."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from hydratune.training.models.base import (
    OptimizerFactory,
    SchedulerFactory,
    SupervisedModule,
    make_activation,
)


class MLPClassifier(SupervisedModule):
    """``n_layers`` hidden layers of ``hidden_dim`` units (Linear -> activation -> Dropout).

    Any input shape works: the input is flattened. ``n_layers=0`` is a linear model, a useful
    baseline in a sweep. ``num_classes`` 0 or None makes it a regressor (one output, MSE).

    Example::

        model = MLPClassifier(input_shape=(64,), num_classes=10, hidden_dim=32, n_layers=1)
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int | None,
        hidden_dim: int = 128,
        n_layers: int = 2,
        dropout: float = 0.1,
        activation: str = "relu",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(input_shape, num_classes, optimizer, scheduler)
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(self.input_shape)
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden_dim), make_activation(activation)]
            layers.append(nn.Dropout(dropout))
            width = hidden_dim
        layers.append(nn.Linear(width, self.out_features))
        self.net = nn.Sequential(*layers)
