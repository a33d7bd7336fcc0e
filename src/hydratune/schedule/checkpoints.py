"""The checkpoint a paused trial left, as its trial records it: an on-disk format.

A trial's ``checkpoint`` user attribute is ``{path, epoch, size, sha256}``, written by the
sweeper once the trial's job has ended (so the file is whole: a job killed while writing it
never gets a record). Before a trial continues from it, the file must still have that size
and checksum: a torn or replaced checkpoint is never loaded. Another version or a script may
have written the attribute, so it is read defensively.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hydratune.attrs import CHECKPOINT

_CHUNK = 1 << 20


@dataclass(frozen=True)
class CheckpointRecord:
    """A checkpoint file after ``epoch`` complete epochs, with its size and SHA-256."""

    path: str
    epoch: int
    size: int
    sha256: str

    @classmethod
    def of_file(cls, path: Path, epoch: int) -> CheckpointRecord | None:
        """The record of the file at ``path`` now; None if there is none."""
        if not path.is_file():
            return None
        return cls(str(path), epoch, path.stat().st_size, _sha256(path))

    @classmethod
    def of_trial(cls, user_attrs: Mapping[str, Any]) -> CheckpointRecord | None:
        """The record in a trial's user attributes; None if it has none or a malformed one."""
        value = user_attrs.get(CHECKPOINT)
        try:
            return cls(str(value["path"]), int(value["epoch"]), int(value["size"]), value["sha256"])
        except (TypeError, KeyError, ValueError):
            return None

    def as_attr(self) -> dict[str, Any]:
        return asdict(self)

    def intact(self) -> bool:
        """Whether the file is still the one recorded (size first: no read of a torn file)."""
        path = Path(self.path)
        try:
            return path.stat().st_size == self.size and _sha256(path) == self.sha256
        except OSError:
            return False

    def remove(self) -> None:
        """Delete the file (and its dir, when that holds nothing else)."""
        path = Path(self.path)
        path.unlink(missing_ok=True)
        with suppress(OSError):  # not empty: the app's other files (its best checkpoint) stay
            path.parent.rmdir()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
