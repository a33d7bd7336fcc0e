"""Optuna's ``RDBStorage`` with one statement per attribute written, and per study attributes
read, on PostgreSQL.

Optuna writes a trial's user or system attribute by loading the trial's row through the ORM,
checking it is unfinished, then upserting (``RDBStorage._set_trial_attr_without_commit``): two
statements, ~0.9 ms a write on PostgreSQL. A hydratune trial writes four (its owner and
heartbeat at creation, inside the transaction that holds the study's row lock, its overrides
and its output dir), and the sampler one more. Here the check is part of the upsert. A sweep
behind the storage proxy reads the study's user attributes before every trial (steering);
Optuna loads the study's row, then its attributes, through the ORM: here one query.

It also lets the one who opens it see the database's tables before Optuna creates its own
there (``RDBStorage.__init__`` runs ``create_all`` on any database, beside another
application's tables), and refuse it: a check on ``create_all``'s own connection, one query,
run only when some of Optuna's tables are missing.

Imported when an RDB storage is opened (``compat.rdb_storage``), not with ``hydratune.compat``:
it subclasses an Optuna class, and the Hydra plugin module must not import Optuna.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import optuna
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from sqlalchemy import event, inspect, text

_UPSERT = (
    "INSERT INTO {table} (trial_id, key, value_json)"
    " SELECT trial_id, :key, :value FROM trials"
    " WHERE trial_id = :trial AND state IN ('RUNNING', 'WAITING')"
    " ON CONFLICT (trial_id, key) DO UPDATE SET value_json = EXCLUDED.value_json"
)
_TABLES = (models.TrialUserAttributeModel, models.TrialSystemAttributeModel)
_STATEMENTS = {model: text(_UPSERT.format(table=model.__tablename__)) for model in _TABLES}
_STUDY_USER_ATTRS = text(
    "SELECT a.key, a.value_json FROM studies AS s"
    " LEFT JOIN study_user_attributes AS a ON a.study_id = s.study_id WHERE s.study_id = :study"
)

# The check of the RDBStorage being created in this thread (None: plain Optuna, no check).
_CHECK_TABLES: ContextVar[Callable[[set[str]], None] | None] = ContextVar(
    "check_tables", default=None
)


@event.listens_for(models.BaseModel.metadata, "before_create")
def _before_optunas_tables(metadata: Any, connection: Any, **kw: Any) -> None:
    """The database's tables to the check, before ``create_all`` creates any of Optuna's."""
    check = _CHECK_TABLES.get()
    if check is not None and kw.get("tables"):  # none to create: all of Optuna's are there
        check(set(inspect(connection).get_table_names()))


class RDBStorage(optuna.storages.RDBStorage):
    """``optuna.storages.RDBStorage``, whose attribute writes on PostgreSQL check that the trial
    is unfinished in the upsert itself (Optuna's rule: ``check_trial_is_updatable``), and whose
    study user attributes are one query there; the same rows, tables and JSON as Optuna's, and
    the same errors. ``check_tables`` sees the database's tables before Optuna creates its
    own, and refuses the database by raising (nothing created, the connections closed)."""

    def __init__(
        self,
        url: str,
        engine_kwargs: dict[str, Any],
        check_tables: Callable[[set[str]], None] | None = None,
    ) -> None:
        checking = _CHECK_TABLES.set(check_tables)
        try:
            super().__init__(url, engine_kwargs=engine_kwargs)
        except Exception:
            if hasattr(self, "engine"):
                self.engine.dispose()
            raise
        finally:
            _CHECK_TABLES.reset(checking)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        if self.engine.name != "postgresql":
            return super().get_study_user_attrs(study_id)
        with _create_scoped_session(self.scoped_session) as session:
            rows = session.execute(_STUDY_USER_ATTRS, {"study": study_id}).all()
        if not rows:
            raise KeyError(models.NOT_FOUND_MSG)
        return {key: json.loads(value) for key, value in rows if key is not None}

    def _set_trial_attr_without_commit(
        self,
        session: Any,
        model_cls: type[models.TrialUserAttributeModel | models.TrialSystemAttributeModel],
        trial_id: int,
        key: str,
        value: Any,
    ) -> None:
        statement = _STATEMENTS.get(model_cls) if self.engine.name == "postgresql" else None
        if statement is not None:
            params = {"trial": trial_id, "key": key, "value": json.dumps(value)}
            if session.execute(statement, params).rowcount == 1:
                return
        # another database, or no unfinished trial: Optuna's own write raises what it raises
        super()._set_trial_attr_without_commit(session, model_cls, trial_id, key, value)
