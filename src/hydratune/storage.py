"""Storage URLs: what ``hydra.sweeper.storage`` names, how it opens, how it is shown.

The one place that knows the storage forms, detects in-memory storage and masks passwords:
the sweeper, the job side, the report, export, steering and the CLI all go through it.

Storage forms accepted in ``hydra.sweeper.storage``:

- ``null``: the default, a journal file ``outputs/hydratune.journal`` under the directory the
  command runs in. Journal files are safe for many processes writing at once, and open in
  ``optuna`` CLI (``--storage-class JournalFileStorage``) and ``optuna-dashboard``;
- ``memory``: in-memory, gone when the sweep ends;
- a path (``studies/mnist.journal``): a journal file there;
- a SQLAlchemy URL (``sqlite:///x.db``, ``postgresql://user:pw@host/db``): Optuna's RDB storage;
- ``grpc://host:port``: a ``hydratune storage-proxy`` (Optuna's gRPC storage proxy) in front of
  one of the above, for many workers.

Secrets: a password in a URL (``user:pw@`` or libpq's ``?password=pw``) is shown and written as
``***``; a ``${oc.env:PGPASSWORD}`` interpolation is kept as written. A masked URL read back
(from ``multirun.yaml``) connects without a password, so libpq takes it from ``PGPASSWORD`` or
``~/.pgpass``: the secret never has to be on disk next to the sweep.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage

from hydratune.errors import StudyConfigError

log = logging.getLogger(__name__)

DEFAULT_STORAGE = "outputs/hydratune.journal"
MEMORY = "memory"
GRPC = "grpc://"
_IN_MEMORY = (MEMORY, ":memory:")


MASK = "***"
PASSWORD_ENV = "HYDRATUNE_STORAGE_PASSWORD"
# user:<password>@ in a URL, and libpq's password=<password> query parameter (or key=value)
_PASSWORD_IN_URL = re.compile(r"(\b[\w+.-]+://[^:/@\s'\"]*:)([^@\s'\"]+)(@)")
_PASSWORD_PARAM = re.compile(r"(\bpassword=)([^&\s'\"#]+)", re.IGNORECASE)
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
            f"hydra.sweeper.storage: '{mask_url(storage)}' looks like a URL but does not parse; "
            "write it as scheme://[user@]host[:port]/database (two slashes), e.g. "
            "postgresql://user@db.example.org/hydratune, or give a file path"
        )
    return str(Path(cwd) / storage)


def _check_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if re.match(r"^postgres(\+\w+)?://", url):  # Heroku's and libpq's spelling
        raise StudyConfigError(
            f"hydra.sweeper.storage: '{mask_url(url)}' starts with postgres://, which "
            "SQLAlchemy does not know; write postgresql:// (the rest stays as it is)"
        )
    try:
        make_url(url)
    except (ArgumentError, ValueError) as error:
        raise StudyConfigError(
            f"hydra.sweeper.storage: '{mask_url(url)}' does not parse as a database URL "
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
            return _rdb_storage(url)
        path = Path(url)
        if path.suffix in {".db", ".sqlite", ".sqlite3"}:
            raise StudyConfigError(
                f"hydra.sweeper.storage: '{url}' looks like SQLite; write it as a URL, "
                f"sqlite:///{path}, or use a .journal file"
            )
        check_is_journal(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_journal(path)
        return JournalStorage(RepairingJournalBackend(path))
    except StudyConfigError:
        raise
    except Exception as error:
        # the driver's message may quote the URL: mask it too
        raise StudyConfigError(
            mask_url(
                f"hydra.sweeper.storage: cannot open '{url}': {type(error).__name__}: {error}. "
                "Check the URL, the server and its credentials, or leave storage null for a "
                "journal file under outputs/."
            )
        ) from None


def _grpc_storage(url: str) -> BaseStorage:
    """A client of ``hydratune storage-proxy`` at ``grpc://host:port`` (storage_proxy.py: the
    token, and waiting out a proxy restart)."""
    host, _, port = url.removeprefix(GRPC).rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise StudyConfigError(f"hydra.sweeper.storage: '{url}' is not grpc://host:port")
    from hydratune.storage_proxy import connect

    return connect(host, int(port))


def _rdb_storage(url: str, attempts: int = 5) -> RDBStorage:
    """RDB storage; workers starting together on a fresh database race to create its tables,
    and the losers' errors (a duplicate table or type) go away on a second try."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    engine_kwargs = _connect_timeout(url)
    try:
        for attempt in range(attempts - 1):
            try:
                return RDBStorage(url, engine_kwargs=engine_kwargs)
            except (IntegrityError, ProgrammingError):
                time.sleep(0.2 * (attempt + 1))
        return RDBStorage(url, engine_kwargs=engine_kwargs)
    except Exception as error:
        if "timeout" in str(error).lower() and engine_kwargs:
            raise StudyConfigError(
                f"hydra.sweeper.storage: {_host(url)} did not answer within "
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


# --- journal repair -------------------------------------------------------------------------
# A journal is one JSON record per line, appended under a lock. A write cut short (a full disk,
# a kill during the write) leaves a torn last line; the next append is glued to it, and from
# then on Optuna cannot read the file (JSONDecodeError, no file or line named). Before a journal
# is opened, damaged lines are moved aside to <journal>.damaged-<time> and the journal keeps
# every complete record (one glued behind torn bytes included).

_RECORD_START = b'{"op_code":'  # how Optuna's json.dumps of a journal record begins


def check_is_journal(path: Path) -> None:
    """Refuse a storage path that holds something other than a journal, leaving it untouched.

    Opening a journal appends to it and repairs it, so a typo (``storage=data.csv``) or someone
    else's file would otherwise be rewritten. A journal is empty (Optuna creates it so) or
    begins with a record, even a torn one: nothing else is ours to write.
    """
    if not path.exists():
        return
    if not path.is_file():
        raise StudyConfigError(f"hydra.sweeper.storage: '{path}' is not a file")
    with open(path, "rb") as f:
        head = f.read(len(_RECORD_START))
    if not _RECORD_START.startswith(head):
        raise StudyConfigError(
            f"hydra.sweeper.storage: '{path}' exists and is not an Optuna journal (it does not "
            f"begin with {_RECORD_START.decode()}); it was left untouched. Name a new file "
            "(e.g. outputs/hydratune.journal) or an existing journal"
        )


def repair_journal(path: Path) -> Path | None:
    """Repair ``path`` if it has damaged lines; returns where the damage was moved, or None.

    Checked without the lock first (a healthy journal costs one read); the repair itself runs
    under the journal's own lock, on a fresh read, since another process may be appending.
    """
    if not path.is_file() or not _damaged_lines(path.read_bytes()):
        return None
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        data = path.read_bytes()
        damaged = _damaged_lines(data)
        if not damaged:
            return None
        aside = _write_aside(path, b"".join(data[start:end] for start, end, _ in damaged))
        first = damaged[0][0]
        tail_only = all(kept is None for *_, kept in damaged) and (
            sum(end - start for start, end, _ in damaged) == len(data) - first
        )
        if tail_only:  # truncate in place to the last complete record
            os.truncate(path, first)
        else:
            _rewrite(path, data, damaged)
        for start, end, kept in damaged:
            log.warning(
                "%s: damaged journal line at byte %d (%d bytes) moved to %s%s",
                path,
                start,
                end - start,
                aside,
                "; the complete record behind it is kept" if kept else "",
            )
        return aside
    finally:
        lock.release()


def _write_aside(path: Path, damage: bytes) -> Path:
    """``damage`` in a new ``<journal>.damaged-<time>[-n]`` file: never one of an earlier repair."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        aside = path.with_name(f"{path.name}.damaged-{stamp}" + (f"-{n}" if n else ""))
        try:
            with open(aside, "xb") as f:
                f.write(damage)
                f.flush()
                os.fsync(f.fileno())
            return aside
        except FileExistsError:
            continue
    raise StudyConfigError(f"{path}: 1000 repairs this second; nothing was repaired")


def _damaged_lines(data: bytes) -> list[tuple[int, int, bytes | None]]:
    """(start, end, salvaged record or None) of each line that is not a complete record."""
    damaged = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        line = data[start:end]
        if not line.endswith(b"\n") or not _is_record(line):
            damaged.append((start, end, _salvage(line)))
        start = end
    return damaged


def _is_record(line: bytes) -> bool:
    """A journal record: a JSON object with an ``op_code`` (``{"foo": 1}`` is valid JSON that
    Optuna cannot replay)."""
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False
    return isinstance(record, dict) and "op_code" in record


def _salvage(line: bytes) -> bytes | None:
    """A complete record glued behind torn bytes on one line, or None."""
    if not line.endswith(b"\n"):
        return None
    at = line.find(_RECORD_START, 1)
    while at > 0:
        if _is_record(line[at:]):
            return line[at:]
        at = line.find(_RECORD_START, at + 1)
    return None


def _rewrite(path: Path, data: bytes, damaged: list[tuple[int, int, bytes | None]]) -> None:
    """Replace ``path`` by its complete records (salvaged ones in place), all or nothing."""
    parts, start = [], 0
    for begin, end, kept in damaged:
        parts += [data[start:begin], kept or b""]
        start = end
    parts.append(data[start:])
    temporary = path.with_name(f".{path.name}.{os.getpid()}.repair")
    with open(temporary, "wb") as f:
        f.write(b"".join(parts))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


class RepairingJournalBackend(JournalFileBackend):
    """Optuna's journal file, read by a process that survives another writer's torn record.

    On a shared journal, a writer killed in the middle of an append (or a filesystem that cut
    its write short) leaves a torn line, and the next record anyone appends is glued to it:
    every process reading the journal then fails with a bare ``JSONDecodeError``. Here a
    reader that meets one repairs the journal (``repair_journal``: under the journal's lock,
    the glued record kept, the torn bytes moved aside and logged) and reads on from where it
    was, ``READ_ATTEMPTS`` times at most before it stops with one line naming the file.
    """

    READ_ATTEMPTS = 3

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        for attempt in range(1, self.READ_ATTEMPTS + 1):
            try:
                for record in super().read_logs(log_number_from):
                    yield record
                    log_number_from += 1
                return
            except ValueError as error:  # JSONDecodeError, or Optuna's "Invalid log format"
                if attempt == self.READ_ATTEMPTS:
                    raise StudyConfigError(
                        f"{self.path}: record {log_number_from} is still damaged after "
                        f"{attempt} repairs ({error}); is another program writing to it? The "
                        "complete trials are kept: run the same command again to resume"
                    ) from None
                log.warning(
                    "%s: record %d is damaged (%s; another writer's append cut short?): "
                    "repairing it and reading on",
                    self.path,
                    log_number_from,
                    error,
                )
                repair_journal(self.path)
