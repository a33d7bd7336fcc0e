"""The Hydra plugin shim: registers the config schemas, delegates to ``StudySweep``."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydratune import compat
from hydratune.sweep.loop import LoopSummary
from hydratune.sweep.schema import register_configs
from hydratune.sweep.sweeper import StudySweep
from hydratune.sweep.upstream import UPSTREAM_TARGET

log = logging.getLogger(__name__)

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


def _upstream_installed() -> bool:
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None
    except (ImportError, ValueError):
        return False


if not _upstream_installed():

    class OptunaSweeper(HydratuneSweeper):
        """hydra-optuna-sweeper's class name, for configs that select ``hydratune`` but still
        set ``hydra.sweeper._target_`` to the upstream class (lightning-hydra-template's
        ``hparams_search/*.yaml``): hydratune runs, and says which line to delete. Registered
        only where hydra-optuna-sweeper is not installed, so it never shadows the real one."""

        def __init__(self, **settings: Any) -> None:
            log.warning(
                "hydra.sweeper._target_ is %s (hydra-optuna-sweeper's class) but "
                "hydra/sweeper is hydratune: running hydratune. Delete the _target_ line "
                "(`hydratune migrate <config.yaml>` rewrites the file)",
                UPSTREAM_TARGET,
            )
            super().__init__(**settings)

    compat.hydra_plugin_alias(OptunaSweeper, UPSTREAM_TARGET)
