"""Config schemas of ``hydra.sweeper``, registered in Hydra's ConfigStore.

Every schema is a dataclass, so a misspelt key under ``hydra.sweeper`` (or under its sampler
or pruner) is a composition error that names the key. The sampler and pruner schemas are
generated from the Optuna classes' own signatures: every option Optuna has can be set in YAML,
and none is passed to Optuna unless the user sets it (so no deprecated argument is passed).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass, field
from typing import Any

import optuna
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from hydratune.execute.ray_launcher import RayLauncherConf
from hydratune.optuna_classes import PRUNERS, SAMPLERS, SUPPLIED

# Defaults for the few arguments that Optuna requires.
_REQUIRED_DEFAULTS: dict[tuple[type, str], Any] = {
    (optuna.pruners.PercentilePruner, "percentile"): 25.0,
    (optuna.pruners.PatientPruner, "patience"): 2,
    (optuna.pruners.PatientPruner, "wrapped_pruner"): None,
}


@functools.cache
def options_schema(cls: type) -> type:
    """A dataclass with ``_target_`` and one field per constructor argument of ``cls``.

    A field keeps the Optuna default; a default that is not a plain value (a function) shows
    as ``None`` and means "Optuna's default".
    """
    fields: list[tuple[str, Any, Any]] = [
        ("_target_", str, field(default=f"{_public_module(cls)}.{cls.__name__}"))
    ]
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name in SUPPLIED or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = _REQUIRED_DEFAULTS.get((cls, name), param.default)
        if default is inspect.Parameter.empty:
            default = MISSING
        elif not isinstance(default, (str, int, float, bool, type(None))):
            default = None
        fields.append((name, Any, field(default=default)))
    schema = dataclasses.make_dataclass(f"{cls.__name__}Conf", fields)
    schema.__module__ = __name__  # importable by name, so composed configs pickle
    globals()[schema.__name__] = schema
    return schema


def _public_module(cls: type) -> str:
    """``optuna.samplers`` for ``optuna.samplers._tpe.sampler``: where users import it from."""
    return ".".join(cls.__module__.split(".")[:2])


@dataclass
class MlflowConf:
    """``hydra.sweeper.mlflow``: the sweep as one MLflow parent run with a child run per trial."""

    enabled: bool | None = None  # null: on when the app's config selects logger=mlflow
    tracking_uri: str | None = None  # null: MLFLOW_TRACKING_URI, else sqlite:///outputs/mlflow.db
    experiment: str | None = None  # null: named after the study
    register_best: str | None = None  # a model name: the best trial's checkpoint is a version


@dataclass
class SweeperConf:
    """``hydra.sweeper`` for ``hydra/sweeper: hydratune``: hydra-optuna-sweeper's fields, plus ours.

    Differences from hydra-optuna-sweeper 1.3, on purpose: ``storage: null`` is a durable
    journal file under ``outputs/`` (use ``memory`` for in-memory); ``n_trials`` counts the
    study's trials that ended by themselves (complete, pruned, failed; a lost one once), so
    rerunning the same command resumes; trials run in this process unless ``n_jobs`` > 1.
    """

    _target_: str = "hydra_plugins.hydratune_sweeper.hydratune_sweeper.HydratuneSweeper"
    _recursive_: bool = False  # the sweeper builds sampler and pruner itself (grid needs the space)
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "nop"}])
    sampler: Any = MISSING
    pruner: Any = MISSING
    # null: the app's objective.direction when it has one (hydratune's task), else minimize
    direction: Any = None
    storage: Any = None
    study_name: str | None = None
    n_trials: int = 20
    n_jobs: int = 1
    max_failure_rate: float = 0.0
    # Mappings below are typed Any: OmegaConf cannot merge a dict into a None-valued Dict field,
    # and they must be settable from the command line (hydra.sweeper.params={lr: ...}).
    params: Any = None
    # hydra-optuna-sweeper's deprecated {key: {type, low, high, ...}}: read as params, warned
    search_space: Any = None
    custom_search_space: str | None = None
    # Parameters searched only under a condition: {"model/optimizer=sgd": {key: expression}}.
    when: Any = None
    # Keys that take values together: {name: {keys: [k1, k2], rows: [[v1, v2], ...]}}.
    paired: Any = None
    # The config key holding a trial's budget in epochs: hyperband's max_resource when "auto".
    resource_key: str | None = "trainer.max_epochs"
    # With n_jobs > 1: torch threads per worker (null: cores // n_jobs), GPUs per slot.
    threads_per_worker: int | None = None
    devices_per_trial: int = 0
    # Seconds of wall time for this invocation; running trials finish, then the sweep ends.
    timeout: float | None = None
    # Runs of a lost trial's params (killed, crashed worker, interrupted) before giving up.
    max_retries: int = 1
    # A running trial whose heartbeat is older than the grace period is lost (any host).
    heartbeat_interval: float = 10.0
    heartbeat_grace: float = 60.0
    # Trials to run first: parameter mappings, or override lists such as [experiment=baseline].
    enqueue: Any = None
    # Copy another study's trials that fit this space first: {storage: ..., study_name: ...}.
    warm_start: Any = None
    # At the end: <sweep dir>/report/ (HTML, Markdown, PNG figures when report_png).
    report: bool = True
    report_png: bool = True
    # At the end: the best trial as <config dir>/experiment/<study>_best.yaml (true) or a path.
    export_best: Any = False
    # A live view of the sweep in a terminal (never when output is not a terminal).
    progress: bool = True
    # MLflow tracking: one parent run per study, a child run per trial (insight/tracking.py).
    mlflow: MlflowConf = field(default_factory=MlflowConf)


def register_configs() -> None:
    """Put the sweeper and its sampler/pruner options into Hydra's ConfigStore."""
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="hydratune", node=SweeperConf, provider="hydratune")
    # hydratune_ray, not ray: hydra-ray-launcher registers that name (execute/select.py)
    store.store(
        group="hydra/launcher", name="hydratune_ray", node=RayLauncherConf, provider="hydratune"
    )
    for group, classes in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
        for name, cls in classes.items():
            store.store(
                group=f"hydra/sweeper/{group}",
                name=name,
                node=options_schema(cls),
                provider="hydratune",
            )


# Defined at import, so pickled configs that hold them load in any process.
for _cls in (*SAMPLERS.values(), *PRUNERS.values()):
    options_schema(_cls)
