"""The ``hydratune`` command: a Hydra app that trains once, or sweeps with ``-m``."""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

import hydratune.training.resolvers  # noqa: F401  (${hydratune.*} in conf/ must resolve in any process)

# Hydra's options that print something and exit without running the task (`--cfg job`,
# `--help`, ...): they need no Lightning, whose import is most of a start (seconds).
INSPECTING = frozenset(
    (
        "--help",
        "-h",
        "--hydra-help",
        "--version",
        "--cfg",
        "-c",
        "--info",
        "-i",
        "--shell-completion",
        "-sc",
    )
)


# `conf` in the package is a link to the repository's top-level conf/.
@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def train_app(cfg: DictConfig) -> float | list[float]:
    from hydratune.training import train

    return train(cfg)


def main() -> None:
    """Run the app. The working directory is importable, as with ``python -m``, so a project's
    own ``_target_: mymodels.MyNet`` is found (with ``--config-dir conf`` for its configs)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if not any(arg.split("=", 1)[0] in INSPECTING for arg in sys.argv[1:]):
        import_lightning()
    train_app()


def import_lightning() -> None:
    """Import Lightning before Hydra configures logging, so conf/ can quiet it, as this module's
    global: worker processes then import it first too (``execute.worker.modules_to_preload``)."""
    global lightning
    import lightning  # noqa: F401
