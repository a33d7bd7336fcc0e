"""Job configs for trials, without re-composing the whole config for every trial.

Hydra's launchers compose each job from scratch (50-140 ms). Here the config is composed once
per set of config-group choices (``model=cnn``) and cached; a trial's value overrides are
applied to a copy of that cached config, exactly as Hydra applies command-line overrides.
``tests/execute/test_trial_config.py`` checks the result equals Hydra's own
``load_sweep_config``.
"""

from __future__ import annotations

import dataclasses
import difflib
import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType, ValueType
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from hydratune import compat
from hydratune.errors import UnknownKeyError

_ABSENT = object()
# A trial's own value overrides as the search space writes them: ``key.path=<number>`` or
# ``key=<identifier>``; anything else goes through Hydra's parser.
_SIMPLE = re.compile(
    r"(?P<key>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)="
    r"(?:(?P<int>-?(?:0|[1-9]\d*))|(?P<float>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"|(?P<word>[A-Za-z_]\w*))\Z",
    re.ASCII,
)
_KEYWORDS = {"true", "false", "null", "inf", "nan"}  # Hydra reads these in any case


@dataclass(frozen=True)
class TrialJob:
    """A trial's job config as the steps that build it from its composed base config.

    Launchers ship this (the base's pickle and a few hundred bytes) and the config is built
    where the job runs: unpickling the base and setting its nodes is most of a job config's cost
    (~3-5 ms), which a sweeper with workers then no longer pays per trial, and a trial's DDP
    ranks rebuild the same config from it (``execute/relaunch.py``).
    """

    number: int  # the trial's: ``hydra.job.num`` and ``hydra.job.id``
    base: bytes  # the pickled config composed for the trial's config-group choices
    values: list[Override]  # the trial's value overrides, applied as Hydra applies them
    task: list[str]  # ``hydra.overrides.task``: every override line of the trial
    dirname: str  # ``hydra.job.override_dirname``
    env: Mapping[str, str]  # joins ``hydra.job.env_set`` (the trial's MLflow run)

    def build(self, reuse_hydra: bool = False) -> DictConfig:
        """The job config. ``reuse_hydra``: the job runs now, in a process that keeps no earlier
        job's config, so the ``hydra`` node of this process's last job from the same base is
        set for this one instead of unpickled again (``_Reused``)."""
        reused = _Reused.of(self.base) if reuse_hydra and self._user_keys_only() else None
        cfg: DictConfig = pickle.loads(self.base) if reused is None else reused.job_config()
        with read_write(cfg), open_dict(cfg):
            compat.apply_overrides(cfg, self.values)
        hydra = cfg.hydra
        with read_write(hydra), open_dict(hydra):
            compat.set_values(
                hydra,
                {
                    "overrides.task": self.task,
                    "job.override_dirname": self.dirname,
                    "job.num": self.number,
                    "job.id": self.number,
                    **({} if reused is None else reused.env_set_for(self.env)),
                },
            )
            for name, value in self.env.items():
                hydra.job.env_set[name] = value
        if reused is not None:
            OmegaConf.set_readonly(hydra, reused.readonly)
        return cfg

    def _user_keys_only(self) -> bool:
        return not any(o.key_or_group.lstrip("+~").startswith("hydra") for o in self.values)


class _Reused:
    """A base config's ``hydra`` node, reused from job to job in one process.

    A job config is mostly its ``hydra`` node (~130 nodes, ~1.5 ms a trial to unpickle, and as
    much again for the garbage collector: OmegaConf's nodes point at their parents), and a
    sweep's jobs differ in a handful of its values, which ``TrialJob.build`` sets for each.
    Only where no Hydra callback (``hydra.callbacks``) might keep a finished job's config.
    """

    _ALL: dict[bytes, _Reused | None] = {}

    def __init__(self, base: bytes) -> None:
        cfg = pickle.loads(base)
        self.position = list(cfg).index("hydra")  # among the config's keys
        self.hydra = compat.dict_child(cfg, "hydra")
        self.user = compat.pickled_without(cfg, "hydra")
        self.env_set = OmegaConf.to_container(self.hydra.job.env_set)
        self.readonly = compat.own_flag(self.hydra, "readonly")
        self.env_keys: set[str] = set()  # what the last job added to ``env_set``

    def env_set_for(self, env: Mapping[str, str]) -> dict[str, Any]:
        """The base's ``env_set`` back, where the last job added keys that ``env`` does not
        set again (setting a mapping node costs ~0.2 ms)."""
        last, self.env_keys = self.env_keys, set(env)
        return {"job.env_set": self.env_set} if last - self.env_keys else {}

    @classmethod
    def of(cls, base: bytes) -> _Reused | None:
        if base not in cls._ALL:
            if len(cls._ALL) > 64:  # many sweeps in one process
                cls._ALL.clear()
            reused = cls(base)
            cls._ALL[base] = None if reused.hydra.get("callbacks") else reused
        return cls._ALL[base]

    def job_config(self) -> DictConfig:
        cfg: DictConfig = pickle.loads(self.user)
        compat.insert_node(cfg, "hydra", self.hydra, self.position)
        return cfg


