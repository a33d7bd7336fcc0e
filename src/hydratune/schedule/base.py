"""What every checkpointed schedule does: plan a trial's run, tell the app, settle its pause.

One configuration's training is a chain of Optuna trials. Each trains from where the one
before it paused to the epoch its schedule planned (user attribute ``schedule: {kind, rung,
epochs}``) and reports its intermediate values at the epochs it trained; unless it reached the
last epoch it then pauses: its checkpoint is recorded (``checkpoint``) and it ends PRUNED with
``stopped_reason: paused ...``, which is what samplers and ``optuna.load_study`` understand of
a run stopped early. A continuation is a new trial with the same parameters (perturbed ones,
for PBT) and ``resumed_from: {trial: N, epoch: E}``. So the study shows exactly what trained,
``n_trials`` counts these runs, and everything a schedule decides is read back from the study:
a rerun, or another worker, continues the schedule where it stands.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hydratune import compat
from hydratune.attrs import (
    CHECKPOINT,
    LOST,
    PAUSED,
    RESUMED_FROM,
    RETRY_OF,
    SEGMENT,
)
from hydratune.errors import ScheduleError
from hydratune.schedule.checkpoints import CheckpointRecord
from hydratune.schedule.lineage import epochs_of, resumed_number

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Continuation:
    """A paused trial to continue: from ``source``'s checkpoint, with ``params``, to ``segment``."""

    source: FrozenTrial
    params: dict[str, Any]
    segment: dict[str, Any]


