"""The pruning verdict a job reached, handed back with the job's result.

``PruningCallback`` leaves its verdict (``stopped_reason``, ``prune_overruled``) on the trial in
the study, because a spawned DDP rank trains in another process, and the sweep reads it to
record an app's normally returned value as pruned. When every callback made for the job also
trained in the job's own process (every case but DDP spawn), the verdict travels back with the
result instead, and the sweep skips that read: one SQL round trip, or one call through the gRPC
proxy, per trial (bench/cluster/RESULTS.md). Below both ``training/`` and ``execute/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class JobVerdict:
    """What the pruning callbacks made for one job decided, as far as its process saw."""

    awaited: int = 0  # callbacks made for the job that have not trained in this process
    attrs: dict[str, Any] = field(default_factory=dict)  # the trial attributes they set

    def known(self) -> dict[str, Any] | None:
        """The verdict's attributes ({}: none), or None if a callback trained elsewhere
        (a spawned rank: then only the study has its verdict)."""
        return None if self.awaited else dict(self.attrs)


# One job per process at a time (Hydra's job runner sets process-global state): a callback
# made in any thread of the job counts, as ``current_trial_ref`` finds the trial from any.
_current: JobVerdict | None = None


@contextmanager
def collected() -> Iterator[JobVerdict]:
    """Collect the verdict of the job run inside the ``with`` block."""
    global _current
    outer, _current = _current, JobVerdict()
    try:
        yield _current
    finally:
        _current = outer


def current() -> JobVerdict | None:
    """The verdict of the job running now in this process; None outside a job."""
    return _current
