"""``hydra/sweeper/scheduler``: how trials pause, continue and copy each other (checkpoints).

``none`` (the default) runs each trial to its end, as before; pruners keep working. ``asha``,
``hyperband``, ``pbt`` and ``pb2`` run a configuration in several trials that continue each
other from Lightning checkpoints (``hydratune/schedule``, docs/schedules.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class CheckpointConf:
    """Where the app saves and loads the checkpoint a paused trial continues from."""

    # The app's config key that gets the checkpoint to continue from (its trainer.fit(ckpt_path)).
    load_key: str = "ckpt_path"
    # The app's key told where to save at a pause (hydratune's task: ckpt_save); null: the app
    # saves checkpoint_file in its trial dir itself (ModelCheckpoint(save_last=True)).
    save_key: str | None = "ckpt_save"
    # The checkpoint's path inside the trial dir (lightning-hydra-template's last.ckpt).
    checkpoint_file: str = "checkpoints/last.ckpt"
    # null: each trial's dir; a dir every worker can read (a cluster's shared disk) otherwise:
    # <checkpoint_root>/<study>-<8 hex of its storage>/<trial>/. Needs save_key.
    checkpoint_root: str | None = None
    # Keep a checkpoint after the trial continued from it has ended (false: delete it; disk
    # then holds one checkpoint per paused trial that may still continue).
    keep_used: bool = False
    # The config key of a trial's budget in epochs; null: hydra.sweeper.resource_key.
    resource_key: str | None = None


@dataclass
class NoSchedulerConf:
    """``hydra/sweeper/scheduler=none``: every trial runs to its end (or its pruner's stop)."""

    name: str = "none"


@dataclass
class AshaConf(CheckpointConf):
    """``hydra/sweeper/scheduler=asha``: asynchronous successive halving with promotion.

    A new configuration trains to the first rung (``min_resource`` epochs) and pauses; a paused
    trial continues to the next rung (``min_resource * eta^k``) when it ranks in the top
    ``1/eta`` of its rung; the last rung is ``resource_key``'s value (trainer.max_epochs).
    """

    name: str = "asha"
    min_resource: int = 1
    eta: int = 3
    # paper: the top 1/eta of the trials paused at a rung continue (none before eta paused
    # there); eager: also, at once, a trial at or above the 1 - 1/eta quantile of its rung's
    # values when it paused (the rung's first always), as Ray Tune's ASHA lets a trial go on.
    promotion: str = "paper"


@dataclass
class HyperbandConf(AshaConf):
    """``hydra/sweeper/scheduler=hyperband``: asynchronous Hyperband, brackets of ASHA.

    Bracket ``b`` is ASHA whose first rung is ``min_resource * eta^b`` epochs: the first
    bracket stops configurations earliest, the last trains them longest before any ranking.
    New configurations are shared out as Optuna's HyperbandPruner does (more to the early
    brackets); a paused trial ranks only against its own bracket's.
    """

    name: str = "hyperband"
    # How many brackets (1: plain ASHA); null: all, floor(log_eta(max_epochs / min_resource)) + 1.
    brackets: int | None = None


@dataclass
class PbtConf(CheckpointConf):
    """``hydra/sweeper/scheduler=pbt``: population based training.

    ``population`` trials train together; every ``perturbation_interval`` epochs the bottom
    ``quantile_fraction`` continue from a top member's checkpoint (exploit) with perturbed
    hyperparameters (explore: numbers times 0.8 or 1.2 inside their range, a choice's
    neighbour, or a new draw with ``resample_probability``).
    """

    name: str = "pbt"
    population: int = 4
    perturbation_interval: int = 2
    quantile_fraction: float = 0.25
    resample_probability: float = 0.25
    # The searched keys explore perturbs (null: the float ones, such as rates and dropout;
    # []: exploit only); the others, such as the layer sizes a checkpoint's weights are shaped
    # by, are copied from the exploited member.
    explore: Any = None
    seed: int | None = None


@dataclass
class Pb2Conf(PbtConf):
    """``hydra/sweeper/scheduler=pb2``: PBT whose explore step chooses the explored numbers
    with a GP bandit (Parker-Holder et al., 2020; Ray Tune's PB2): the values with the highest
    upper confidence bound on the score gained per epoch, learned from the runs so far.
    Explored choices, and the numbers until two runs have finished, move as in ``pbt``."""

    name: str = "pb2"


SCHEDULER_OPTIONS: dict[str, Any] = {
    "none": NoSchedulerConf,
    "asha": AshaConf,
    "hyperband": HyperbandConf,
    "pbt": PbtConf,
    "pb2": Pb2Conf,
}
