"""Every private API of Optuna, Hydra, OmegaConf and Lightning hydratune relies on, in one place.

Each is wrapped here and nowhere else, and ``tests/test_compat.py`` calls each one, so an
upgrade that removes or changes one fails that test with the API's name instead of breaking a
sweep in the middle. The list is also in docs/development.md ("Private APIs relied on").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: the Hydra plugin module imports this one, not Optuna
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial


def pop_waiting_trial(
    study: optuna.Study, which: Callable[[FrozenTrial], bool] | None = None
) -> optuna.Trial | None:
    """The next waiting (queued) trial, taken atomically, or None; never a fresh trial.

    ``Study._pop_waiting_trial_id``: the atomic pop ``study.ask`` itself uses, which keeps
    workers on a grid from taking the same point. With ``which``, only a waiting trial it
    accepts is taken (the points ``hydratune steer enqueue`` queued, ahead of the grid), the
    same way (``Study._storage``, ``Study._study_id``, ``FrozenTrial._trial_id``).
    """
    from optuna import Trial
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    if which is None:
        trial_id = study._pop_waiting_trial_id()
        return None if trial_id is None else Trial(study, trial_id)
    waiting = study._storage.get_all_trials(
        study._study_id, deepcopy=False, states=(TrialState.WAITING,)
    )
    for trial in waiting:
        if not which(trial):
            continue
        try:  # False, or an error, when another worker took or finished it first
            if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                return Trial(study, trial._trial_id)
        except UpdateFinishedTrialError:
            continue
    return None


def trial_by_number(study: optuna.Study, number: int) -> optuna.Trial:
    """A live ``Trial`` handle for trial ``number`` of ``study`` (in any process).

    ``Study._storage`` and ``Study._study_id``: Optuna has no public way to rebuild a trial
    handle that reports and prunes from another process.
    """
    from optuna import Trial

    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return Trial(study, trial_id)


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage behind ``study`` (``Study._storage``), to update a trial by its id."""
    return study._storage


def cached_storage(storage: BaseStorage) -> BaseStorage:
    """``storage`` behind Optuna's trial cache, as ``create_study``/``load_study`` put an RDB
    storage (``optuna.storages.get_storage``, "only for internal usage"; ``_CachedStorage``).

    The sweep reads a study's trials before opening it (the space-change check); opened on the
    same cached storage, the study then fetches only trials new or unfinished since, instead of
    every trial again (seconds for a study of thousands on PostgreSQL). Other storages are
    returned as they are.
    """
    from optuna.storages import get_storage

    return get_storage(storage)


def study_user_attrs(study: optuna.Study) -> dict[str, Any]:
    """The study's user attributes as the storage holds them (``Study._storage``,
    ``Study._study_id``), without ``Study.user_attrs``' deep copy: the sweep loop reads them
    before every trial (steering). Read-only: never modify the dict returned."""
    return study._storage.get_study_user_attrs(study._study_id)


def rdb_user_attr_count(study: optuna.Study, prefix: str) -> int | None:
    """How many study user attributes start with ``prefix``, by one SQL ``count`` on Optuna's
    ``study_user_attributes`` table; None unless the study is in an RDB storage.

    ``optuna.storages._CachedStorage._backend`` and ``RDBStorage.engine``: Optuna's RDB reads
    of user attributes build an ORM object per row (milliseconds per read on PostgreSQL); the
    sweep loop asks this before every trial whether steering changed.
    """
    from optuna.storages import RDBStorage

    storage = getattr(study._storage, "_backend", study._storage)
    if not isinstance(storage, RDBStorage):
        return None
    from sqlalchemy import text  # only for RDB storages: importing it takes a while

    query = text(
        "SELECT count(*) FROM study_user_attributes WHERE study_id = :study AND key LIKE :prefix"
    )
    with storage.engine.connect() as connection:
        return int(
            connection.execute(query, {"study": study._study_id, "prefix": prefix + "%"}).scalar()
        )


