"""scikit-learn's bundled 8x8 digits as a LightningDataModule (no download)."""

from __future__ import annotations

import lightning as L
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset


class DigitsDataModule(L.LightningDataModule):
    def __init__(self, batch_size: int = 64, val_fraction: float = 0.25, seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)

    def setup(self, stage: str | None = None) -> None:
        x, y = load_digits(return_X_y=True)
        x = torch.tensor(x / 16.0, dtype=torch.float32)
        y = torch.tensor(y, dtype=torch.long)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.hparams.seed))
        n_val = int(len(x) * self.hparams.val_fraction)
        val, fit = order[:n_val], order[n_val:]
        self.train_set, self.val_set = TensorDataset(x[fit], y[fit]), TensorDataset(x[val], y[val])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=256)
