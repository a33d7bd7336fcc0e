"""Config schemas of ``hydra.sweeper``: dataclasses that import neither Optuna nor the sweeper.

Hydra imports every module under ``hydra_plugins`` in every run of every app, sweep or not, so
the plugin registers no schema there: Hydra finds the sweeper's config groups as YAML files on
the plugin's search path (``hydra_plugins/hydratune_sweeper/conf``), rendered from these
dataclasses with their comments, and the sweeper checks its settings against them when a sweep
starts (a misspelt key is an error naming it, before any trial). The sampler and pruner schemas
in ``optuna_options.py`` are generated from the Optuna classes' own signatures; both are written
by ``python -m hydratune.schema.generate`` (a test fails while a file is stale). One schema is
not a config's: ``auto_choice``, the record ``sampler: auto`` keeps in a study.
"""

from __future__ import annotations

from hydratune.exports import exports

# what other packages use, imported on first use (hydratune/exports.py)
__all__, __getattr__ = exports(
    __name__,
    {
        "auto_choice": ["AUTO_UNREADABLE", "AutoChoice", "parse_auto_choice"],
        "optuna_options": ["PRUNER_OPTIONS", "SAMPLER_OPTIONS"],
        "schedulers": ["SCHEDULER_OPTIONS"],
        "sweeper": ["UPSTREAM_TARGET", "MlflowConf", "SweeperConf"],
    },
)
