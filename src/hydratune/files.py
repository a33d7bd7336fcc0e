"""Replacing a file whole or not at all: the one way hydratune rewrites a file; and the check
that a file it would replace is one it wrote.

A kill, a full disk or a file-size limit in the middle of a plain write leaves a file cut short
(a torn ``hydra.yaml``, half a migrated config). Written to a temporary file beside it and
``os.replace``d, the file is either the old one or the new one; the temporary file is removed
on any failure, which is raised to the caller. A symbolic link is written through: the file it
names is replaced and the link kept (``os.replace`` on the link itself would swap the user's
link for a copy, and leave the file it named as it was). Permissions are a plain write's: a
replaced file keeps its own, a new one gets what ``open`` gives under the umask (not
``mkstemp``'s 0600, which would hide a report or a ``.hydra`` file from the user's group).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hydratune.errors import StudyConfigError

# What a disk that can take no more says: full, over a quota, past a file size limit.
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
# What SQLite says when the disk does not take a write: full (ENOSPC), or a write error, which
# past a file size limit (EFBIG) is what it reports; it reaches us wrapped by SQLAlchemy and Optuna.
SQLITE_NO_ROOM = frozenset({"SQLITE_FULL", "SQLITE_IOERR_WRITE"})


class ForeignFileError(ValueError):
    """A file hydratune would replace is there and is not one it wrote; it is left as it is."""


def check_ours(path: Path, ours: Callable[[str], bool], by: str, instead: str) -> None:
    """``ForeignFileError`` when ``path`` is there and ``ours`` does not recognise the start of
    its text (2 KB) as what ``by`` writes: a command replaces its own files only, whatever a
    user's file at the same path is called (``report.md``, ``conf/experiment/x_best.yaml``)."""
    if not path.exists() and not path.is_symlink():
        return
    head = b""
    if path.is_file():
        with path.open("rb") as handle:  # a report.html is megabytes: its start says enough
            head = handle.read(2048)
    if not ours(head.decode("utf-8", "replace")):
        raise ForeignFileError(
            f"{path} exists and was not written by {by}; it was left as it is. {instead}"
        )


def write_atomically(path: Path, data: str | bytes, *, sync: bool = False) -> None:
    """Replace ``path`` by ``data`` (text as UTF-8). ``sync``: on disk before it replaces
    anything (a journal, a user's config)."""
    path = Path(os.path.realpath(path))
    descriptor, temporary = _temporary_beside(path)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        if path.exists():
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except OSError as error:  # a full disk: the file it was for, not the temporary (or none)
        Path(temporary).unlink(missing_ok=True)
        raise naming(error, path) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_folder_atomically(folder: Path, texts: dict[str, str]) -> None:
    """Write the files ``texts`` (name: text) into ``folder`` (in a folder that exists), each
    whole or absent. A new folder is filled beside its place and renamed into it: one rename for
    all its files, not one each (a trial's ``.hydra``: ~0.3 ms a trial). Into a folder that is
    there, file by file."""
    if not folder.exists():
        temporary = folder.parent / f".{folder.name}.{secrets.token_hex(4)}.tmp"
        name = ""
        try:
            temporary.mkdir()  # as a plain mkdir creates it, under the umask
            for name, text in texts.items():
                with open(temporary / name, "x", encoding="utf-8") as handle:
                    handle.write(text)
            os.rename(temporary, folder)
            return
        except OSError as error:
            shutil.rmtree(temporary, ignore_errors=True)
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise naming(error, folder / name) from None
            # another writer made the folder meanwhile: write into it
    for name, text in texts.items():
        write_atomically(folder / name, text)


def _temporary_beside(path: Path) -> tuple[int, str]:
    """A new empty file ``.<name>.<random>.tmp`` beside ``path``, created as ``open`` creates
    a file (0666 less the umask), and its descriptor."""
    while True:
        temporary = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:  # another writer drew the same name: draw again
            continue
        except OSError as error:  # the user named the file: say it, not our temporary name
            raise naming(error, path) from None


def naming(error: OSError, path: Path) -> OSError:
    """``error`` as if raised for ``path``: the file a write was for, where the system call
    named a temporary file or none."""
    return type(error)(error.errno, error.strerror, str(path))


def os_reason(error: OSError) -> str:
    """The file an OSError names, when it names one, and why, on one line (``notes.txt: File
    exists``), without the ``[Errno 17]`` its text starts with."""
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason


@contextmanager
def one_line_when_full(kept: str) -> Iterator[None]:
    """A disk with no room left, met inside, ends the command with one line naming the file (or
    the SQLite study), ``kept`` (what is safe) and what to do, instead of the traceback of
    whichever write met it."""
    again = "make room, then run the same command again to resume"
    try:
        yield
    except OSError as error:
        if error.errno not in NO_ROOM:
            raise
        raise StudyConfigError(f"cannot write {os_reason(error)}. {kept}; {again}") from error
    except Exception as error:
        refused = sqlite_write_refused(error)
        if refused is None:
            raise
        raise StudyConfigError(f"cannot write the SQLite study ({refused}). {kept}; {again}") from (
            error
        )


def sqlite_write_refused(error: BaseException | None) -> BaseException | None:
    """The ``sqlite3`` error in ``error``'s chain that says the disk took no more, if any (not
    behind a ``raise ... from None``: an error that has said it already)."""
    while error is not None:
        if getattr(error, "sqlite_errorname", None) in SQLITE_NO_ROOM:
            return error
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return None
