"""``hydratune init DIR``: a minimal project of one's own that trains and sweeps at once.

It shows the bring-your-own-model path: a plain LightningModule and DataModule in the user's
package, their YAML in the user's ``conf/``, found through ``--config-dir conf`` with all of
hydratune's groups (trainer, callbacks, optimizers, sweeps) still available.
"""

from __future__ import annotations

from pathlib import Path

FILES: dict[str, str] = {
    "mymodels.py": '''"""Your own model and data: plain Lightning, nothing hydratune-specific.

hydratune's training task builds the datamodule first and passes its ``input_shape`` and
``num_classes`` to the model; everything else comes from conf/.
"""

import lightning as L
import torch
from sklearn.datasets import make_blobs
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class BlobsData(L.LightningDataModule):
    def __init__(self, n_samples: int = 600, n_features: int = 8, centers: int = 4,
                 batch_size: int = 64, seed: int = 0) -> None:
        super().__init__()
        x, y = make_blobs(n_samples=n_samples, n_features=n_features, centers=centers,
                          cluster_std=3.0, random_state=seed)
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
    def __init__(self, input_shape, num_classes: int, hidden: int = 32, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(input_shape[0], hidden), nn.ReLU(),
                                 nn.Linear(hidden, num_classes))

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
''',
    "conf/model/tiny.yaml": """# Your own model: `hydratune --config-dir conf model=tiny`
_target_: mymodels.TinyNet
hidden: 32
lr: 1e-3
""",
    "conf/data/blobs.yaml": """# Your own data: `hydratune --config-dir conf data=blobs`
_target_: mymodels.BlobsData
batch_size: 64
seed: 0
""",
    "conf/sweep/tiny.yaml": """# @package _global_
# Sweep your model: `hydratune --config-dir conf -m sweep=tiny`; rerun the command to resume.
defaults:
  - override /model: tiny
  - override /data: blobs
  - override /callbacks: none
  - override /logger: none
  - override /hydra/sweeper/pruner: median

trainer:
  max_epochs: 8

hydra:
  sweeper:
    direction: ${objective.direction}
    n_trials: 20
    sampler:
      seed: 0
    params:
      model.hidden: choice(8, 16, 32, 64)
      model.lr: tag(log, interval(1e-4, 1e-1))
""",
    "README.md": """# My hydratune project

- Train once: `hydratune --config-dir conf model=tiny data=blobs`
- Sweep (TPE, median pruning, study in outputs/hydratune.journal):
  `hydratune --config-dir conf -m sweep=tiny`
- Your model and data are in `mymodels.py`, their settings in `conf/`. Every hydratune group
  (trainer, callbacks, logger, sweeps, samplers, pruners) is still there to override.
""",
}


def create_project(dest: Path) -> list[Path]:
    """Write the example project into ``dest``; refuses to overwrite existing files."""
    targets = [dest / name for name in FILES]
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise FileExistsError(f"hydratune init would overwrite {', '.join(existing)}")
    for target, text in zip(targets, FILES.values(), strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return targets
