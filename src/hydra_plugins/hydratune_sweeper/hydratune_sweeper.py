"""The Hydra plugin shim: registers the config schemas, delegates to ``StudySweep``."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydratune.sweep.loop import LoopSummary
from hydratune.sweep.schema import register_configs
from hydratune.sweep.sweeper import StudySweep

register_configs()


class HydratuneSweeper(Sweeper):
    """``hydra/sweeper: hydratune``: Optuna sweeps that prune, resume and keep workers busy."""

    def __init__(self, **settings: Any) -> None:
        self.sweep_impl = StudySweep(**settings)
        self.summary: LoopSummary | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.sweep_impl.setup(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        """Run the sweep; returns None as hydra-optuna-sweeper does (the study, the results file
        and ``self.summary`` hold what it found)."""
        self.summary = self.sweep_impl.sweep(arguments)
