"""Search spaces owned by config-group options: ``conf/search_space/<group>/<option>.yaml``.

The file lists that option's own parameters, with keys relative to the group
(``channels: choice(8, 16, 32)`` in ``search_space/model/cnn.yaml`` searches
``model.channels``). A sweep that searches the group (``model: choice(mlp, cnn)``), or fixes it
in ``hydra.sweeper.params`` (``model: cnn``; a group set on the command line does not count),
searches each named option's space; when the group is itself searched, only in the trials that
choose that option. A sweep's own entry for the same key overrides the option's expression (and
takes its condition); ``hydra.sweeper.when`` blocks extend it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution

from hydratune.errors import UnknownKeyError
from hydratune.space.grammar import SearchSpaceError, parse_entry
from hydratune.space.search_space import Condition, SearchSpace

if TYPE_CHECKING:  # the config side of a sweep; the space needs only its questions answered
    from hydratune.execute import TrialConfigFactory

SPACES = "search_space"


def add_group_spaces(
    space: SearchSpace, configs: TrialConfigFactory, repository: Any, parser: OverridesParser
) -> None:
    """Add the spaces of the group options a sweep names; check their keys exist.

    A key in several options' spaces (``dropout`` for mlp and cnn) is one parameter, active
    for any of them; their expressions must then agree.
    """
    own = {k: d for k, d in space.distributions.items() if k not in space.conditions}
    found: dict[str, _Entry] = {}
    for group, option, searched in list(_named_options(space, configs, parser)):
        loaded = repository.load_config(f"{SPACES}/{group}/{option}")
        if loaded is None:
            continue
        where = f"{SPACES}/{group}/{option}.yaml"
        package = group.replace("/", ".")
        entries = {
            f"{package}.{key}": expr
            for key, expr in (OmegaConf.to_container(loaded.config) or {}).items()
        }
        try:
            configs.check_keys(list(entries), [f"{group}={option}"], with_default=False)
        except UnknownKeyError as error:
            raise SearchSpaceError(f"{where} (for {group}={option}): {error}") from None
        for key, expr in entries.items():
            dist = own.get(key) or parse_entry(key, expr, parser, where)
            entry = found.setdefault(key, _Entry(dist, group, [], searched, where))
            if entry.dist != dist:
                raise SearchSpaceError(
                    f"{where}: {key} is {dist} here but {entry.dist} in {entry.where}; "
                    "options of one group must agree on a shared key (or set it in the sweep)"
                )
            entry.options.append(option)
    for key, entry in found.items():
        space.distributions.pop(key, None)
        condition = Condition(entry.group, tuple(entry.options)) if entry.searched else None
        space.add({key: entry.dist}, parser, entry.where, condition)
    space.validate()


@dataclass
class _Entry:
    dist: BaseDistribution
    group: str
    options: list[Any]
    searched: bool
    where: str


def _named_options(
    space: SearchSpace, configs: TrialConfigFactory, parser: OverridesParser
) -> Iterator[tuple[str, Any, bool]]:
    """(group, option, whether the sweep searches the group) for each option a sweep names."""
    for key, dist in space.distributions.items():
        if configs.is_group(key) and key not in space.pairs:
            for option in getattr(dist, "choices", ()):
                yield key, option, True
    for line in space.fixed:
        override = parser.parse_override(line)
        key = override.key_or_group
        if key in space.from_params and not override.is_delete() and configs.is_group(key):
            yield key, override.value(), False
