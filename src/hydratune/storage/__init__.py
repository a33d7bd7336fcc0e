"""Storage URLs: what ``hydra.sweeper.storage`` names, how it opens, how it is shown.

The one place that knows the storage forms, detects in-memory storage and masks passwords:
the sweeper, the job side, the report, export, steering and the CLI all go through it.

Storage forms accepted in ``hydra.sweeper.storage``:

- ``null``: the default, a journal file ``outputs/hydratune.journal`` under the directory the
  command runs in; beside the sweep dirs when they are timestamped or outside that directory
  (``default_journal``). Journal files are safe for many processes writing at once, and open in
  ``optuna`` CLI (``--storage-class JournalFileStorage``) and ``optuna-dashboard``;
- ``memory``: in-memory, gone when the sweep ends;
- a path (``studies/mnist.journal``): a journal file there;
- a SQLAlchemy URL (``sqlite:///x.db``, ``postgresql://user:pw@host/db``): Optuna's RDB storage;
- ``grpc://host:port``: a ``hydratune storage-proxy`` (Optuna's gRPC storage proxy) in front of
  one of the above, for many workers.

Errors (``StudyConfigError``) say what is wrong with the storage and name no setting: the
caller names the one it read it from (``setting_of``), ``hydra.sweeper.storage`` for a sweep,
``--storage`` on the command line.

Secrets: a password in a URL (``user:pw@`` or libpq's ``?password=pw``) is shown and written as
``***``; a ``${oc.env:PGPASSWORD}`` interpolation is kept as written. A masked URL read back
(from ``multirun.yaml``) connects without a password, so libpq takes it from ``PGPASSWORD`` or
``~/.pgpass``: the secret never has to be on disk next to the sweep.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from optuna.storages.journal import JournalStorage

from hydratune import compat
from hydratune.errors import StudyConfigError
from hydratune.exports import exports
from hydratune.files import sqlite_write_refused
from hydratune.storage.journal import RepairingJournalBackend, check_is_journal, repair_journal

log = logging.getLogger(__name__)

DEFAULT_STORAGE = "outputs/hydratune.journal"
MEMORY = "memory"
GRPC = "grpc://"
_IN_MEMORY = (MEMORY, ":memory:")


MASK = "***"
PASSWORD_ENV = "HYDRATUNE_STORAGE_PASSWORD"
# user:<password>@ in a URL, and libpq's password=<password> query parameter (or key=value).
# The password runs to the first @, as SQLAlchemy reads it: quotes and spaces included (a URL
# quoted in a message is masked whole); one slash after the scheme too, a typo that is
# refused, and printed, as it is. Not across lines: text may hold an @ further on. A quote
# that closes a quoted URL after password=... stays, so YAML and JSON holding it stay valid.
_PASSWORD_IN_URL = re.compile(r"(\b[\w+.-]+:/{1,2}[^:/@\n]*:)([^@\n]+)(@)")
_PASSWORD_PARAM = re.compile(r"(\bpassword=)([^&\s#]+?)(?=['\"]?(?:[&\s#,;)}\]]|$)|['\"]:)", re.I)
_INTERPOLATION = re.compile(r"^\$\{[^}]*\}$")
# scheme: without // (postgresql:/host/db): a URL that does not parse. Two letters at least,
# so that a Windows drive (C:) stays a path.
_BROKEN_URL = re.compile(r"^[A-Za-z][\w+.-]+:(?!//)")
CONNECT_TIMEOUT_S = 10


def _masked(match: re.Match[str]) -> str:
    secret = match.group(2)
    if _INTERPOLATION.match(secret):  # ${oc.env:PGPASSWORD}: no secret, and needed to reconnect
        return match.group(0)
    return match.group(1) + MASK + (match.group(3) if match.lastindex == 3 else "")


def mask_url(url: str | None) -> str | None:
    """The storage URL (or any text holding URLs) with passwords replaced by ``***``, in both
    ``user:pw@host`` and libpq's ``?password=pw`` forms; interpolations stay as written."""
    if url is None:
        return None
    return _PASSWORD_PARAM.sub(_masked, _PASSWORD_IN_URL.sub(_masked, url))


