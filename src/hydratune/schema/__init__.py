"""Config schemas of ``hydra.sweeper``, registered in Hydra's ConfigStore, without importing Optuna.

Hydra imports every module under ``hydra_plugins`` in every run of every app, sweep or not, so
the plugin module registers these schemas and nothing else: this package imports neither
``optuna`` nor ``hydratune.sweep``. Every schema is a dataclass, so a misspelt key under
``hydra.sweeper`` (or under its sampler or pruner) is a composition error that names the key.
The sampler and pruner schemas in ``optuna_options.py`` are generated from the Optuna classes'
own signatures (``python -m hydratune.schema.generate``; a test fails while the file is stale).
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from hydratune.schema.optuna_options import PRUNER_OPTIONS, SAMPLER_OPTIONS
from hydratune.schema.schedulers import SCHEDULER_OPTIONS
from hydratune.schema.sweeper import UPSTREAM_TARGET, MlflowConf, SweeperConf

__all__ = [
    "PRUNER_OPTIONS",
    "SAMPLER_OPTIONS",
    "SCHEDULER_OPTIONS",
    "UPSTREAM_TARGET",
    "MlflowConf",
    "SweeperConf",
    "register_configs",
]


def register_configs(*, as_upstream: bool) -> None:
    """Put the sweeper and its sampler/pruner/scheduler options into Hydra's ConfigStore.

    With ``as_upstream`` (hydra-optuna-sweeper is not installed), ``hydra/sweeper: optuna`` is
    hydratune too, under hydra-optuna-sweeper's class name, which says what to change.
    """
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="hydratune", node=SweeperConf, provider="hydratune")
    if as_upstream:
        # hydratune's own node, under the upstream class (a defaults entry: no second copy)
        node = {"defaults": ["hydratune", "_self_"], "_target_": UPSTREAM_TARGET}
        store.store(group="hydra/sweeper", name="optuna", node=node, provider="hydratune")
    groups = [("sampler", SAMPLER_OPTIONS), ("pruner", PRUNER_OPTIONS)]
    for group, options in [*groups, ("scheduler", SCHEDULER_OPTIONS)]:
        for name, node in options.items():
            if name == "auto":  # open: a config's sampler._target_ may name any sampler
                node = {"_target_": node._target_, "seed": node.seed}
            store.store(group=f"hydra/sweeper/{group}", name=name, node=node, provider="hydratune")
