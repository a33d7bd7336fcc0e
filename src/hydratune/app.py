"""The ``hydratune`` command: a Hydra app that trains once, or sweeps with ``-m``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import hydratune.resolvers  # noqa: F401  (${hydratune.*} in conf/ must resolve in any process)


# `conf` in the package is a link to the repository's top-level conf/.
@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | list[float]:
    from hydratune.train import train

    return train(cfg)
