"""hydra-optuna-sweeper 1.3 configs, read by hydratune: what changed and how to write it now.

Its deprecated ``search_space`` key (``{key: {type, low, high, step, log, choices}}``) is read
as the equivalent ``params`` (override-grammar strings), with a warning that shows them; its
``_target_`` (``...optuna_sweeper.OptunaSweeper``) left in a config that selects ``hydratune``
runs hydratune with a warning naming the line to delete. ``hydratune migrate`` rewrites the
file using the same conversions. Its ``custom_search_space`` hook is imported when the sweep is
planned.
"""

from __future__ import annotations

import decimal
import logging
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydratune import compat
from hydratune.errors import StudyConfigError
from hydratune.space import format_value

log = logging.getLogger(__name__)

TARGET = "hydra_plugins.hydratune_sweeper.hydratune_sweeper.HydratuneSweeper"


def search_space_params(search_space: Mapping[str, Any]) -> dict[str, str]:
    """The ``params`` entries equivalent to a 1.2-style ``search_space`` mapping."""
    return {
        str(key): _expression(f"hydra.sweeper.search_space.{key}", spec)
        for key, spec in search_space.items()
    }


def _expression(where: str, spec: Any) -> str:
    if not isinstance(spec, Mapping):
        raise StudyConfigError(f"{where}: expected a mapping with type: int, float or categorical")
    kind = str(spec.get("type", "")).lower().rsplit(".", 1)[-1]
    if kind == "categorical":
        choices = spec.get("choices") or []
        return "choice(" + ", ".join(format_value(c) for c in choices) + ")"
    if kind not in ("int", "float") or spec.get("low") is None or spec.get("high") is None:
        raise StudyConfigError(
            f"{where}: expected type: int, float or categorical, with low and high (or choices)"
        )
    low, high, step, log_scale = spec["low"], spec["high"], spec.get("step"), spec.get("log")
    # 1.3 reads log before step: a log scale takes no step (Optuna has no stepped log ranges)
    if step is not None and not log_scale and not (kind == "int" and step == 1):
        stop = _stop(where, kind, low, high, step)
        return f"range({format_value(low)}, {stop}, {format_value(step)})"
    inner = f"interval({format_value(low)}, {format_value(high)})"
    inner = f"int({inner})" if kind == "int" else inner
    return f"tag(log, {inner})" if log_scale else inner


def _stop(where: str, kind: str, low: Any, high: Any, step: Any) -> str:
    """The stop of the ``range`` whose values are 1.3's: ``low + k * step`` up to ``high``
    (Optuna lowers a ``high`` that is not on the step grid to the last step below it), and
    ``range`` excludes its stop, so the stop is one step past that last value."""
    first, last, size = (decimal.Decimal(str(v)) for v in (low, high, step))
    if size <= 0:
        raise StudyConfigError(f"{where}: step must be > 0, not {step}")
    stop = first + ((last - first) // size + 1) * size
    return str(int(stop)) if kind == "int" else str(stop)


def merged_params(params: Any, search_space: Any) -> Any:
    """``params``, or the deprecated ``search_space`` read as params (saying what to write).
    With both, hydra-optuna-sweeper 1.3 searches ``params`` and ignores ``search_space``, with
    a warning: so does this."""
    if not search_space:
        return params
    if params is not None:
        log.warning("%s", both_set())
        return params
    converted = search_space_params(
        OmegaConf.to_container(search_space)
        if isinstance(search_space, DictConfig)
        else search_space
    )
    shown = OmegaConf.to_yaml(OmegaConf.create({"params": converted}))
    log.warning(
        "hydra.sweeper.search_space is deprecated (as in hydra-optuna-sweeper 1.3); it is read "
        "as the equivalent hydra.sweeper.params, write this instead:\n%s",
        shown,
    )
    return converted


def both_set(where: str = "hydra.sweeper.") -> str:
    """What to do when ``params`` and ``search_space`` are both set: hydra-optuna-sweeper 1.3
    searches ``params`` and ignores ``search_space`` (a sweep does the same, with this warning;
    ``hydratune migrate`` refuses the file)."""
    return (
        f"{where}params and {where}search_space are both set: params defines the search "
        "space and search_space is ignored, as in hydra-optuna-sweeper 1.3; delete "
        "search_space (or move its keys into params)"
    )


def custom_search_space(name: str | None, config: DictConfig) -> Callable[[Any], None] | None:
    """``custom_search_space``: the function hydra-optuna-sweeper calls with the config and each
    trial after sampling, imported before anything is written; a name that does not import is
    an error naming the setting, in one line."""
    if not name:
        return None
    try:
        extend = compat.locate(name)
    except Exception as error:  # ImportError, or Hydra's ValueError for a malformed name
        reason = str(error.__cause__ or error).splitlines()[0]
        raise StudyConfigError(f"hydra.sweeper.custom_search_space={name}: {reason}") from None
    if not callable(extend):
        raise StudyConfigError(
            f"hydra.sweeper.custom_search_space={name}: a {type(extend).__name__}, not a function"
        )
    return lambda trial: extend(config, trial)
