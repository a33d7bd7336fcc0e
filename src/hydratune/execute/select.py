"""Which launcher runs a sweep's trials: the one the user selected, driven by hydratune.

hydratune schedules trials itself (one per free slot, no batch barrier), so it cannot hand a
batch to a Hydra launcher plugin; it drives each supported plugin's config with its own
launcher instead. A launcher it cannot drive is refused before any trial, by name, never
replaced by a silent local run (which, on a cluster's login node, would train there).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydratune import compat
from hydratune.attrs import JOB_ID
from hydratune.errors import StudyConfigError
from hydratune.execute.job import JobResult
from hydratune.execute.launcher import Launcher
from hydratune.execute.trial_config import TrialConfigFactory
from hydratune.storage import is_in_memory

BASIC = compat.BASIC_LAUNCHER_TARGET
JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
RAY = "hydratune.execute.ray_launcher.RayLauncher"
SUBMITIT_SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
SUBMITIT_LOCAL = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
# hydra/launcher=<name> -> the target it selects, as the refusal lists them
SUPPORTED = {
    "basic": BASIC,
    "joblib": JOBLIB,
    "hydratune_ray": RAY,
    "submitit_slurm": SUBMITIT_SLURM,
    "submitit_local": SUBMITIT_LOCAL,
}
# hydra-submitit-launcher's default array_parallelism: not a choice the user made
_SUBMITIT_DEFAULT_PARALLELISM = 256


@dataclass
class LaunchPlan:
    """The launcher a sweep will use and how many trials it runs at once."""

    target: str
    slots: int
    settings: DictConfig | None

    @property
    def kind(self) -> str:
        return next(name for name, target in SUPPORTED.items() if target == self.target)

    @property
    def shares_storage(self) -> bool:
        """Whether trials run outside the sweeper's process (so the storage must be shared)."""
        return self.slots > 1 or self.target not in (BASIC, JOBLIB)

    def check_storage(self, url: str) -> None:
        """Refuse an in-memory study that worker processes would each have their own of."""
        if self.shares_storage and is_in_memory(url):
            raise StudyConfigError(
                f"hydra.sweeper.storage: '{url}' cannot be shared with worker processes "
                f"({self.slots} slot(s), hydra/launcher={self.kind}); "
                "leave storage null (a journal file under outputs/) or give a file path or "
                "database URL"
            )

    def build(
        self,
        configs: TrialConfigFactory,
        context: HydraContext,
        task: TaskFunction,
        threads: int | None = None,
        devices_per_trial: int = 0,
    ) -> Launcher:
        if self.target == RAY:
            from hydratune.execute.ray_launcher import RayLauncher

            return RayLauncher(configs, context, task, self.settings)
        if self.target in (SUBMITIT_SLURM, SUBMITIT_LOCAL):
            from hydratune.execute.submitit_launcher import SubmititLauncher, cluster_of

            assert self.settings is not None
            return SubmititLauncher(configs, context, task, self.settings, cluster_of(self.target))
        from hydratune.execute.local import InProcessLauncher, ProcessPoolLauncher

        if self.slots == 1:
            return InProcessLauncher(configs, context, task)
        return ProcessPoolLauncher(
            configs,
            context,
            task,
            n_slots=self.slots,
            threads=threads,
            devices_per_trial=devices_per_trial,
        )


def settle_orphaned_job(number: int, recorded: Mapping[str, Any]) -> JobResult | None:
    """``Launcher.settle_orphan`` of the launcher whose job trial ``number`` records: only
    submitit's jobs (the ones with a job id) outlive their sweep."""
    if JOB_ID not in recorded:
        return None
    from hydratune.execute.submitit_launcher import SubmititLauncher

    return SubmititLauncher.settle_orphan(number, recorded)


def plan_launch(config: DictConfig, n_jobs: int) -> LaunchPlan:
    """The launcher ``hydra.launcher`` selects and the sweep's slots, or a ``StudyConfigError``
    naming a launcher hydratune does not drive and the ones it does.

    Slots: ``n_jobs``; with Hydra's joblib launcher its ``n_jobs``; with submitit, when
    ``n_jobs`` is left at 1, the launcher's ``array_parallelism`` if set.
    """
    settings = config.hydra.get("launcher")
    target = str(settings.get("_target_", BASIC)) if settings else BASIC
    if target not in SUPPORTED.values():
        choice = config.hydra.runtime.choices.get("hydra/launcher")
        named = f"hydra/launcher={choice} ({target})" if choice else target
        hint = (
            " For Ray, select hydra/launcher=hydratune_ray (hydra-ray-launcher's batches "
            "cannot be driven trial by trial)."
            if "ray" in target.lower()
            else ""
        )
        raise StudyConfigError(
            f"{named} is not a launcher hydratune can drive: it schedules each trial itself "
            f"and would not run them where you expect. Select one of "
            f"{', '.join(f'hydra/launcher={n}' for n in SUPPORTED)}.{hint}"
        )
    slots = max(1, n_jobs)
    if target == JOBLIB:
        joblib_jobs = int(settings.get("n_jobs") or -1)
        slots = joblib_jobs if joblib_jobs > 0 else os.cpu_count() or 1
    elif target in (SUBMITIT_SLURM, SUBMITIT_LOCAL) and n_jobs == 1:
        parallelism = int(settings.get("array_parallelism") or 1)
        if parallelism != _SUBMITIT_DEFAULT_PARALLELISM:
            slots = max(1, parallelism)
    return LaunchPlan(target, slots, settings)