def set_user_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """``trial.set_user_attr`` for each of ``attrs``, in one write: on a journal one append (one
    file lock), its records still one key each as Optuna's replay requires
    (``JournalStorage._backend``, ``_replay_result``, ``_thread_lock``, ``_sync_with_backend``);
    on a database one transaction (``_CachedStorage._backend``, ``_create_scoped_session``,
    ``RDBStorage._set_trial_attr_without_commit``). Other storages: one call per key."""
    from optuna.storages import RDBStorage
    from optuna.storages.journal import JournalStorage
    from optuna.storages.journal._storage import JournalOperation

    storage = trial.storage
    backend = getattr(storage, "_backend", storage)
    if isinstance(backend, RDBStorage) and len(attrs) > 1:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(backend.scoped_session, True) as session:
            for key, value in attrs.items():
                backend._set_trial_attr_without_commit(
                    session, models.TrialUserAttributeModel, trial._trial_id, key, value
                )
        trial._cached_frozen_trial.user_attrs.update(attrs)
        return
    if not isinstance(storage, JournalStorage) or len(attrs) < 2:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return
    worker = storage._replay_result.worker_id
    logs = [
        {
            "op_code": JournalOperation.SET_TRIAL_USER_ATTR,
            "worker_id": worker,
            "trial_id": trial._trial_id,
            "user_attr": {key: value},
        }
        for key, value in attrs.items()
    ]
    with storage._thread_lock:
        storage._backend.append_logs(logs)
        storage._sync_with_backend()
    trial._cached_frozen_trial.user_attrs.update(attrs)


def trial_id(trial: FrozenTrial | optuna.Trial) -> int:
    """The storage id of a trial (``FrozenTrial._trial_id``, ``Trial._trial_id``), to read or
    update it in the storage."""
    return trial._trial_id


def grid_of(sampler: optuna.samplers.GridSampler) -> dict[str, list[Any]]:
    """The grid a ``GridSampler`` was built with (``GridSampler._search_space``)."""
    return dict(sampler._search_space)


def distribution_contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``dist`` can produce ``value`` (``BaseDistribution._contains``: bounds, step
    grid, choices), without asking a trial."""
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def hydra_plugin_alias(cls: type, registered_as: str) -> type:
    """``cls`` renamed so that Hydra's plugin registry finds it as ``registered_as`` (a dotted
    class path under ``hydra_plugins``) while ``instantiate`` still imports the real class.

    Hydra registers a plugin as ``f"{__module__}.{__name__}"`` (``Plugins._register``) and
    ``instantiate(..., _target_=cls)`` imports ``f"{__module__}.{__qualname__}"``
    (``_convert_target_to_string``); the class must stay an attribute of its own module.
    """
    real = f"{cls.__module__}.{cls.__qualname__}"
    cls.__module__ = "hydra_plugins"
    cls.__name__ = registered_as.removeprefix("hydra_plugins.")
    cls.__qualname__ = real.removeprefix("hydra_plugins.")
    return cls


def hydra_choice(*args: Any) -> Any:
    """Hydra's grammar function ``choice`` (``hydra._internal.grammar.grammar_functions``), to
    register a ``choice`` that admits ``null`` among its options."""
    from hydra._internal.grammar.grammar_functions import choice

    return choice(*args)


hydra_choice.__annotations__ = {"args": Any, "return": Any}  # Hydra type-checks by these


def admit_null_in_hydra_choice() -> None:
    """Every override parser Hydra creates takes ``choice(a, b, null)``, as hydratune's own does.

    Hydra parses the command line before any sweeper sees it (``ConfigLoaderImpl`` calls
    ``OverridesParser.create()``, which builds its functions with
    ``overrides_parser.create_functions``), and its ``choice`` is typed to refuse ``None``. So
    the plugin module wraps that module function once: the same grammar in YAML and on the
    command line. It only admits what was refused; Hydra's basic sweeper then runs ``key=null``.
    """
    from hydra.core.override_parser import overrides_parser

    original = overrides_parser.create_functions
    if getattr(original, "admits_null_choice", False):
        return

    def create_functions() -> Any:
        functions = original()
        del functions.definitions["choice"]
        functions.register(name="choice", func=hydra_choice)
        return functions

    create_functions.admits_null_choice = True  # type: ignore[attr-defined]
    overrides_parser.create_functions = create_functions


def apply_overrides(cfg: Any, overrides: list[Any]) -> None:
    """Apply parsed value overrides to ``cfg`` exactly as Hydra applies command-line ones
    (``ConfigLoaderImpl._apply_overrides_to_config``)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(overrides, cfg)


def overrides_dirname(
    overrides: list[Any], exclude_keys: list[str], item_sep: str, kv_sep: str
) -> str:
    """Hydra's ``hydra.job.override_dirname`` (``hydra._internal.config_loader_impl``)."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    return get_overrides_dirname(
        overrides=overrides, exclude_keys=exclude_keys, item_sep=item_sep, kv_sep=kv_sep
    )


def job_error(ret: Any) -> BaseException:
    """The exception of a failed Hydra ``JobReturn`` without re-raising it
    (``JobReturn._return_value``; the public ``return_value`` raises it)."""
    return ret._return_value


def flush_loggers() -> None:
    """Flush every logging handler, as Hydra's ``run_job`` does before ``on_job_end`` (Hydra's
    private ``hydra.core.utils._flush_loggers``: logging has no public way to reach them all),
    so a job's log file is complete when its callbacks read it."""
    from hydra.core.utils import _flush_loggers

    _flush_loggers()


