"""A small convolutional network for image-like inputs (channels, height, width), e.g. digits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hydratune.training.models.base import (
    OptimizerFactory,
    SchedulerFactory,
    SupervisedModule,
    make_activation,
)
from hydratune.training.models.cell import Cell


class CNNClassifier(SupervisedModule):
    """Two same-padded conv layers (``channels``, then ``2 * channels``), a 2x2 max-pool, dropout, a
    linear head. Sized for small images: on 8x8 digits it has about 10k parameters at channels=16.

    Raises ValueError for inputs that are not (channels, height, width): tabular data needs
    ``model=mlp``. ``num_classes`` 0 or None makes it a regressor (one output, MSE).

    ``layers`` (a list of ``{channels, kernel_size, activation}``, each key defaulting to the
    model's own) replaces the two conv layers, as ``hydra.sweeper.blocks`` searches it;
    ``cell`` (edge operations, see ``models/cell.py``) adds a NAS-Bench-201-style cell after
    them, at their channel count.

    Example::

        model = CNNClassifier(input_shape=(1, 8, 8), num_classes=10, channels=8)
        model = CNNClassifier((1, 8, 8), 10, cell=["conv3x3", "skip", "conv1x1"])
    """

    # What hydra.sweeper.blocks / cells may search, checked before the first trial.
    BLOCK_KEYS = {"layers": ("channels", "kernel_size", "activation")}
    CELL_OPS = {"cell": ("conv3x3", "conv1x1", "avgpool", "skip", "none")}

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int | None,
        channels: int = 16,
        kernel_size: int = 3,
        dropout: float = 0.1,
        activation: str = "relu",
        layers: Sequence[Mapping[str, Any]] | None = None,
        cell: Sequence[str] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(input_shape, num_classes, optimizer, scheduler)
        if len(self.input_shape) != 3:
            raise ValueError(
                "CNNClassifier needs image-like inputs shaped (channels, height, width), got "
                f"input_shape={self.input_shape}; use model=mlp for tabular data"
            )
        in_channels, height, width = self.input_shape
        default = {"channels": channels, "kernel_size": kernel_size, "activation": activation}
        blocks = (
            [{**default, **b} for b in layers]
            if layers is not None
            else [default, {**default, "channels": 2 * channels}]
        )
        modules: list[nn.Module] = []
        c_in = in_channels
        for block in blocks:
            unknown = sorted(set(block) - set(default))
            if unknown:
                raise ValueError(f"layers: unknown key(s) {unknown}; expected {sorted(default)}")
            size, c_out = int(block["kernel_size"]), int(block["channels"])
            if size < 1 or size % 2 == 0:
                raise ValueError(f"kernel_size must be odd and >= 1 (same padding), got {size}")
            modules += [nn.Conv2d(c_in, c_out, size, padding=size // 2)]
            modules.append(make_activation(block["activation"]))
            c_in = c_out
        if cell is not None:
            modules.append(Cell(cell, _conv_ops(c_in, activation)))
        modules.append(nn.MaxPool2d(2, ceil_mode=True))  # ceil_mode: 1-pixel-wide images work
        features = nn.Sequential(*modules, nn.Flatten())
        with torch.no_grad():
            n_features = features(torch.zeros(1, in_channels, height, width)).shape[1]
        head = nn.Linear(n_features, self.out_features)
        self.net = nn.Sequential(features, nn.Dropout(dropout), head)


def _conv_ops(channels: int, activation: str) -> dict[str, Any]:
    """NAS-Bench-201's operations, shape-preserving at ``channels``."""

    def conv(size: int) -> nn.Module:
        return nn.Sequential(
            make_activation(activation),
            nn.Conv2d(channels, channels, size, padding=size // 2),
            nn.BatchNorm2d(channels),
        )

    return {
        "conv3x3": lambda: conv(3),
        "conv1x1": lambda: conv(1),
        "avgpool": lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
        "skip": nn.Identity,
    }