class CheckpointSchedule:
    """The shared mechanics; a schedule decides ``first_segment`` and ``next_continuation``."""

    kind = ""

    def __init__(
        self,
        conf: Any,
        study: optuna.Study,
        resource_key: str,
        max_epochs: int,
        checkpoint_dir: Path | None = None,
    ) -> None:
        self.conf, self.study = conf, study
        self.checkpoint_dir = checkpoint_dir  # the study's dir under checkpoint_root, if set
        self.resource_key, self.max_epochs = resource_key, max_epochs
        self.maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        self._intact: dict[int, bool] = {}  # checked checkpoints, by trial number
        self.held: frozenset[int] = frozenset()

    # -- what a schedule decides ------------------------------------------------------------

    def first_segment(self, trial: optuna.Trial) -> dict[str, Any]:
        """The plan of a new configuration's first run."""
        raise NotImplementedError

    def next_continuation(self, trials: Sequence[FrozenTrial]) -> Continuation | None:
        """The paused trial to continue in the slot that just freed, if any (``usable``)."""
        raise NotImplementedError

    def takes_new_configurations(self) -> bool:
        """Whether a slot with no continuation may run a new configuration from the sampler."""
        return True

    def has_room(self) -> bool:
        """Whether a new configuration may still join (``steer enqueue``'s too)."""
        return True

    def releasable(self, trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        """The trials whose checkpoints may be used up now that ``trial`` has ended."""
        number = resumed_number(trial)
        return [trials[number]] if number is not None else []

    def spent(self, source: FrozenTrial, trials: Sequence[FrozenTrial]) -> bool:
        """Whether ``source``'s checkpoint can no longer be used (a continuation of it ended)."""
        return any(
            resumed_number(t) == source.number
            and t.state.is_finished()
            and not t.user_attrs.get(LOST)
            for t in trials
        )

    # -- the loop's hooks -------------------------------------------------------------------

    def ask(self, held: frozenset[int] = frozenset()) -> optuna.Trial | None:
        """A continuation queued and taken as this slot's trial, or None (the sampler asks).
        ``held``: paused trials a person holds (``hydratune steer ... pause N``)."""
        self.held = held
        continuation = self.next_continuation(self.study.get_trials(deepcopy=False))
        if continuation is None:
            return None
        source = continuation.source
        resumed = {"trial": source.number, "epoch": epochs_of(source)}
        self.study.enqueue_trial(
            continuation.params,
            user_attrs={SEGMENT: self._planned(continuation.segment), RESUMED_FROM: resumed},
            skip_if_exists=False,
        )
        log.info(
            "%s: continuing from trial #%d's checkpoint after epoch %d (%s)",
            self.kind,
            source.number,
            resumed["epoch"],
            _describe(continuation.segment),
        )
        return compat.pop_waiting_trial(self.study, lambda t: RESUMED_FROM in t.user_attrs)

    def overrides(self, trial: optuna.Trial) -> list[str]:
        """The lines that make the app train this run: its epochs, the checkpoint it continues
        from (``load_key``) and where it saves at its pause (``save_key``)."""
        if SEGMENT not in trial.user_attrs:
            self._plan(trial)
        segment, resumed = trial.user_attrs[SEGMENT], trial.user_attrs.get(RESUMED_FROM)
        epochs = int(segment["epochs"])
        lines = [f"{self.resource_key}={epochs}"]
        if resumed:
            source = self._frozen(int(resumed["trial"]))
            record = CheckpointRecord.of_trial(source.user_attrs)
            lines.append(f"{self.conf.load_key}={_quoted(record.path if record else '')}")
        if epochs < self.max_epochs and self.conf.save_key:
            lines.append(f"{self.conf.save_key}={_quoted(self._save_setting(trial))}")
        return lines

    def settle(self, trial: optuna.Trial, output_dir: str | None, value: float) -> str | None:
        """After a run that returned ``value``: why it paused (its checkpoint recorded), or None
        when it reached the last epoch. Raises ``ScheduleError`` if the app saved no checkpoint
        or did not continue from the one it was given."""
        segment = trial.user_attrs.get(SEGMENT)
        if segment is None:
            return None
        epochs, frozen = int(segment["epochs"]), self._frozen(trial.number)
        steps = frozen.intermediate_values
        resumed = trial.user_attrs.get(RESUMED_FROM)
        if resumed and steps and min(steps) < int(resumed["epoch"]):
            raise ScheduleError(
                f"trial #{trial.number} was to continue after epoch {resumed['epoch']} but "
                f"trained epoch {min(steps)} again: the app ignores "
                f"hydra.sweeper.scheduler.load_key={self.conf.load_key} (pass "
                f"cfg.{self.conf.load_key} to trainer.fit(ckpt_path=...))"
            )
        if epochs >= self.max_epochs:
            return None
        if epochs - 1 not in steps:  # an app without the pruning callback: record the pause
            trial.report(value, epochs - 1)
        path = self._checkpoint_path(trial, output_dir)
        record = CheckpointRecord.of_file(path, epochs)
        if record is None:
            how = (
                f"the sweep passes {self.conf.save_key}=<path>"
                if self.conf.save_key
                else "ModelCheckpoint(save_last=True) in its trial dir"
            )
            raise ScheduleError(
                f"trial #{trial.number} paused after {epochs} epochs but no checkpoint is at "
                f"{path}: the app must save one there ({how}); see "
                "hydra.sweeper.scheduler.save_key and checkpoint_file"
            )
        trained = compat.checkpoint_epochs(path)
        if trained is not None and trained != epochs:
            raise ScheduleError(
                f"trial #{trial.number} paused after {epochs} epochs but its checkpoint at "
                f"{path} holds {trained}, which a continuation would start after: the app did "
                "not save at the pause (Lightning's ModelCheckpoint with a monitor rewrites "
                "last.ckpt only when the monitored value improves: give it "
                "callbacks.model_checkpoint.monitor=null, or let the sweep pass save_key)"
            )
        trial.set_user_attr(CHECKPOINT, record.as_attr())
        return f"{PAUSED} after {epochs} epochs ({_describe(segment)})"

    def told(self, trial: optuna.Trial) -> None:
        """After the run was told: delete the checkpoints nothing can use any more."""
        if self.conf.keep_used:
            return
        trials = self.study.get_trials(deepcopy=False)
        for source in self.releasable(trials[trial.number], trials):
            record = CheckpointRecord.of_trial(source.user_attrs)
            if record is not None and Path(record.path).exists() and self.spent(source, trials):
                record.remove()
                log.info("%s: trial #%d's checkpoint is used up, deleted", self.kind, source.number)

    # -- helpers ----------------------------------------------------------------------------

    def usable(self, trial: FrozenTrial) -> bool:
        """Whether ``trial`` may be continued: not held by a person, and its checkpoint still
        the file recorded (checked once a process)."""
        if trial.number in self.held:
            return False
        if trial.number not in self._intact:
            record = CheckpointRecord.of_trial(trial.user_attrs)
            intact = record is not None and record.intact()
            if not intact:
                log.warning(
                    "%s: trial #%d's checkpoint %s is missing or not the file recorded (size, "
                    "sha256): it is never loaded, the trial is not continued",
                    self.kind,
                    trial.number,
                    record.path if record else "(none recorded)",
                )
            self._intact[trial.number] = intact
        return self._intact[trial.number]

    def score(self, trial: FrozenTrial) -> float:
        """The objective at the trial's pause, larger is better."""
        value = trial.intermediate_values[epochs_of(trial) - 1]
        return value if self.maximize else -value

    def _plan(self, trial: optuna.Trial) -> None:
        """A new configuration's first run, or a lost run's retry: the same run again."""
        retry_of = trial.user_attrs.get(RETRY_OF)
        lost = self._frozen(int(retry_of)) if retry_of is not None else None
        if lost is not None and SEGMENT in lost.user_attrs:
            trial.set_user_attr(SEGMENT, lost.user_attrs[SEGMENT])
            if RESUMED_FROM in lost.user_attrs:
                trial.set_user_attr(RESUMED_FROM, lost.user_attrs[RESUMED_FROM])
            return
        trial.set_user_attr(SEGMENT, self._planned(self.first_segment(trial)))

    def _planned(self, segment: dict[str, Any]) -> dict[str, Any]:
        """A run's plan as the study records it: with the schedule's ``budget``, the epochs of a
        whole run, which a rerun must keep (``ScheduleSettings.check_budget``)."""
        return {**segment, "budget": self.max_epochs}

    def _save_setting(self, trial: optuna.Trial) -> str:
        """Where the app is told to save: relative (to its trial dir), or under the root."""
        if self.checkpoint_dir is None:
            return str(self.conf.checkpoint_file)
        name = Path(self.conf.checkpoint_file).name
        return str(self.checkpoint_dir / str(trial.number) / name)

    def _checkpoint_path(self, trial: optuna.Trial, output_dir: str | None) -> Path:
        return Path(output_dir or ".", self._save_setting(trial))

    def _frozen(self, number: int) -> FrozenTrial:
        storage = compat.storage_of(self.study)
        return storage.get_trial(compat.trial_id(compat.trial_by_number(self.study, number)))


def _describe(segment: Mapping[str, Any]) -> str:
    where = [f"{key} {segment[key]}" for key in ("bracket", "rung", "member") if key in segment]
    return f"{' '.join([str(segment.get('kind', '')), *where])}, to epoch {segment['epochs']}"


def _quoted(path: str) -> str:
    """A path as one Hydra override value, whatever characters it holds."""
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"