def unmasked(url: str) -> str:
    """A URL read back from a file or a job's config, with a masked password put back from
    ``HYDRATUNE_STORAGE_PASSWORD`` (where the sweep hands its jobs the password) or else
    dropped: libpq then takes it from ``PGPASSWORD`` or ``~/.pgpass``."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        url = url.replace(f":{MASK}@", f":{password}@")
        return re.sub(rf"([?&]password=){re.escape(MASK)}(?=&|$)", rf"\g<1>{password}", url)
    url = url.replace(f":{MASK}@", "@")
    url = re.sub(rf"([?&])password={re.escape(MASK)}(&|$)", r"\1", url).rstrip("?&")
    return url.replace("?&", "?")


@contextmanager
def password_scope() -> Iterator[None]:
    """Meanwhile ``hide_password`` may put a password in the environment; afterwards the
    environment is as before."""
    previous = os.environ.get(PASSWORD_ENV)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(PASSWORD_ENV, None)
        else:
            os.environ[PASSWORD_ENV] = previous


def hide_password(url: str) -> str:
    """``url`` masked, its password (if written in it) put in this process's environment as
    ``HYDRATUNE_STORAGE_PASSWORD``, where every process and job the sweep starts inherits it
    and ``unmasked`` finds it: a job's config, pickles and files then hold ``***`` only."""
    for pattern in (_PASSWORD_IN_URL, _PASSWORD_PARAM):
        found = pattern.search(url)
        if found and found.group(2) != MASK and not _INTERPOLATION.match(found.group(2)):
            os.environ[PASSWORD_ENV] = found.group(2)
            return mask_url(url) or url
    return url


def default_journal(sweep_dir_setting: str, sweep_dir: Path, cwd: str | Path) -> str:
    """Where ``storage: null`` keeps the study, so that it lies with the app's outputs.

    ``outputs/hydratune.journal`` (under ``cwd``) for a fixed sweep dir under ``cwd``, as
    hydratune's own ``outputs/sweeps/<study>``. A sweep dir made new by every run
    (``${now:...}`` in ``hydra.sweep.dir``, as lightning-hydra-template's
    ``logs/train/multiruns/<time>``) gets the journal beside its timestamped folder
    (``logs/train/multiruns/hydratune.journal``); one outside ``cwd`` gets it beside itself.
    """
    parts = sweep_dir_setting.split("/")
    stamped = next((i for i, part in enumerate(parts) if "${now:" in part), None)
    cwd = Path(cwd).absolute()
    base = cwd / sweep_dir
    if stamped is not None:
        for _ in range(len(parts) - stamped):
            base = base.parent
    elif base.is_relative_to(cwd):
        return DEFAULT_STORAGE
    else:
        base = base.parent
    journal = base / Path(DEFAULT_STORAGE).name
    return str(journal.relative_to(cwd)) if journal.is_relative_to(cwd) else str(journal)


@contextmanager
def setting_of(key: str) -> Iterator[None]:
    """Storage errors raised inside name the setting ``key`` the storage came from."""
    try:
        yield
    except StudyConfigError as error:
        raise type(error)(f"{key}: {error}") from None


def storage_url(storage: str | None, cwd: str | Path) -> str:
    """The storage the setting names, with the default and relative paths made absolute; a
    setting that looks like a URL but does not parse is an error, not a file of that name."""
    if storage is None:
        return str(Path(cwd) / DEFAULT_STORAGE)
    storage = str(storage)
    if is_in_memory(storage):
        return storage
    if "://" in storage:
        _check_url(storage)
        return storage
    if _BROKEN_URL.match(storage):
        raise StudyConfigError(
            f"'{mask_url(storage)}' looks like a URL but does not parse; "
            "write it as scheme://[user@]host[:port]/database (two slashes), e.g. "
            "postgresql://user@db.example.org/hydratune, or give a file path"
        )
    return str(Path(cwd) / storage)


def _check_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if re.match(r"^postgres(\+\w+)?://", url):  # Heroku's and libpq's spelling
        raise StudyConfigError(
            f"'{mask_url(url)}' starts with postgres://, which "
            "SQLAlchemy does not know; write postgresql:// (the rest stays as it is)"
        )
    try:
        make_url(url)
    except (ArgumentError, ValueError) as error:
        raise StudyConfigError(
            f"'{mask_url(url)}' does not parse as a database URL "
            f"({mask_url(str(error))}); write it as scheme://[user[:password]@]host[:port]/database"
        ) from None


