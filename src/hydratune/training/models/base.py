"""What every hydratune model shares: the loss, the per-epoch metrics and the optimizer wiring.

A subclass only builds ``self.net`` (input tensor -> one output per class, or one output for
regression); training, validation, logging and ``configure_optimizers`` live here once, so the
metric names the objective and the callbacks refer to (``train/loss``, ``val/loss``, ``val/acc``)
are the same for every model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
Batch = tuple[torch.Tensor, torch.Tensor]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def make_activation(name: str) -> nn.Module:
    """The activation layer called ``name``; a sweep's ``choice(relu,gelu)`` lands here."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None


def _default_optimizer(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-3)


class SupervisedModule(L.LightningModule):
    """Base module: classification (cross-entropy) or regression (MSE) on ``(x, y)`` batches.

    ``num_classes`` 0 or None means regression with a single output. ``optimizer`` is a factory
    taking the parameters (Hydra's ``_partial_: true`` optimizer node); ``scheduler`` a factory
    taking the optimizer, or None. Both stay out of the saved hyperparameters (they are
    callables); ``load_from_checkpoint`` then falls back to Adam(lr=1e-3), which is enough for
    inference, and the run's config.yaml records what was used.
    """

    net: nn.Module  # built by the subclass

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int | None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        # Also collects the subclass's arguments (hidden_dim, dropout...): one call for all models.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.input_shape = tuple(int(d) for d in input_shape)
        self.hparams["input_shape"] = list(self.input_shape)  # plain YAML in hparams.yaml
        self.num_classes = int(num_classes or 0)
        self.optimizer_factory = optimizer or _default_optimizer
        self.scheduler_factory = scheduler

    @property
    def is_classifier(self) -> bool:
        return self.num_classes > 0

    @property
    def out_features(self) -> int:
        """Width of the last layer: one logit per class, or one value for regression."""
        return self.num_classes if self.is_classifier else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss_and_accuracy(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = batch
        out = self(x)
        if self.is_classifier:
            return F.cross_entropy(out, y), (out.argmax(dim=1) == y).float().mean()
        return F.mse_loss(out.squeeze(-1), y), None

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss_and_accuracy(batch)
        # batch_size given so Lightning need not infer it; epoch values are size-weighted means,
        # over every DDP rank's share of the data (sync_dist; nothing to do in one process).
        self.log(
            "train/loss",
            loss,
            on_step=False,
            on_epoch=True,
            batch_size=len(batch[1]),
            sync_dist=True,
        )
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, acc = self._loss_and_accuracy(batch)
        kwargs = {
            "on_step": False,
            "on_epoch": True,
            "prog_bar": True,
            "batch_size": len(batch[1]),
            "sync_dist": True,
        }
        self.log("val/loss", loss, **kwargs)
        if acc is not None:
            self.log("val/acc", acc, **kwargs)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        # `monitor` only matters for ReduceLROnPlateau; val/loss exists for every task.
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch", "monitor": "val/loss"},
        }
