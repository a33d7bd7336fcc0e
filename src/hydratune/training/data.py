"""LightningDataModules over small in-memory datasets that need no download.

Each loads its arrays when constructed, so ``input_shape`` and ``num_classes`` are known before
``fit`` and the training task can size the model from them. The validation split is seeded by the
datamodule's own ``seed`` (not the training seed), so every trial of a sweep is scored on the same
examples. Batches are cut by indexing the held tensors with a whole batch of indices at once,
not example by example, which keeps Python overhead per batch negligible.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)


class InMemoryDataModule(L.LightningDataModule):
    """Base class: a subclass implements :meth:`load_arrays`; this class splits, scales and serves.

    Features are standardised with the training split's mean and standard deviation when
    ``standardize`` is true (tabular data); regression targets are always standardised the same
    way, so MSE values are comparable across datasets. Classification splits are stratified.
    """

    standardize: bool = True

    def __init__(self, batch_size: int = 64, val_fraction: float = 0.2, seed: int = 0) -> None:
        super().__init__()
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.save_hyperparameters()
        self.batch_size = batch_size
        features, targets, self.num_classes = self.load_arrays()
        self.input_shape: tuple[int, ...] = tuple(features.shape[1:])
        train_idx, val_idx = train_test_split(
            np.arange(len(targets)),
            test_size=val_fraction,
            random_state=seed,
            stratify=targets if self.num_classes else None,
        )
        x_train, x_val = features[train_idx], features[val_idx]
        y_train, y_val = targets[train_idx], targets[val_idx]
        if self.standardize:
            x_train, x_val = _standardize(x_train, x_val)
        if not self.num_classes:
            y_train, y_val = _standardize(y_train, y_val)
        self.train_set = _tensor_dataset(x_train, y_train, self.num_classes)
        self.val_set = _tensor_dataset(x_val, y_val, self.num_classes)

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Return ``(features, targets, num_classes)``; ``num_classes`` 0 means regression."""
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, RandomSampler(self.train_set))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, SequentialSampler(self.val_set))

    def _loader(self, dataset: TensorDataset, order: torch.utils.data.Sampler) -> DataLoader:
        # batch_size=None + a BatchSampler: TensorDataset receives a list of indices and returns
        # the whole batch by tensor indexing, instead of batch_size single items and a collate.
        batches = BatchSampler(order, batch_size=self.batch_size, drop_last=False)
        return DataLoader(dataset, sampler=batches, batch_size=None, num_workers=0)


def _standardize(train: np.ndarray, val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # constant columns stay 0 instead of dividing by zero
    return (train - mean) / std, (val - mean) / std


def _tensor_dataset(x: np.ndarray, y: np.ndarray, num_classes: int) -> TensorDataset:
    target_dtype = torch.long if num_classes else torch.float32
    return TensorDataset(
        torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=target_dtype)
    )


class DigitsDataModule(InMemoryDataModule):
    """scikit-learn's 1797 handwritten digits as 1x8x8 images in [0, 1], 10 classes (default)."""

    standardize = False  # already on a common scale; keeps the images image-like for a CNN

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray, int]:
        x, y = datasets.load_digits(return_X_y=True)
        return (x / 16.0).reshape(-1, 1, 8, 8), y, 10


class WineDataModule(InMemoryDataModule):
    """scikit-learn's wine recognition data: 178 samples, 13 features, 3 classes."""

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray, int]:
        x, y = datasets.load_wine(return_X_y=True)
        return x, y, 3


class BreastCancerDataModule(InMemoryDataModule):
    """scikit-learn's Wisconsin breast cancer data: 569 samples, 30 features, 2 classes."""

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray, int]:
        x, y = datasets.load_breast_cancer(return_X_y=True)
        return x, y, 2


class SyntheticDataModule(InMemoryDataModule):
    """Generated data of any size: ``task="classification"`` (``make_classification``) or
    ``"regression"`` (``make_regression``; ``num_classes`` is then 0). ``seed`` seeds both the
    generator and the split, so a given configuration always yields the same data.
    """

    TASKS = ("classification", "regression")

    def __init__(
        self,
        task: str = "classification",
        n_samples: int = 1000,
        n_features: int = 20,
        n_informative: int = 10,
        n_classes: int = 2,
        noise: float = 0.1,
        batch_size: int = 64,
        val_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        if task not in self.TASKS:
            raise ValueError(f"task must be one of {self.TASKS}, got {task!r}")
        self.task = task
        self.n_samples, self.n_features, self.n_informative = n_samples, n_features, n_informative
        self.n_classes, self.noise, self.seed = n_classes, noise, seed
        super().__init__(batch_size=batch_size, val_fraction=val_fraction, seed=seed)

    def load_arrays(self) -> tuple[np.ndarray, np.ndarray, int]:
        common = {
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "n_informative": self.n_informative,
            "random_state": self.seed,
        }
        if self.task == "regression":
            x, y = datasets.make_regression(noise=self.noise, **common)
            return x, y, 0
        # n_redundant=0: the features that are not informative are pure noise.
        x, y = datasets.make_classification(n_classes=self.n_classes, n_redundant=0, **common)
        return x, y, self.n_classes
