"""The objective a training run returns: which logged metrics, which direction, best or last epoch.

:class:`ObjectiveTracker` is a Lightning callback that records the objective's metrics at the end of
every validation epoch (not the sanity check). It checks the metric names at the end of the
*first* validation epoch and raises :class:`MetricNotLoggedError` right there, so a typo in
``objective.metric`` costs one epoch, not a whole run (or a whole sweep).

Example::

    spec = ObjectiveSpec.from_config({"metric": "val/acc", "direction": "maximize", "mode": "best"})
    tracker = ObjectiveTracker(spec)
    trainer = lightning.Trainer(callbacks=[tracker], max_epochs=3)
    trainer.fit(model, datamodule=datamodule)
    tracker.result()  # 0.96..., the best epoch's val/acc
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import CompactHydraException

from hydratune.errors import ConfigError, FatalTrialError

DIRECTIONS = ("minimize", "maximize")
MODES = ("best", "last")


class MetricNotLoggedError(FatalTrialError, KeyError, CompactHydraException):
    """An objective metric was not among the metrics logged in the first validation epoch.

    Fatal to a sweep: every trial would fail the same way, so the first one stops it. A
    ``CompactHydraException``: a single run (``hydratune objective.metric=x``) says it in one
    line, as a sweep does, not inside a traceback.
    """

    def __init__(self, missing: Sequence[str], logged: Sequence[str]) -> None:
        self.missing = list(missing)
        self.logged = sorted(logged)
        names = ", ".join(map(repr, self.missing))
        verb = "was" if len(self.missing) == 1 else "were"
        super().__init__(
            f"objective.metric {names} {verb} not logged by the end of the first validation epoch "
            "(metrics logged later, such as training-epoch means, cannot be objectives); "
            f"logged metrics: {', '.join(self.logged) or '(none)'}"
        )

    def __str__(self) -> str:  # KeyError's str() would wrap the message in quotes
        return str(self.args[0])

    def __reduce__(self) -> tuple:  # picklable, so it crosses from worker processes intact
        return (type(self), (self.missing, self.logged))


@dataclass(frozen=True)
class ObjectiveSpec:
    """The validated ``objective`` config node: metric names, one direction each, and the mode.

    ``multi`` remembers whether ``metric`` was given as a list, so the result has the same form:
    a float for a string, a list of floats for a list.
    """

    metrics: tuple[str, ...]
    directions: tuple[str, ...]
    mode: str = "best"
    multi: bool = False

    @classmethod
    def from_config(cls, objective: Mapping[str, Any]) -> ObjectiveSpec:
        metric, direction = objective.get("metric"), objective.get("direction", "maximize")
        mode = objective.get("mode", "best")
        metrics, directions = _as_tuple(metric), _as_tuple(direction)
        if not metrics or not all(isinstance(m, str) and m for m in metrics):
            raise ConfigError(
                f"objective.metric must be a metric name or a list of them, got {_plain(metric)!r}"
            )
        multi = not isinstance(metric, str)
        if (
            directions is None
            or len(directions) != len(metrics)
            or multi == isinstance(direction, str)
        ):
            raise ConfigError(
                f"objective.direction must give one direction per metric in the same form: "
                f"metric={_plain(metric)!r} but direction={_plain(direction)!r}"
            )
        for d in directions:
            if d not in DIRECTIONS:
                raise ConfigError(f"objective.direction must be one of {DIRECTIONS}, got {d!r}")
        if mode not in MODES:
            raise ConfigError(f"objective.mode must be one of {MODES}, got {mode!r}")
        return cls(metrics, directions, mode, multi)


class ObjectiveTracker(L.Callback):
    """Records the objective's metrics at each validation end; :meth:`result` reads them out.

    With several metrics, ``mode="best"`` picks the epoch that is best in the *first* metric and
    returns every metric from that epoch: the result is one real model state (the one a
    checkpoint monitoring the first metric keeps), not a mix of epochs. NaN never counts as best.
    """

    def __init__(self, spec: ObjectiveSpec) -> None:
        self.spec = spec
        self.epochs: list[int] = []
        self.values: list[tuple[float, ...]] = []
        # Under a spawning strategy (ddp_spawn) training runs in child processes, each with a
        # pickled copy of this callback; rank 0's copy writes its record here for this one.
        self._spill: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        if self._spill is None:  # pickled for a child process: give it a file to write to
            fd, self._spill = tempfile.mkstemp(prefix="hydratune-objective-", suffix=".json")
            os.close(fd)
        return dict(self.__dict__)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        logged = trainer.callback_metrics
        missing = [m for m in self.spec.metrics if m not in logged]
        if missing:
            raise MetricNotLoggedError(missing, list(logged))
        self.epochs.append(trainer.current_epoch)
        self.values.append(tuple(float(logged[m]) for m in self.spec.metrics))
        if self._spill is not None and trainer.is_global_zero:
            Path(self._spill).write_text(json.dumps([self.epochs, self.values]))

    def state_dict(self) -> dict[str, Any]:
        """The epochs recorded so far, kept in a checkpoint: a run continued from it (a
        schedule's pause) returns its best over every epoch, as the uninterrupted run would."""
        return {"epochs": list(self.epochs), "values": [list(v) for v in self.values]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs = list(state_dict["epochs"])
        self.values = [tuple(v) for v in state_dict["values"]]

    def collect(self) -> None:
        """Take rank 0's record from a spawned run, once ``fit`` has returned here, and remove
        its file (nothing to do for a run in this process)."""
        if self._spill is None or not os.path.exists(self._spill):
            return
        text = Path(self._spill).read_text()
        os.unlink(self._spill)
        self._spill = None
        if text and not self.values:
            epochs, values = json.loads(text)
            self.epochs, self.values = list(epochs), [tuple(v) for v in values]

    @property
    def selected_index(self) -> int:
        """Index into ``epochs``/``values`` of the epoch that :meth:`result` reports."""
        self.collect()
        if not self.values:
            raise RuntimeError(
                "no validation epoch finished, so there is no objective value; check that the "
                "datamodule has a val_dataloader and trainer.limit_val_batches is not 0"
            )
        last = len(self.values) - 1
        if self.spec.mode == "last":
            return last
        sign = 1.0 if self.spec.directions[0] == "minimize" else -1.0
        finite = [i for i, v in enumerate(self.values) if not math.isnan(v[0])]
        # min() keeps the first of equal values: the earliest epoch that reached the best value.
        return min(finite, key=lambda i: sign * self.values[i][0]) if finite else last

    def result(self) -> float | list[float]:
        """The objective as plain float(s): a float for one metric name, a list for a list."""
        index = self.selected_index  # first: it reads a spawned run's record
        values = list(self.values[index])
        return values if self.spec.multi else values[0]

    def summary(self) -> str:
        """One line for the log, e.g. ``val/acc = 0.9611 (best epoch 7)``."""
        i = self.selected_index
        values = zip(self.spec.metrics, self.values[i], strict=True)
        pairs = ", ".join(f"{metric} = {value:.4f}" for metric, value in values)
        by = f" by {self.spec.metrics[0]}" if self.spec.multi and self.spec.mode == "best" else ""
        return f"{pairs} ({self.spec.mode} epoch {self.epochs[i]}{by})"


def _as_tuple(value: Any) -> tuple[Any, ...] | None:
    """A name as a 1-tuple, a list (or ListConfig) as a tuple, anything else as None."""
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, Sequence) else None


def _plain(value: Any) -> Any:
    """A ListConfig as a list, for error messages that read like the YAML the user wrote."""
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
