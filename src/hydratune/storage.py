"""Storage URLs: what ``hydra.sweeper.storage`` names, how it opens, how it is shown.

The one place that knows the storage forms, detects in-memory storage and masks passwords:
the sweeper, the job side, the report, export, steering and the CLI all go through it.

Storage forms accepted in ``hydra.sweeper.storage``:

- ``null``: the default, a journal file ``outputs/hydratune.journal`` under the directory the
  command runs in. Journal files are safe for many processes writing at once, and open in
  ``optuna`` CLI (``--storage-class JournalFileStorage``) and ``optuna-dashboard``;
- ``memory``: in-memory, gone when the sweep ends;
- a path (``studies/mnist.journal``): a journal file there;
- a SQLAlchemy URL (``sqlite:///x.db``, ``postgresql://user:pw@host/db``): Optuna's RDB storage.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage

from hydratune.errors import StudyConfigError

DEFAULT_STORAGE = "outputs/hydratune.journal"
MEMORY = "memory"
_IN_MEMORY = (MEMORY, ":memory:")


_PASSWORD_IN_URL = re.compile(r"(\b[\w+.-]+://[^:/@\s]*:)([^@\s]+)(@)")


def mask_url(url: str | None) -> str | None:
    """The storage URL (or any text holding URLs) with passwords replaced by ``***``."""
    return None if url is None else _PASSWORD_IN_URL.sub(r"\1***\3", url)


def storage_url(storage: str | None, cwd: str | Path) -> str:
    """The storage the setting names, with the default and relative paths made absolute."""
    if storage is None:
        return str(Path(cwd) / DEFAULT_STORAGE)
    storage = str(storage)
    if is_in_memory(storage) or "://" in storage:
        return storage
    return str(Path(cwd) / storage)


def open_storage(url: str) -> BaseStorage:
    """An Optuna storage for a URL from ``storage_url``; fails fast if it cannot be opened."""
    if is_in_memory(url):
        return InMemoryStorage()
    try:
        if "://" in url:
            return _rdb_storage(url)
        path = Path(url)
        if path.suffix in {".db", ".sqlite", ".sqlite3"}:
            raise StudyConfigError(
                f"hydra.sweeper.storage: '{url}' looks like SQLite; write it as a URL, "
                f"sqlite:///{path}, or use a .journal file"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
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


def _rdb_storage(url: str, attempts: int = 5) -> RDBStorage:
    """RDB storage; workers starting together on a fresh database race to create its tables,
    and the losers' errors (a duplicate table or type) go away on a second try."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts - 1):
        try:
            return RDBStorage(url)
        except (IntegrityError, ProgrammingError):
            time.sleep(0.2 * (attempt + 1))
    return RDBStorage(url)


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
    storage = open_storage(url)
    try:
        return optuna.load_study(study_name=study_name, storage=storage, **kwargs)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise StudyNotFoundError(
            f"no study '{study_name}' in {mask_url(url)}; it has: {', '.join(names) or 'none'}"
        ) from None
