"""The ``hydra.sweeper`` schema of ``hydra/sweeper: hydratune`` (its sampler and pruner options
are generated, in ``optuna_options.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

# hydra-optuna-sweeper's sweeper class: configs written for it still name it.
UPSTREAM_TARGET = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


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
    # auto: the sampler the sweep's space and budget call for (hydratune.sweep.auto, logged and
    # recorded in the study); name one to pin it (hydra/sweeper/sampler=tpe draws as Optuna's)
    defaults: list[Any] = field(
        default_factory=lambda: [{"sampler": "auto"}, {"pruner": "nop"}, {"scheduler": "none"}]
    )
    sampler: Any = MISSING
    pruner: Any = MISSING
    # hydra/sweeper/scheduler=asha|hyperband|pbt: trials that pause and continue from checkpoints
    scheduler: Any = MISSING
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
    # Repeated blocks of variable count: {model.layers: {depth: range(1, 5), each: {key: expr}}}.
    blocks: Any = None
    # Cells whose edges pick an operation: {model.cell: {nodes: 4, ops: [conv3x3, skip, none]}}.
    cells: Any = None
    # The config key holding a trial's budget in epochs: hyperband's max_resource when "auto".
    resource_key: str | None = "trainer.max_epochs"
    # With n_jobs > 1: torch threads per worker (null: cores // n_jobs), GPUs per slot.
    threads_per_worker: int | None = None
    devices_per_trial: int = 0
    # Seconds of wall time for this invocation; running trials finish, then the sweep ends.
    timeout: float | None = None
    # Seconds one trial may run (in any launcher); past it the trial is stopped and fails.
    trial_timeout: float | None = None
    # Runs of a lost trial's params (killed, crashed worker, interrupted) before giving up.
    max_retries: int = 1
    # A running trial whose heartbeat is older than the grace period is lost (any host).
    heartbeat_interval: float = 10.0
    heartbeat_grace: float = 60.0
    # Trials to run first: parameter mappings, or override lists such as [experiment=baseline].
    enqueue: Any = None
    # Another study's trials that fit this space, copied first ({storage: ..., study_name: ...}),
    # or learned from related studies: {studies: related, transfer: prior} (docs/steering.md).
    warm_start: Any = None
    # At the end: <sweep dir>/report/ (HTML, Markdown, PNG figures when report_png).
    report: bool = True
    report_png: bool = True
    # At the end: the best trial as <config dir>/experiment/<study>_best.yaml (true) or at a
    # path <config dir>/<group>/<name>.yaml (the file Hydra selects as <group>=<name>).
    export_best: Any = False
    # A live view of the sweep in a terminal (never when output is not a terminal).
    progress: bool = True
    # MLflow tracking: one parent run per study, a child run per trial (insight/tracking.py).
    mlflow: MlflowConf = field(default_factory=MlflowConf)
