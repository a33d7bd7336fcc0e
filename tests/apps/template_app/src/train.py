"""Train the digits model: ``python src/train.py`` (a sweep: add ``-m hparams_search=...``).

As in lightning-hydra-template: every object comes from config through
``hydra.utils.instantiate``, and the value of ``optimized_metric`` is returned for a sweeper.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig

# as the template's rootutils.setup_root(pythonpath=True) does: the project root importable,
# and in PROJECT_ROOT for configs/paths
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PROJECT_ROOT", str(ROOT))


def instantiate_group(cfg: DictConfig | None) -> list:
    """Every ``_target_`` entry of a callbacks or logger group, as the template's instantiators
    do: the returned objects go to the Trainer as they are."""
    return [
        hydra.utils.instantiate(node)
        for node in (cfg or {}).values()
        if isinstance(node, DictConfig) and "_target_" in node
    ]


def train(cfg: DictConfig) -> dict:
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model)
    callbacks = instantiate_group(cfg.get("callbacks"))
    logger = instantiate_group(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=logger)
    if logger:
        for each in logger:
            each.log_hyperparams({"model/lr": cfg.model.lr, "data/batch_size": cfg.data.batch_size})
    trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    return dict(trainer.callback_metrics)


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise KeyError(f"optimized_metric={name} was not logged; logged: {sorted(metrics)}")
    return float(metrics[name])


if __name__ == "__main__":
    main()