class TrialConfigFactory:
    """Build the job config of one trial from the sweep's master config and the trial's overrides.

    Each job gets ``hydra.job.num = hydra.job.id =`` its trial number, so output dirs continue
    across resumed sweeps and never collide between workers sharing a study.
    """

    def __init__(
        self,
        config_loader: ConfigLoader,
        master_config: DictConfig,
        parser: OverridesParser,
        hydra_updates: dict[str, object] | None = None,
    ) -> None:
        self._loader = config_loader
        self._master = master_config
        self._parser = parser
        self._hydra_updates = hydra_updates or {}
        self._groups = set(master_config.hydra.runtime.choices.keys())
        # per set of group choices: the composed config's pickle, the group overrides, and its
        # override_dirname settings (exclude_keys, item_sep, kv_sep)
        self._bases: dict[tuple[str, ...], tuple[bytes, list[Override], tuple[Any, ...]]] = {}
        self._is_group: dict[str, bool] = {}

    def is_group(self, key: str) -> bool:
        """Whether an override key picks a config-group option (``model``) or sets a value.

        Remembered per key: Hydra's repository looks in every config source (files on disk)
        each time, about 1 ms a trial."""
        key = key.lstrip("+~").split("@", 1)[0]
        if key not in self._is_group:
            found = key in self._groups or self._loader.repository.group_exists(key)
            self._is_group[key] = found
        return self._is_group[key]

    def parse(self, line: str) -> Override:
        """``line`` as Hydra's override parser reads it. The forms a search space writes for
        each trial are read directly (Hydra's ANTLR parser costs about 0.3 ms a line);
        ``tests/execute/test_trial_config.py`` checks both readings agree."""
        match = _SIMPLE.match(line)
        if match is None or (match["word"] or "").lower() in _KEYWORDS:
            return self._parser.parse_override(line)
        if match["int"] is not None:
            value: object = int(match["int"])
        elif match["float"] is not None:
            value = float(match["float"])
        else:
            value = match["word"]
        return Override(
            type=OverrideType.CHANGE,
            key_or_group=match["key"],
            value_type=ValueType.ELEMENT,
            _value=value,
            input_line=line,
        )

    def job(
        self, overrides: Sequence[str], job_num: int, env: Mapping[str, str] | None = None
    ) -> TrialJob:
        """The job of a trial's ``overrides`` (its sampled parameters); ``env`` joins
        ``hydra.job.env_set``, the variables set while the job runs (its MLflow run)."""
        parsed = [self.parse(line) for line in overrides]
        groups = tuple(o.input_line for o in parsed if self.is_group(o.key_or_group))
        # without the parser's config loader, which a value override never needs: shipped
        values = [
            dataclasses.replace(o, config_loader=None)
            for o in parsed
            if not self.is_group(o.key_or_group)
        ]
        base, base_overrides, (exclude_keys, item_sep, kv_sep) = self._base(groups)
        dirname = compat.overrides_dirname(
            [*base_overrides, *values], exclude_keys, item_sep, kv_sep
        )
        task = [o.input_line for o in parsed]
        return TrialJob(job_num, base, values, task, dirname, dict(env or {}))

    def make(
        self, overrides: Sequence[str], job_num: int, env: Mapping[str, str] | None = None
    ) -> DictConfig:
        """The job config of a trial's ``overrides``, built here."""
        return self.job(overrides, job_num, env).build()

    def _base(self, groups: tuple[str, ...]) -> tuple[bytes, list[Override], tuple[Any, ...]]:
        if groups not in self._bases:
            lines = list(groups)
            parsed = self._parser.parse_overrides(lines)
            cfg = self._master_as_job(parsed)
            if cfg is None:
                cfg = self._loader.load_sweep_config(self._master, lines)
            with read_write(cfg.hydra), open_dict(cfg.hydra):
                for key, value in self._hydra_updates.items():
                    OmegaConf.update(cfg, key, value, merge=False, force_add=True)
            settings = cfg.hydra.job.config.override_dirname
            naming = (list(settings.exclude_keys), settings.item_sep, settings.kv_sep)
            self._bases[groups] = (pickle.dumps(cfg), parsed, naming)
        return self._bases[groups]

    def _master_as_job(self, groups: list[Override]) -> DictConfig | None:
        """The job config Hydra would compose for the ``groups`` choices, as a copy of the
        sweep's master config, when that is what it is: the same group choices as the command
        line's, every one given, and each other command-line override a sweep (not applied to
        the master) or a plain ``key=value`` (applied to the master, and again to every trial,
        which changes nothing). Composing costs 100-300 ms, a third of a short sweep's start;
        ``tests/execute/test_trial_config.py`` checks both readings agree. None: compose."""
        master = self._master
        choices = master.hydra.runtime.choices
        if any(OmegaConf.is_missing(choices, key) for key in choices):
            return None  # a choice the command line must give: composing says so
        given = set()
        for override in map(self.parse, master.hydra.overrides.task):
            if self.is_group(override.key_or_group):
                given.add(override.input_line)
            elif override.type != OverrideType.CHANGE and not override.is_sweep_override():
                return None  # `+key`, `~key`, `++key`: a second application is not the first
        if given != {o.input_line for o in groups}:
            return None
        cfg: DictConfig = pickle.loads(pickle.dumps(master))
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            settings = cfg.hydra.job.config.override_dirname
            cfg.hydra.overrides.task = [o.input_line for o in groups]
            cfg.hydra.job.override_dirname = compat.overrides_dirname(
                groups, list(settings.exclude_keys), settings.item_sep, settings.kv_sep
            )
        return cfg

    def check_keys(
        self,
        keys: Iterable[str],
        group_options: Iterable[str] = (),
        fixed_groups: Sequence[str] = (),
        with_default: bool = True,
    ) -> None:
        """Fail before any trial if a value key exists in none of the configs a sweep composes.

        The configs: the one with the sweep's ``fixed_groups`` choices (``sweep=x``), and one
        per searched group option in ``group_options`` (``model=cnn``);
        ``with_default=False`` checks against the group options' configs alone.
        """
        configs = self._composed(group_options, fixed_groups, with_default)
        for key in keys:
            bare = key.lstrip("+~")
            if key.startswith("+") or self.is_group(bare) or bare.startswith("hydra."):
                continue
            if any(OmegaConf.select(c, bare, default=_ABSENT) is not _ABSENT for c in configs):
                continue
            known = sorted({k for c in configs for k in _dotted_keys(c)})
            close = difflib.get_close_matches(bare, known, n=3)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise UnknownKeyError(
                f"hydra.sweeper.params: '{bare}' is not a key of the composed config.{hint} "
                f"To add a new key, write '+{bare}'."
            )

    def _composed(
        self, group_options: Iterable[str], fixed_groups: Sequence[str], with_default: bool = True
    ) -> list[DictConfig]:
        fixed = tuple(fixed_groups)
        configs = [pickle.loads(self._base(fixed)[0])] if with_default else []
        return configs + [pickle.loads(self._base((*fixed, g))[0]) for g in group_options]

    def owners(
        self, key: str, group_options: Iterable[str] = (), fixed_groups: Sequence[str] = ()
    ) -> list[type]:
        """The classes (``_target_``) that would receive ``key`` (``model.layers``: the model's
        class) in the configs a sweep composes, for the checks only the class can answer."""
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        classes = []
        for cfg in self._composed(group_options, fixed_groups):
            target = OmegaConf.select(cfg, f"{parent}._target_" if parent else "_target_")
            if (
                isinstance(target, str)
                and OmegaConf.select(cfg, key, default=_ABSENT) is not _ABSENT
            ):
                try:
                    classes.append(get_class(target))
                except Exception:  # the trial says why; this check needs the class alone
                    continue
        return classes


def _dotted_keys(cfg: DictConfig, prefix: str = "") -> Iterable[str]:
    for key in cfg:
        if not prefix and key == "hydra":
            continue
        path = f"{prefix}{key}"
        yield path
        node = compat.dict_child(cfg, key)
        if node is not None:
            yield from _dotted_keys(node, f"{path}.")
