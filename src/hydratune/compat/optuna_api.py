"""Optuna's private APIs: the study's storage and ids, the atomic pop of a waiting trial, a
sampler's view of the trials, batched user attributes, a tell that reads nothing back, the gRPC
storage proxy's parts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: the Hydra plugin module imports this one, not Optuna
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage, RDBStorage
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


def ask(study: optuna.Study, user_attrs: dict[str, Any]) -> optuna.Trial:
    """``study.ask()`` whose trial has ``user_attrs`` from the start: a new trial is created with
    them (``create_new_trial``'s template: one journal record, one statement, one call through
    the gRPC proxy, where ``ask`` then a separate write cost two); a queued one gets them at once.
    ``Study.ask``'s own steps, without fixed parameters: ``Study._thread_local`` (the trials
    cache), ``_pop_waiting_trial_id``, ``_storage``, ``_study_id``."""
    from datetime import datetime, timezone

    from optuna import Trial
    from optuna.trial import FrozenTrial, TrialState

    study._thread_local.cached_all_trials = None
    trial_id = study._pop_waiting_trial_id()
    if trial_id is not None:
        trial = Trial(study, trial_id)
        set_user_attrs(trial, user_attrs)
        return trial
    template = FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=datetime.now(tz=timezone.utc),
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs=user_attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    return Trial(study, study._storage.create_new_trial(study._study_id, template_trial=template))


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


def _rdb_storage(study: optuna.Study) -> Any:
    """The study's RDB storage (behind Optuna's cache: ``_CachedStorage._backend``), or None."""
    from optuna.storages import RDBStorage

    storage = getattr(study._storage, "_backend", study._storage)
    return storage if isinstance(storage, RDBStorage) else None


def _rdb_rows(study: optuna.Study, sql: str, params: dict[str, Any]) -> list[Any] | None:
    """The rows of one read-only SQL query on the study's RDB storage, None for any other
    storage (``RDBStorage.engine``). Optuna's RDB reads build an ORM object per row
    (milliseconds a read on PostgreSQL); the sweep loop reads around every trial."""
    storage = _rdb_storage(study)
    if storage is None:
        return None
    from sqlalchemy import text  # only for RDB storages: importing it takes a while

    # committed, not rolled back: a ROLLBACK makes psycopg drop every statement it has prepared
    # on the connection, and Optuna's own reads run unprepared after it (their parse and plan
    # again on the server, each trial)
    with storage.engine.begin() as connection:
        return connection.execute(text(sql), params).all()


def stored_trial_user_attrs(study: optuna.Study, trial: optuna.Trial) -> dict[str, Any]:
    """``trial``'s user attributes as the storage holds them now (another process may have
    written them), in one SQL query on an RDB storage: Optuna reads the whole trial there
    (its row, params, values, attributes and intermediate values: seven queries).
    ``Trial._trial_id``."""
    import json

    rows = _rdb_rows(
        study,
        "SELECT key, value_json FROM trial_user_attributes WHERE trial_id = :trial",
        {"trial": trial._trial_id},
    )
    if rows is None:
        return study._storage.get_trial_user_attrs(trial._trial_id)
    return {key: json.loads(value) for key, value in rows}


def claim_study_user_attr(study: optuna.Study, key: str, value: Any) -> Any:
    """Set the study's user attribute ``key`` to ``value`` unless another process set it first,
    and return the value in force: the first writer wins, however close the writes come.
    ``set_user_attr`` lets the last writer win, and reading one's own write back cannot tell
    whether another write is still to come.

    - RDB (``_CachedStorage._backend``, ``RDBStorage.engine``, Optuna's ``study_user_attributes``
      table): one INSERT, which the table's unique (study_id, key) refuses to all but one.
    - Journal (``JournalStorage._backend``, its records): each claimant appends its value, then
      reads the log; the first record for ``key`` wins, and a claimant that finds another value
      in force appends the winner's, so the last record for ``key`` is always the winner's.
    - Other storages (in memory, the gRPC proxy: neither can be asked for an atomic write): set
      if absent and read back, which claimants within one read of each other can both win.
    """
    from optuna.storages import JournalStorage

    if isinstance(study._storage, JournalStorage):
        study.set_user_attr(key, value)
        winner = _first_journal_value(study._storage, study._study_id, key)
        if study_user_attrs(study).get(key) != winner:
            study.set_user_attr(key, winner)
        return winner
    storage = _rdb_storage(study)
    if storage is not None:
        return _claim_rdb(storage, study, key, value)
    if key not in study_user_attrs(study):
        study.set_user_attr(key, value)
    return study_user_attrs(study)[key]


def _claim_rdb(storage: Any, study: optuna.Study, key: str, value: Any) -> Any:
    import json

    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    params = {"study": study._study_id, "key": key}
    try:
        with storage.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO study_user_attributes (study_id, key, value_json)"
                    " VALUES (:study, :key, :value)"
                ),
                {**params, "value": json.dumps(value)},
            )
        return value
    except IntegrityError:  # another claimant's row is there
        rows = _rdb_rows(
            study,
            "SELECT value_json FROM study_user_attributes WHERE study_id = :study AND key = :key",
            params,
        )
        return json.loads(rows[0][0])


def claimed_user_attr(storage: BaseStorage, study_id: int, key: str) -> Any:
    """The value of study user attribute ``key`` that ``claim_study_user_attr`` gives, or None:
    on a journal the first record's, not the last one's. While claimants race, the last record
    can be a loser's that its writer has yet to overwrite with the winner's."""
    from optuna.storages import JournalStorage

    value = storage.get_study_user_attrs(study_id).get(key)
    if value is None or not isinstance(storage, JournalStorage):
        return value
    return _first_journal_value(storage, study_id, key)  # a record near the study's start


def claimed_study_user_attr(study: optuna.Study, key: str) -> Any:
    """``claimed_user_attr`` of ``study`` (``Study._storage``, ``Study._study_id``)."""
    return claimed_user_attr(study._storage, study._study_id, key)


def _first_journal_value(storage: Any, study_id: int, key: str) -> Any:
    """The value of the journal's first record that sets the study's user attribute ``key``."""
    from optuna.storages.journal._storage import JournalOperation

    for record in storage._backend.read_logs(0):
        if (
            record["op_code"] == JournalOperation.SET_STUDY_USER_ATTR
            and record["study_id"] == study_id
            and key in record["user_attr"]
        ):
            return record["user_attr"][key]
    raise LookupError(f"no journal record sets {key!r}")  # this claimant's own write is there


def rdb_storage(
    url: str,
    engine_kwargs: dict[str, Any],
    check_tables: Callable[[set[str]], None] | None = None,
) -> RDBStorage:
    """``optuna.storages.RDBStorage(url, engine_kwargs=...)`` whose attribute writes, and study
    user attribute reads, on PostgreSQL are one statement each (``compat.optuna_rdb``: it
    overrides the private ``RDBStorage._set_trial_attr_without_commit`` and reads
    ``storages._rdb.models`` and ``_create_scoped_session``). ``check_tables`` is given the
    database's tables before Optuna creates any of its own there, and may refuse it by
    raising (an event on ``models.BaseModel.metadata``, whose ``create_all`` Optuna runs)."""
    from hydratune.compat.optuna_rdb import RDBStorage

    return RDBStorage(url, engine_kwargs, check_tables)


def rdb_user_attr_count(study: optuna.Study, prefix: str) -> int | None:
    """How many study user attributes start with ``prefix``, by one SQL ``count`` on Optuna's
    ``study_user_attributes`` table; None unless the study is in an RDB storage. The sweep loop
    asks this before every trial whether steering changed."""
    rows = _rdb_rows(
        study,
        "SELECT count(*) FROM study_user_attributes WHERE study_id = :study AND key LIKE :prefix",
        {"study": study._study_id, "prefix": prefix + "%"},
    )
    return None if rows is None else int(rows[0][0])


def set_user_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """``trial.set_user_attr`` for each of ``attrs``, in one write: on a journal one append
    (``one_write``); on a database one transaction (``_CachedStorage._backend``,
    ``_create_scoped_session``, ``RDBStorage._set_trial_attr_without_commit``). Other
    storages: one call per key."""
    from optuna.storages import RDBStorage

    backend = getattr(trial.storage, "_backend", trial.storage)
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
    with one_write(trial.study):
        for key, value in attrs.items():
            trial.set_user_attr(key, value)


@contextmanager
def one_write(study: optuna.Study) -> Iterator[None]:
    """What this thread writes inside, committed as one: each journal append costs a file lock
    and an fsync, each database transaction a commit, one per parameter and attribute otherwise.

    - Journal: the records are held back and appended as one group at the end, then read back
      (``JournalStorage._backend``, ``_thread_lock``, ``_sync_with_backend``). They are
      Optuna's own, one per write, so any reader replays them.
    - PostgreSQL: this thread's session joins one transaction, committed at the end
      (``_CachedStorage._backend``, ``RDBStorage.scoped_session``, ``engine``). SQLite writes
      as it goes: one open write transaction there makes other writers wait or fail busy.

    Either way other processes see the writes at the end, and a raise inside still writes them.
    Other storages write as they go."""
    from optuna.storages import RDBStorage
    from optuna.storages.journal import JournalStorage

    storage = study._storage
    backend = getattr(storage, "_backend", None)
    if isinstance(backend, RDBStorage) and backend.engine.name == "postgresql":
        with _one_transaction(backend):
            yield
        return
    gathered = getattr(backend, "gathered", None)
    if not isinstance(storage, JournalStorage) or gathered is None:
        yield
        return
    with gathered():
        yield
    with storage._thread_lock:
        storage._sync_with_backend()


@contextmanager
def _one_transaction(backend: Any) -> Iterator[None]:
    """``backend``'s sessions in this thread join one transaction, committed at the end (also
    when the block raises: what was written is kept, as a journal's gathered writes are).

    Optuna's own commits inside only flush (SQLAlchemy's ``rollback_only`` join), so nothing is
    visible to other processes, and nothing is half-written, before the end. A rollback inside
    (an integrity error Optuna would have ignored) would drop the block's earlier writes too: it
    is raised at the end, not ignored."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.orm import Session

    registry = backend.scoped_session.registry
    if registry.has() and registry().info.get("one_write"):
        yield  # nested: the outer block commits
        return
    previous = registry() if registry.has() else None
    with backend.engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="rollback_only")
        session.info["one_write"] = True
        registry.set(session)
        try:
            yield
        finally:
            session.close()
            if previous is None:
                registry.clear()
            else:
                registry.set(previous)
            if not transaction.is_active:
                raise StorageInternalError("a database write was rolled back; run again")
            transaction.commit()


def tell(study: optuna.Study, trial: optuna.Trial, values: Any = None, state: Any = None) -> None:
    """``study.tell(trial, values, state=state)`` without its return value: ``Study.tell``
    reads the finished trial back to return a deep copy of it (one more read per trial: five
    queries on a database). ``optuna.study._tell._tell_with_warning`` is what ``Study.tell``
    and ``Study.optimize`` record with."""
    from optuna.study._tell import _tell_with_warning

    _tell_with_warning(study=study, trial=trial, value_or_values=values, state=state)


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
