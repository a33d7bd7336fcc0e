"""``logger=mlflow``: Lightning's ``MLFlowLogger``, one MLflow run per training run.

Under a hydratune sweep with MLflow on, the sweeper has already created the trial's run as a
child of the sweep's parent run and stored its id in the trial's user attributes; the logger
finds it through the study storage (the job's ``TrialRef``), so epochs land in the right run
from any worker process, Ray or Slurm job, or host. In a plain ``hydratune logger=mlflow`` run
it creates a run of its own.

Differences from Lightning's logger, on purpose:

- metrics are logged with step = epoch (Lightning uses the global batch step), so MLflow's
  charts show learning curves that line up across trials of any batch count;
- the tracking server can never fail a training run: the first error is logged once (URI
  password masked), then the logger goes quiet for the rest of the run;
- under a sweep the sweeper ends the run, with the trial's state (pruned, failed, ...).

Example::

    hydratune logger=mlflow                                  # local store under outputs/
    MLFLOW_TRACKING_URI=http://mlflow:5000 hydratune -m sweep=mlp_digits logger=mlflow
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import MLFlowLogger

from hydratune.attrs import MLFLOW_RUN_ID
from hydratune.storage import mask_url
from hydratune.training.current_trial import current_trial_ref
from hydratune.training.mlflow_store import prepare_mlflow, tracking_target

log = logging.getLogger(__name__)


def mlflow_logger(
    experiment_name: str = "hydratune",
    tracking_uri: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> TrialMLFlowLogger | None:
    """The logger for this run, or None (no logger) when it has nothing to log into.

    Under a hydratune sweep the run is the trial's child run; when the trial has none (the
    sweep's MLflow tracking is off, or failed), the trial trains without it.
    """
    import mlflow  # noqa: F401  (missing: an ImportError that says which extra to install)

    cwd = HydraConfig.get().runtime.cwd if HydraConfig.initialized() else os.getcwd()
    run_id = None
    ref = current_trial_ref()
    if ref is not None:
        run_id = ref.trial().user_attrs.get(MLFLOW_RUN_ID)
        if run_id is None:
            return None
        sweep_setting = (HydraConfig.get().sweeper.get("mlflow") or {}).get("tracking_uri")
        tracking_uri = sweep_setting or tracking_uri
    uri, artifacts = tracking_target(tracking_uri, cwd)
    prepare_mlflow(uri)
    try:
        logger = TrialMLFlowLogger(
            experiment_name=experiment_name,
            tracking_uri=uri,
            run_name=run_name,
            tags=dict(tags or {}),
            artifact_location=artifacts,
            run_id=run_id,
        )
        # A sweep ends the trial's run itself, with the trial's state (pruned, failed, ...):
        # two requests per trial saved (Lightning's finalize reads the run, then ends it).
        logger.ended_by_sweeper = run_id is not None
        return logger
    except Exception as error:  # a store that cannot even be opened: train without it
        log.warning("MLflow logging off for this run: %s", _describe(uri, error))
        return None


class TrialMLFlowLogger(MLFlowLogger):
    """``MLFlowLogger`` with step = epoch whose tracking errors never reach the Trainer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.quiet = False
        self.ended_by_sweeper = False

    def _guarded(self, call: Callable[..., Any], *args: Any, default: Any = None) -> Any:
        if self.quiet:
            return default
        try:
            return call(*args)
        except Exception as error:
            self._go_quiet(error)
            return default

    def _go_quiet(self, error: BaseException) -> None:
        self.quiet = True
        log.warning(
            "MLflow logging failed; training goes on without it: %s",
            _describe(self._tracking_uri, error),
        )

    @property
    def experiment(self) -> Any:
        """The MLflow client (Lightning touches it in ``setup``); a no-op stand-in once off."""
        return self._guarded(lambda: MLFlowLogger.experiment.fget(self), default=_Offline())

    def log_hyperparams(self, params: Any) -> None:
        from mlflow.exceptions import MlflowException

        if self.quiet:
            return
        try:
            super().log_hyperparams(params)
        except MlflowException as error:
            if error.error_code != "INVALID_PARAMETER_VALUE":
                self._go_quiet(error)
                return
            # a model hyperparameter named like a searched key (``seed``), with another value
            log.warning(
                "MLflow: hyperparameters not logged (%s); metrics are", mask_url(str(error))
            )
        except Exception as error:
            self._go_quiet(error)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        epoch = metrics.get("epoch")  # Lightning adds the epoch to every logged dict
        self._guarded(super().log_metrics, metrics, int(epoch) if epoch is not None else step)

    def finalize(self, status: str = "success") -> None:
        if not self.ended_by_sweeper:
            self._guarded(super().finalize, status)

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        self._guarded(super().after_save_checkpoint, checkpoint_callback)

    @property
    def name(self) -> str | None:
        return self._guarded(lambda: MLFlowLogger.name.fget(self), default="mlflow")

    @property
    def version(self) -> str | None:
        return self._guarded(lambda: MLFlowLogger.version.fget(self), default="offline")


class _Offline:
    """Stands in for the MLflow client once logging is off: every call does nothing."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def _describe(uri: str, error: BaseException) -> str:
    first_line = (str(error).splitlines() or [""])[0][:300]
    return mask_url(f"{uri}: {type(error).__name__}: {first_line}")
