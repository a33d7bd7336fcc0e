"""Checkpointed schedules: trials that pause at a rung, continue and copy each other.

``base``: how a configuration's training becomes a chain of trials continuing each other's
Lightning checkpoints (the study shows what trained); ``checkpoints``: the recorded checkpoint
(size, sha256: a torn file is never loaded); ``lineage``: which run paused, which it continued
from, the chain it is part of, ASHA's rungs and PBT's lineage (read by ``steer show``, the
report, ``serve`` and MLflow tracking too); ``asha``: promotion by rung; ``pbt``: exploit and
explore in a population; ``pb2``: PBT with its explore step by GP-UCB; ``settings``:
``hydra.sweeper.scheduler`` checked before any trial; ``rerun``: a scheduled run's saved config
as its configuration trained from scratch (best config, export, rerun). The sweep loop calls a
schedule through four hooks (ask, overrides, settle, told); the training task knows nothing of
it (it saves and loads where the overrides say).
"""

from __future__ import annotations

from hydratune.schedule.base import CheckpointSchedule, ScheduleError
from hydratune.schedule.lineage import (
    POPULATION_DONE,
    STATE_NAMES,
    epochs_of,
    is_paused,
    is_scheduled,
    lineage_root,
    population_end,
    resumed_number,
    rung_name,
    schedule_data,
    segment_of,
    state_counts,
    state_name,
    trained_elsewhere,
    value_at_end,
    waiting_to_continue,
)
from hydratune.schedule.rerun import from_scratch, scratch_overrides, values_changed
from hydratune.schedule.settings import ScheduleSettings, check_scheduler

__all__ = [
    "POPULATION_DONE",
    "STATE_NAMES",
    "CheckpointSchedule",
    "ScheduleError",
    "ScheduleSettings",
    "check_scheduler",
    "epochs_of",
    "from_scratch",
    "is_paused",
    "is_scheduled",
    "lineage_root",
    "population_end",
    "resumed_number",
    "rung_name",
    "schedule_data",
    "segment_of",
    "state_counts",
    "state_name",
    "trained_elsewhere",
    "value_at_end",
    "scratch_overrides",
    "values_changed",
    "waiting_to_continue",
]
