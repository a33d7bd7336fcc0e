"""An MLP for the digits, logging val/loss, val/acc and val/acc_best as the template does."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn


class DigitsLitModule(L.LightningModule):
    def __init__(self, lr: float = 0.002, hidden: int = 64, n_layers: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        layers: list[nn.Module] = []
        width = 64
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 10))
        self.best_acc = 0.0

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self.log("val/loss", nn.functional.cross_entropy(logits, y))
        self.log("val/acc", (logits.argmax(1) == y).float().mean())

    def on_validation_epoch_end(self) -> None:
        acc = float(self.trainer.callback_metrics.get("val/acc", 0.0))
        if not self.trainer.sanity_checking:
            self.best_acc = max(self.best_acc, acc)
        self.log("val/acc_best", self.best_acc)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
