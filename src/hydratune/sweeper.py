"""The sweep behind ``hydra/sweeper: hydratune``: settings -> study -> loop -> results.

Everything here is checked before the first trial: the search space, the keys it names, every
config-group option it can choose, the storage and the study's directions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.types import HydraContext, RunMode, TaskFunction
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf, open_dict

from hydratune.launch import InProcessLauncher, Launcher, ProcessPoolLauncher
from hydratune.loop import FINISHED, LoopSummary, count_trials, run_trials
from hydratune.reporting import register_live_study, unregister_live_study
from hydratune.results import write_results
from hydratune.search_space import SearchSpace, make_parser, parse_search_space
from hydratune.study import (
    MEMORY,
    StudyConfigError,
    build_pruner,
    build_sampler,
    directions_of,
    mask_url,
    open_storage,
    open_study,
    storage_url,
)
from hydratune.trial_config import TrialConfigFactory

log = logging.getLogger(__name__)


class SweepFailedError(RuntimeError):
    """The sweep stopped because too many trials failed; the study keeps every trial."""


def default_study_name(config: DictConfig) -> str:
    """The study a command writes to when ``study_name`` is unset: named after its sweep
    config (``sweep=mlp_digits``), else its experiment, else the app, so that running the same
    command again resumes the same study."""
    choices = config.hydra.runtime.choices
    return str(choices.get("sweep") or choices.get("experiment") or config.hydra.job.name)


class HydratuneSweep:
    """One ``hydratune`` multirun: the settings of ``hydra.sweeper`` and what they drive."""

    def __init__(
        self,
        sampler: Any,
        pruner: Any,
        direction: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        params: dict[str, Any] | None,
        custom_search_space: str | None,
        resource_key: str | None = None,
        threads_per_worker: int | None = None,
        devices_per_trial: int = 0,
    ) -> None:
        self.sampler = sampler
        self.pruner = pruner
        self.directions = directions_of(direction)
        self.storage = storage
        self.study_name = study_name
        self.n_trials = n_trials
        self.n_jobs = max(1, n_jobs)
        self.max_failure_rate = max_failure_rate
        self.params = params
        self.custom_search_space = custom_search_space
        self.resource_key = resource_key
        self.threads_per_worker = threads_per_worker
        self.devices_per_trial = devices_per_trial

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.context = hydra_context
        self.task_function = task_function
        self.config = config

    def sweep(self, arguments: list[str]) -> LoopSummary:
        config, loader = self.config, self.context.config_loader
        parser = make_parser(loader)
        space = parse_search_space(self.params, arguments, parser)
        study_name = self.study_name or default_study_name(config)
        with open_dict(config.hydra.sweeper):
            config.hydra.sweeper.study_name = study_name
        sweep_dir = Path(config.hydra.sweep.dir)
        pruner = resolve_pruner(self.pruner, config, self.resource_key)

        configs = TrialConfigFactory(
            loader,
            config,
            parser,
            # What a job needs to find its trial and prune it the way this sweep does.
            hydra_updates={
                "hydra.mode": RunMode.MULTIRUN,
                "hydra.sweep.dir": str(sweep_dir),
                "hydra.sweeper.study_name": study_name,
                "hydra.sweeper.pruner": pruner,
            },
        )
        configs.check_keys(space.distributions, _group_options(space, configs))

        url = storage_url(self.storage, config.hydra.runtime.cwd)
        if self.n_jobs > 1 and url in (MEMORY, ":memory:"):
            raise StudyConfigError(
                f"hydra.sweeper.storage: '{url}' cannot be shared with n_jobs={self.n_jobs} "
                "worker processes; leave storage null (a journal file under outputs/) or give a "
                "file path or database URL"
            )
        study = open_study(
            open_storage(url),
            study_name,
            self.directions,
            build_sampler(self.sampler, space),
            build_pruner(pruner),
        )
        finished = count_trials(study, FINISHED)
        log.info(
            "study '%s' in %s: %d of %d trials finished", study_name, mask_url(url), finished,
            self.n_trials,
        )
        if finished >= self.n_trials:
            log.info("nothing to run: the study already has n_trials=%d", self.n_trials)

        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, sweep_dir / "multirun.yaml")
        launcher = self._launcher(configs)
        register_live_study(url, study)
        try:
            summary = run_trials(
                study,
                space,
                launcher,
                n_trials=self.n_trials,
                n_jobs=self.n_jobs,
                max_failure_rate=self.max_failure_rate,
                extend_trial=self._extender(),
            )
        finally:
            unregister_live_study(url, study)
            launcher.shutdown()
            write_results(study, sweep_dir, url)
        if summary.stopped_early:
            reasons = "\n".join(f"  trial #{n}: {reason}" for n, reason in summary.failures)
            raise SweepFailedError(
                f"sweep stopped: {summary.stopped_early}. The study keeps every trial; fix the "
                f"cause and run the same command to resume. Failures:\n{reasons}"
            )
        return summary

    def _launcher(self, configs: TrialConfigFactory) -> Launcher:
        if self.n_jobs == 1:
            return InProcessLauncher(configs, self.context, self.task_function)
        return ProcessPoolLauncher(
            configs,
            self.context,
            self.task_function,
            n_slots=self.n_jobs,
            threads=self.threads_per_worker,
            devices_per_trial=self.devices_per_trial,
        )

    def _extender(self) -> Any:
        if not self.custom_search_space:
            return None
        extend = get_method(self.custom_search_space)
        return lambda trial: extend(self.config, trial)


def resolve_pruner(options: Any, config: DictConfig, resource_key: str | None) -> Any:
    """The pruner options with hyperband's ``max_resource: auto`` read from ``resource_key``
    (``trainer.max_epochs``), so brackets fit the epochs a trial really runs."""
    if options is None or not str(options.get("_target_", "")).endswith("HyperbandPruner"):
        return options
    budget = OmegaConf.select(config, resource_key) if resource_key else None
    if options.get("max_resource") != "auto" or not isinstance(budget, int):
        return options
    resolved = OmegaConf.create(OmegaConf.to_container(options, resolve=True))
    resolved.max_resource = budget
    return resolved


def _group_options(space: SearchSpace, configs: TrialConfigFactory) -> list[str]:
    """``group=option`` for every option a searched config group can take."""
    options = []
    for key, dist in space.distributions.items():
        if configs.is_group(key):
            options += [f"{key}={choice}" for choice in getattr(dist, "choices", ())]
    return options
