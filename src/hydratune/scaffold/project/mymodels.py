"""Your own model and data: plain Lightning, nothing hydratune-specific.

hydratune's training task builds the datamodule first and passes its ``input_shape`` and
``num_classes`` to the model; everything else comes from conf/.
"""

import lightning as L
import torch
from sklearn.datasets import make_blobs
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class BlobsData(L.LightningDataModule):
    def __init__(
        self,
        n_samples: int = 600,
        n_features: int = 8,
        centers: int = 4,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        x, y = make_blobs(
            n_samples=n_samples,
            n_features=n_features,
            centers=centers,
            cluster_std=3.0,
            random_state=seed,
        )
        x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
        split = int(0.8 * n_samples)
        self.train_set = TensorDataset(x[:split], y[:split])
        self.val_set = TensorDataset(x[split:], y[split:])
        self.batch_size = batch_size
        self.input_shape, self.num_classes = (n_features,), centers

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)


class TinyNet(L.LightningModule):
    """One hidden layer of ``hidden`` units, or one per entry of ``layers`` (``[{width: 16},
    ...]``, what ``hydra.sweeper.blocks`` in conf/sweep/tiny.yaml searches)."""

    BLOCK_KEYS = {"layers": ("width",)}  # lets the sweep refuse a block key this model lacks

    def __init__(
        self, input_shape, num_classes: int, hidden: int = 32, lr: float = 1e-3, layers=None
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        widths = [int(block["width"]) for block in layers] if layers else [hidden]
        modules, width = [], input_shape[0]
        for out in widths:
            modules += [nn.Linear(width, out), nn.ReLU()]
            width = out
        self.net = nn.Sequential(*modules, nn.Linear(width, num_classes))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train/loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self.log("val/loss", nn.functional.cross_entropy(logits, y))
        self.log("val/acc", (logits.argmax(-1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