def open_storage(url: str) -> BaseStorage:
    """An Optuna storage for a URL from ``storage_url`` (a masked password put back, see
    ``unmasked``); fails fast if it cannot be opened."""
    url = unmasked(url)
    if is_in_memory(url):
        return InMemoryStorage()
    try:
        if url.startswith(GRPC):
            return _grpc_storage(url)
        if "://" in url:
            check_is_optuna_sqlite(url)
            return _rdb_storage_created(url)
        path = Path(url)
        if path.suffix in {".db", ".sqlite", ".sqlite3"}:
            raise StudyConfigError(
                f"'{url}' looks like SQLite; write it as a URL, "
                f"sqlite:///{path}, or use a .journal file"
            )
        check_is_journal(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            repair_journal(path)
            return JournalStorage(RepairingJournalBackend(path))
        except OSError as error:  # a file: no URL, server or credentials to check
            # mkdir(exist_ok=True) says "File exists" only where a file stands on the way
            exists = isinstance(error, FileExistsError)
            reason = f"{error.filename} is not a directory" if exists else error.strerror
            raise StudyConfigError(f"cannot open the journal '{url}': {reason}") from None
    except StudyConfigError:
        raise
    except Exception as error:
        if "://" not in url:  # a journal whose records Optuna cannot replay
            raise StudyConfigError(
                f"cannot read the journal '{url}': {_reason(error)} in a record Optuna cannot "
                "replay; it was left as it was (a journal of another Optuna version, or edited?)"
            ) from None
        # the driver's message may quote the URL: mask it too
        raise StudyConfigError(
            mask_url(
                f"cannot open '{url}': {_reason(error)}. "
                "Check the URL, the server and its credentials, or leave storage null for a "
                "journal file under outputs/."
            )
        ) from None


def _reason(error: BaseException) -> str:
    """The driver's own error on one line: SQLAlchemy wraps it (``orig``) with the statement
    it ran and a link to its docs, and drivers add hints on further lines."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def sqlite_file(url: str) -> Path | None:
    """The file a ``sqlite:///`` URL names; None for other URLs and in-memory SQLite."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _rdb_storage_created(url: str) -> BaseStorage:
    """``_rdb_storage(url)``; where the disk takes no more while Optuna creates a new SQLite
    file's tables, one line, and the file is removed: it holds a part of Optuna's tables, which
    the next run would refuse as not Optuna's (``check_is_optuna_sqlite``), and nothing else."""
    path = sqlite_file(url)
    if path is None:
        return _rdb_storage(url)
    journal = path.with_name(f"{path.name}-journal")  # SQLite's, beside the database
    new = [p for p in (path, journal) if not p.exists()]
    try:
        return _rdb_storage(url)
    except Exception as error:
        refused = sqlite_write_refused(error)
        if refused is None:
            raise
        removed = ""
        if path in new:
            for created in new:
                created.unlink(missing_ok=True)
            removed = "; the new file was removed"
        raise StudyConfigError(
            f"cannot create the SQLite study in '{path}' ({refused}){removed}. Make room, then "
            "run the same command again"
        ) from None


def check_is_optuna_sqlite(url: str) -> None:
    """Refuse a ``sqlite:///`` file that is not an Optuna database, leaving it untouched:
    Optuna creates its tables in any SQLite file it opens, so a typo or someone else's
    database would gain a dozen tables. Ours: no file yet, a 0-byte file or an empty database
    (Optuna creates them so), or one with Optuna's tables."""
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return
    _check_tables_are_optunas(_sqlite_tables(path), f"'{path}' is an SQLite database")


_OPTUNA_TABLES = {"studies", "version_info"}


def _check_tables_are_optunas(tables: set[str], database: str) -> None:
    """Refuse a database that has tables but not Optuna's, ``database`` saying which: Optuna
    creates its tables in any database it opens, beside another application's. Ours: no
    tables yet (Optuna creates them), or Optuna's among them."""
    if tables and not tables >= _OPTUNA_TABLES:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StudyConfigError(
            f"{database} but not Optuna's (its tables: {shown}); it was left untouched. Name "
            "a new file, an empty database or an Optuna storage"
        )


_SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


def _sqlite_tables(path: Path) -> set[str]:
    """The tables of the SQLite file ``path``, read without writing. A 0-byte file has none
    (SQLite's own rule: it is an empty database, and holds nothing to lose); any other file
    must begin with SQLite's header, since SQLite opens a short file of anything (``\\n``,
    ``x``) as an empty database too, and Optuna would then write its tables over it."""
    import sqlite3

    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise StudyConfigError(f"cannot read '{path}': {error.strerror}") from None
    if not head:
        return set()
    if head != _SQLITE_HEADER:
        raise StudyConfigError(
            f"'{path}' is not an SQLite database (it does not begin with SQLite's header); it "
            "was left untouched. Name a new file or an Optuna storage"
        )
    try:
        with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
            return {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as error:
        raise StudyConfigError(
            f"'{path}' is not an SQLite database ({error}); it was left untouched"
        ) from None


def _grpc_storage(url: str) -> BaseStorage:
    """A client of ``hydratune storage-proxy`` at ``grpc://host:port`` (storage/proxy.py: the
    token, and waiting out a proxy restart)."""
    host, _, port = url.removeprefix(GRPC).rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise StudyConfigError(f"'{url}' is not grpc://host:port")
    from hydratune.storage.proxy import connect

    return connect(host, int(port))


def _rdb_storage(url: str, attempts: int = 5) -> RDBStorage:
    """RDB storage, refused where the database has tables but not Optuna's
    (``_check_tables_are_optunas``, before Optuna creates its own); workers starting together
    on a fresh database race to create its tables, and the losers' errors (a duplicate table
    or type) go away on a second try."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    engine_kwargs = _connect_timeout(url)
    check = partial(_check_tables_are_optunas, database=f"'{mask_url(url)}' is a database")
    try:
        for attempt in range(attempts - 1):
            try:
                return compat.rdb_storage(url, engine_kwargs, check)
            except (IntegrityError, ProgrammingError):
                time.sleep(0.2 * (attempt + 1))
        return compat.rdb_storage(url, engine_kwargs, check)
    except StudyConfigError:
        raise
    except Exception as error:
        if "timeout" in str(error).lower() and engine_kwargs:
            raise StudyConfigError(
                f"{_host(url)} did not answer within "
                f"{CONNECT_TIMEOUT_S} s; check the host and port (or add connect_timeout=<s> "
                "to the URL for a slower server)"
            ) from None
        raise


def _connect_timeout(url: str) -> dict[str, object]:
    """``connect_timeout`` for PostgreSQL and MySQL drivers unless the URL sets one: a server
    that accepts connections but never answers would otherwise hang the sweep's start."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "mysql") or "connect_timeout" in (
        parsed.query
    ):
        return {}
    return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}


