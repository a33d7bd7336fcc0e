"""Journal files: which file is one, and the repair of one a crash or a co-writer damaged.

On-disk format: Optuna's journal, one JSON record per line (``{"op_code": ...}``), appended
under a lock; read defensively, since another version, a script or a torn write may have
written it.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from hydratune.errors import StudyConfigError
from hydratune.files import NOT_WRITABLE, naming, one_line_when_full, os_reason, write_atomically

log = logging.getLogger(__name__)

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
    begins with a whole record start, ``{"op_code":``, even if the record after it is torn:
    nothing else is ours to write. A part of it (``{``) is not enough, since any JSON file
    begins so.
    """
    if not path.exists():
        return
    if not path.is_file():
        raise StudyConfigError(f"'{path}' is not a file")
    with open(path, "rb") as f:
        head = f.read(len(_RECORD_START))
    if head and head != _RECORD_START:
        raise StudyConfigError(
            f"'{path}' exists and is not an Optuna journal (it does not "
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
    """``damage`` in a new ``<journal>.damaged-<time>[-n]`` file: never one of an earlier repair,
    and no more readable than the journal it came from (a private journal's records stay so)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    mode = stat.S_IMODE(path.stat().st_mode)
    for n in range(1000):
        aside = path.with_name(f"{path.name}.damaged-{stamp}" + (f"-{n}" if n else ""))
        try:
            with open(os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as f:
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
    write_atomically(path, b"".join(parts), sync=True)


class RepairingJournalBackend(JournalFileBackend):
    """Optuna's journal file, read by a process that survives another writer's torn record.

    On a shared journal, a writer killed in the middle of an append (or a filesystem that cut
    its write short) leaves a torn line, and the next record anyone appends is glued to it:
    every process reading the journal then fails with a bare ``JSONDecodeError``. Here a
    reader that meets one repairs the journal (``repair_journal``: under the journal's lock,
    the glued record kept, the torn bytes moved aside and logged) and reads on from where it
    was, ``READ_ATTEMPTS`` times at most before it stops with one line naming the file.

    A thread's appends can also be gathered into one (``gathered``).
    """

    READ_ATTEMPTS = 3

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path
        self._gathering = threading.local()

    @contextmanager
    def gathered(self) -> Iterator[None]:
        """This thread's appends inside, made as one at the end (even if the block raises): one
        lock and one fsync for a trial's parameters and overrides, not one per record. Other
        threads append as they go; a nested block joins the outer one, keeping the order."""
        if getattr(self._gathering, "pending", None) is not None:
            yield
            return
        pending: list[dict[str, Any]] = []
        self._gathering.pending = pending
        try:
            yield
        finally:
            self._gathering.pending = None
            if pending:
                self._append(pending)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        pending = getattr(self._gathering, "pending", None)
        if pending is None:
            self._append(logs)
        else:
            pending.extend(logs)

    def _append(self, logs: list[dict[str, Any]]) -> None:
        """Optuna's append. A journal the disk cannot grow (full, a quota, a file size limit)
        ends the command with one line: the records before stay, and a record cut short is
        repaired by the next reader."""
        with one_line_when_full("The study keeps every record written before"):
            try:
                super().append_logs(logs)
            except OSError as error:  # Optuna's write names no file
                if error.errno in NOT_WRITABLE:  # a read-only file, directory or mount
                    raise StudyConfigError(
                        f"cannot write {os_reason(naming(error, self.path))}. The study keeps "
                        "every record written before; make it writable (or name another "
                        "storage), then run the same command again"
                    ) from None
                raise naming(error, self.path) from None

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
