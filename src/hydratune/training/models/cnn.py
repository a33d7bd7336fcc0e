"""A small convolutional network for image-like inputs (channels, height, width), e.g. digits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hydratune.training.models.base import (
    OptimizerFactory,
    SchedulerFactory,
    SupervisedModule,
    make_activation,
)


class CNNClassifier(SupervisedModule):
    """Two same-padded conv layers (``channels``, then ``2 * channels``), a 2x2 max-pool, dropout, a
    linear head. Sized for small images: on 8x8 digits it has about 10k parameters at channels=16.

    Raises ValueError for inputs that are not (channels, height, width): tabular data needs
    ``model=mlp``. ``num_classes`` 0 or None makes it a regressor (one output, MSE).

    Example::

        model = CNNClassifier(input_shape=(1, 8, 8), num_classes=10, channels=8)
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int | None,
        channels: int = 16,
        kernel_size: int = 3,
        dropout: float = 0.1,
        activation: str = "relu",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(input_shape, num_classes, optimizer, scheduler)
        if len(self.input_shape) != 3:
            raise ValueError(
                "CNNClassifier needs image-like inputs shaped (channels, height, width), got "
                f"input_shape={self.input_shape}; use model=mlp for tabular data"
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1 (same padding), got {kernel_size}")
        in_channels, height, width = self.input_shape
        pad = kernel_size // 2
        features = nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size, padding=pad),
            make_activation(activation),
            nn.Conv2d(channels, 2 * channels, kernel_size, padding=pad),
            make_activation(activation),
            nn.MaxPool2d(2, ceil_mode=True),  # ceil_mode: a 1-pixel-wide image still works
            nn.Flatten(),
        )
        with torch.no_grad():
            n_features = features(torch.zeros(1, in_channels, height, width)).shape[1]
        head = nn.Linear(n_features, self.out_features)
        self.net = nn.Sequential(features, nn.Dropout(dropout), head)
