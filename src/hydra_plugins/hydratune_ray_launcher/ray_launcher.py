"""``hydra/launcher=hydratune_ray``: the config of hydratune's Ray launcher, registered where
Hydra finds plugins (it imports this module in every app run, so it imports nothing heavy).

The launcher itself is ``hydratune.execute.ray_launcher.RayLauncher``, driven by the hydratune
sweeper; the name is ``hydratune_ray`` because hydra-ray-launcher registers ``ray``.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from hydra_plugins.hydratune_ray_launcher._config import RayLauncherConf

ConfigStore.instance().store(
    group="hydra/launcher", name="hydratune_ray", node=RayLauncherConf, provider="hydratune"
)