def dict_child(cfg: Any, key: str) -> Any:
    """The child node ``key`` of ``cfg`` if it is a set (not missing, not None) DictConfig,
    without resolving interpolations (OmegaConf's ``_get_node``, ``_is_missing``, ``_is_none``)."""
    from omegaconf import DictConfig

    node = cfg._get_node(key)
    if isinstance(node, DictConfig) and not node._is_missing() and not node._is_none():
        return node
    return None


def plain_container(node: Any) -> Any:
    """``OmegaConf.to_container(node, resolve=False, enum_to_str=True)`` from the nodes'
    ``_content`` and ``_val``: ~20x faster than OmegaConf's validating accessors (~4 ms for a
    job's ``hydra`` node, every trial)."""
    from enum import Enum

    from omegaconf import DictConfig, ListConfig

    def plain(node: Any) -> Any:
        if isinstance(node, DictConfig):
            content = node.__dict__["_content"]
            if content is None or isinstance(content, str):  # None, "???" or an interpolation
                return content
            return {
                (key.name if isinstance(key, Enum) else key): plain(child)
                for key, child in content.items()
            }
        if isinstance(node, ListConfig):
            content = node.__dict__["_content"]
            if content is None or isinstance(content, str):
                return content
            return [plain(child) for child in content]
        value = node._val
        return value.name if isinstance(value, Enum) else value

    return plain(node)


# OmegaConf parses each interpolation with ANTLR whenever it resolves one (~1 ms). ``${a.b}`` of
# a plain value is read here from ``_content``/``_val``; any other form is left to OmegaConf.
_PLAIN_INTERPOLATION = re.compile(r"\$\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}")


def plain_interpolated(config: Any, key: str) -> str | None:
    """``str(OmegaConf.select(config, key))``, or None where OmegaConf must resolve it."""
    try:
        return str(_resolve_plain(config, _plain_value(config, key)))
    except LookupError:
        return None


def plain_resolved_container(config: Any, node: Any) -> Any:
    """``OmegaConf.to_container(node, resolve=True)``, or None where OmegaConf must resolve."""

    def resolved(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: resolved(child) for key, child in value.items()}
        if isinstance(value, list):
            return [resolved(child) for child in value]
        return _resolve_plain(config, value)

    try:
        return resolved(plain_container(node))
    except LookupError:
        return None


def _plain_value(config: Any, dotted: str) -> Any:
    """The raw value at ``dotted``: a str, number, bool or None, else LookupError."""
    from omegaconf import DictConfig

    node = config
    for part in dotted.split("."):
        content = node.__dict__["_content"] if isinstance(node, DictConfig) else None
        if not isinstance(content, dict) or part not in content:
            raise LookupError(dotted)
        node = content[part]
    value = getattr(node, "_val", node)
    if type(value) not in (str, int, float, bool, type(None)) or value == "???":
        raise LookupError(dotted)
    return value


def _resolve_plain(config: Any, value: Any) -> Any:
    """``value`` resolved: a sole ``${a.b}`` is the value it names, else ``str``s in the text."""
    if not isinstance(value, str) or "${" not in value:
        return value
    if "\\" in value or value.count("${") != len(_PLAIN_INTERPOLATION.findall(value)):
        raise LookupError(value)

    def target(dotted: str) -> Any:
        found = _plain_value(config, dotted)
        if isinstance(found, str) and "${" in found:
            raise LookupError(dotted)  # an interpolation in turn
        return found

    sole = _PLAIN_INTERPOLATION.fullmatch(value)
    if sole:
        return target(sole[1])
    return _PLAIN_INTERPOLATION.sub(lambda match: str(target(match[1])), value)


def configure_logging(conf: dict[str, Any]) -> None:
    """Hydra's ``configure_log`` on a resolved config (recent 1.3: checks handler targets)."""
    try:
        from hydra._internal.logging_config import configure_logging as configure
    except ImportError:
        from logging.config import dictConfig as configure
    configure(conf)


def copy_without(cfg: Any, key: str) -> Any:
    """A copy of the DictConfig ``cfg`` (flags kept) without its child ``key``, which is never
    copied: ``cfg`` is pickled with its private ``_content`` (the dict of child nodes) swapped
    for one without ``key`` for that moment. Hydra's job runner deep-copies the job config for
    the task and then deletes ``hydra``, which is most of the copy (about 2 ms a trial)."""
    import pickle

    content = cfg.__dict__["_content"]
    cfg.__dict__["_content"] = {k: v for k, v in content.items() if k != key}
    try:
        data = pickle.dumps(cfg)
    finally:
        cfg.__dict__["_content"] = content
    return pickle.loads(data)


