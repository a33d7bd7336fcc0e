"""The Hydra plugin shim: shows Hydra the sweeper's config groups, delegates to ``StudySweep``.

Hydra imports this module in every run of every app, sweep or not, so it imports neither
Optuna nor ``hydratune.sweep`` and builds no config: the groups are YAML files on a search path
(``conf/``, rendered from ``hydratune.schema``), read only by a run that selects them, and the
sweeper's implementation is imported when Hydra constructs the sweeper, as hydra-optuna-sweeper
does (``bench/plugin_import.py`` measures the cost).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING, Any

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.plugins.search_path_plugin import SearchPathPlugin
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydratune import compat
from hydratune.schema import UPSTREAM_TARGET

if TYPE_CHECKING:
    from hydratune.sweep import LoopSummary

log = logging.getLogger(__name__)


def _upstream_installed() -> bool:
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None
    except (ImportError, ValueError):
        return False


_UPSTREAM_INSTALLED = _upstream_installed()
compat.admit_null_in_hydra_choice()  # choice(a, b, null) on the command line too


class HydratuneSearchPath(SearchPathPlugin):
    """``hydra/sweeper: hydratune`` and its sampler, pruner and scheduler groups."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append("hydratune", "pkg://hydra_plugins.hydratune_sweeper.conf")


if not _UPSTREAM_INSTALLED:
    # hydra-optuna-sweeper's option name, for configs written for it: hydratune's node under the
    # upstream class, which says what to change (in the ConfigStore, not on the search path, so
    # it never shadows the real one: only registered where that is absent)
    ConfigStore.instance().store(
        group="hydra/sweeper",
        name="optuna",
        node={"defaults": ["hydratune", "_self_"], "_target_": UPSTREAM_TARGET},
        provider="hydratune",
    )


class HydratuneSweeper(Sweeper):
    """``hydra/sweeper: hydratune``: Optuna sweeps that prune, resume and keep workers busy."""

    def __init__(self, **settings: Any) -> None:
        from hydratune.sweep import StudySweep

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


if not _UPSTREAM_INSTALLED:

    class OptunaSweeper(HydratuneSweeper):
        """hydra-optuna-sweeper's class, for configs written for it where it is not installed:
        ``hydra/sweeper: optuna`` (registered as hydratune above), or
        ``hydra/sweeper: hydratune`` with ``hydra.sweeper._target_`` still naming the upstream
        class (lightning-hydra-template's ``hparams_search/*.yaml``). hydratune runs, and says
        what to change. Registered only here, so it never shadows the real one."""

        def setup(
            self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
        ) -> None:
            if config.hydra.runtime.choices.get("hydra/sweeper") == "optuna":
                log.warning(
                    "hydra/sweeper: optuna selects hydra-optuna-sweeper, which is not installed: "
                    "running hydratune with the same config. Write `override hydra/sweeper: "
                    "hydratune` and delete hydra.sweeper._target_ (`hydratune migrate "
                    "<config.yaml>` rewrites the file)"
                )
            else:
                log.warning(
                    "hydra.sweeper._target_ is %s (hydra-optuna-sweeper's class, from a "
                    "_target_ line or a hydra/sweeper config whose defaults extend optuna): "
                    "running hydratune. Delete that line, or extend hydratune (`hydratune "
                    "migrate <config.yaml>` rewrites either)",
                    UPSTREAM_TARGET,
                )
            super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    compat.hydra_plugin_alias(OptunaSweeper, UPSTREAM_TARGET)
