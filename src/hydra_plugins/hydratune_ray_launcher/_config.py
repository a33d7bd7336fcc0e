"""The config of ``hydra/launcher=hydratune_ray`` (an ordinary module: Hydra's plugin scan skips
names that start with ``_`` and runs the others outside ``sys.modules``, where a dataclass with
postponed annotations cannot be built)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RayLauncherConf:
    """``hydra/launcher=hydratune_ray``: where Ray runs and what each trial asks of it."""

    _target_: str = "hydratune.execute.ray_launcher.RayLauncher"
    address: str | None = None  # null: start a local Ray instance; "auto" or ray://host:port
    num_cpus_per_trial: float = 1.0
    num_gpus_per_trial: float = 0.0
    # Extra ray.init() arguments, e.g. {num_cpus: 2, include_dashboard: false} for a local one.
    init: dict[str, Any] = field(default_factory=dict)