def hydra_node_view(config: Any) -> Any:
    """A config whose only key is ``config``'s own ``hydra`` node, not copied and still
    parented to ``config`` so interpolations from ``hydra`` into user keys resolve
    (OmegaConf's ``_get_node``, ``_set_parent`` and the ``no_deepcopy_set_nodes`` flag)."""
    from omegaconf import OmegaConf, flag_override

    node = config._get_node("hydra")
    view = OmegaConf.create()
    with flag_override(view, "no_deepcopy_set_nodes", True):
        view.hydra = node
    node._set_parent(config)
    return view


def _omegaconf_str_representer() -> Any:
    from omegaconf._utils import get_omega_conf_dumper

    return get_omega_conf_dumper().str_representer


# OmegaConf's YAML representer for strings (``omegaconf._utils.get_omega_conf_dumper``): quotes
# strings that would read back as numbers or bools, so hydratune's libyaml dump of
# ``.hydra/*.yaml`` matches OmegaConf's own.
omegaconf_str_representer = _omegaconf_str_representer()


# The target of Hydra's default launcher (``hydra/launcher: basic``), which lives in
# ``hydra._internal``: the launcher a sweep gets when the user selects none.
BASIC_LAUNCHER_TARGET = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def trials_view(study: Any, present: Any) -> Any:
    """``study`` as a sampler sees it, its trials passed through ``present`` (a function of the
    list of trials): Optuna's samplers read trials with the private
    ``Study._get_trials(deepcopy, states, use_cache)``; everything else is the study's own."""
    return _TrialsView(study, present)


class _TrialsView:
    def __init__(self, study: Any, present: Any) -> None:
        self._study, self._present = study, present

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Any = None, use_cache: bool = False
    ) -> Any:
        import copy

        trials = self._present(self._study._get_trials(False, None, use_cache))
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> Any:
        return self._get_trials(deepcopy, states)

    @property
    def trials(self) -> Any:
        return self.get_trials()


def relaunches_command(trainer: Any) -> bool:
    """Whether ``trainer.fit`` starts its other ranks by running this process's command line
    again (Lightning's ``ddp``: the private ``_SubprocessScriptLauncher``), rather than by
    spawning (``ddp_spawn``) or finding them started already (Slurm tasks, torchrun)."""
    from lightning.pytorch.strategies.launchers.subprocess_script import (
        _SubprocessScriptLauncher,
    )

    launcher = trainer.strategy.launcher
    return isinstance(launcher, _SubprocessScriptLauncher) and not (
        launcher.cluster_environment.creates_processes_externally
    )


def grpc_proxy_server(storage: BaseStorage, server: Any) -> None:
    """Add Optuna's storage proxy service for ``storage`` to a ``grpc.Server`` built by
    hydratune, which sets its own options and interceptors (``run_grpc_proxy_server`` takes
    neither): the private ``optuna.storages._grpc.servicer.OptunaStorageProxyService`` and
    ``auto_generated.api_pb2_grpc.add_StorageServiceServicer_to_server``."""
    from optuna.storages._grpc import servicer
    from optuna.storages._grpc.auto_generated import api_pb2_grpc

    api_pb2_grpc.add_StorageServiceServicer_to_server(
        servicer.OptunaStorageProxyService(storage), server
    )


def grpc_proxy_client(host: str, port: int, channel: Any) -> BaseStorage:
    """Optuna's ``GrpcStorageProxy`` for ``host:port`` talking through ``channel()`` (a
    function returning a ``grpc.Channel``: with credentials, call metadata, retries), which
    Optuna's own client cannot be given. It overrides the private ``GrpcStorageProxy._setup``
    and builds ``api_pb2_grpc.StorageServiceStub`` and ``client.GrpcClientCache`` as it does."""
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import GrpcStorageProxy
    from optuna.storages._grpc.auto_generated import api_pb2_grpc
    from optuna.storages._grpc.client import GrpcClientCache

    class _Client(GrpcStorageProxy):
        def _setup(self) -> None:
            self._channel = channel()
            self._stub = api_pb2_grpc.StorageServiceStub(self._channel)
            self._cache = GrpcClientCache(self._stub)

    with warnings.catch_warnings():  # experimental since Optuna 4.2: said in the docs
        warnings.simplefilter("ignore", ExperimentalWarning)
        return _Client(host=host, port=port)
