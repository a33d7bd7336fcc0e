"""Who runs a trial, unique per process lifetime, and whether that process still lives.

A PID alone names a process only while it lives: in a container every run's sweeper is PID 1,
and a PID freed by a kill is handed out again. The owner mark therefore also holds the
machine's boot id, the PID namespace, the process's start time and a random token:
``host:pid:boot_id:pid_namespace:start_ticks:token``. Where these say the owner is in this
machine's PID namespace, the PID (checked against its start time) decides whether it lives;
anywhere else (another host, another container) the trial's heartbeat decides.
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
from pathlib import Path

_FIELDS = 6


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> str | None:
    """A live process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22);
    None for no process, or a dead one not reaped yet (a zombie)."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name in (...) may hold spaces
    return fields[19] if len(fields) > 19 and fields[0] not in ("Z", "X") else None


def _pid_namespace() -> str | None:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return None


@functools.cache
def _this_process(pid: int) -> str:
    boot = _read("/proc/sys/kernel/random/boot_id") or "-"
    parts = [socket.gethostname(), str(pid), boot, _pid_namespace() or "-"]
    return ":".join([*parts, _start_ticks(pid) or "-", secrets.token_hex(4)])


def this_process() -> str:
    """The owner mark of this process (a forked child gets its own)."""
    return _this_process(os.getpid())


def owner_alive(owner: str) -> bool | None:
    """Whether the process an owner mark names is alive; None when only a heartbeat can say.

    Also reads the older ``host:pid`` marks, which cannot tell a reused PID: a live PID there
    is left to the heartbeat, and our own PID under another mark is not us.
    """
    if owner == this_process():
        return True
    parts = owner.split(":")
    if len(parts) == 2:
        host, pid = parts
        if host != socket.gethostname() or not pid.isdigit():
            return None
        if int(pid) == os.getpid() or not _pid_exists(int(pid)):
            return False
        return None
    if len(parts) != _FIELDS:
        return None
    host, pid, boot, namespace, start, _token = parts
    me = this_process().split(":")
    if (host, boot, namespace) != (me[0], me[2], me[3]) or "-" in (boot, namespace, start):
        return None  # another machine, boot or container: its PIDs mean nothing here
    if not pid.isdigit() or int(pid) == os.getpid():
        return False  # our PID with another start or token: an earlier life of this PID
    return _start_ticks(int(pid)) == start


def gone(owner: str | None) -> bool:
    """Whether an owner mark names a process known to have ended (a RUNNING trial it ran is
    lost: nobody finishes it until the sweep runs again); False when only a heartbeat can say."""
    return owner is not None and owner_alive(owner) is False


def short(owner: str) -> str:
    """``host:pid`` of an owner mark, for messages."""
    return ":".join(owner.split(":")[:2])


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