def _host(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 'default port'}"


def is_in_memory(url: str | None) -> bool:
    """Whether a storage setting or URL is in-memory (gone with the process, never shared)."""
    return url in _IN_MEMORY


class StudyNotFoundError(StudyConfigError):
    """The storage opens but holds no study of that name."""


def load_study(url: str, study_name: str, **kwargs: object) -> optuna.Study:
    """Load ``study_name`` from ``url``, or say why not: no storage file there, or no such
    study (with the names the storage has)."""
    if not is_in_memory(url) and "://" not in url and not Path(url).is_file():
        raise StudyConfigError(f"no storage file at {url}")
    database = sqlite_file(url) if url.startswith("sqlite") else None
    if database is not None:  # opening it would create the file, or Optuna's tables in it
        if not database.is_file():
            raise StudyConfigError(f"no storage file at {database}")
        if not _sqlite_tables(database):  # another's tables: open_storage refuses them
            raise StudyNotFoundError(f"no study '{study_name}' in {url}; it has: none")
    try:
        storage = open_storage(unmasked(url))
    except StudyConfigError as error:
        if unmasked(url) == url:
            raise
        raise StudyConfigError(
            f"{error} The password is never stored with a sweep: set PGPASSWORD or add it to "
            "~/.pgpass (libpq reads both), or pass the URL with --storage."
        ) from None
    try:
        return optuna.load_study(study_name=study_name, storage=storage, **kwargs)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise StudyNotFoundError(
            f"no study '{study_name}' in {mask_url(url)}; it has: {', '.join(names) or 'none'}"
        ) from None


# `hydratune storage-proxy` needs grpc (the grpc extra): imported on first use
_PROXY, __getattr__ = exports(__name__, {"proxy": ["read_token", "start_server"]})
__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_STORAGE",
    "StudyNotFoundError",
    "check_is_journal",
    "hide_password",
    "is_in_memory",
    "load_study",
    "mask_url",
    "open_storage",
    "password_scope",
    "repair_journal",
    "setting_of",
    "storage_url",
    "unmasked",
    *_PROXY,
]
