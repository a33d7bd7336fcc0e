"""Real services for the tests: a throwaway PostgreSQL server on 127.0.0.1.

``make test`` installs Debian's ``postgresql`` package when it is missing; this module starts a
server from it with a fresh data directory, as the ``postgres`` user when run as root (initdb
and postgres refuse root), and stops it at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")
USER, PASSWORD, DATABASE = "tuner", "tuner-secret", "hydratune"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running PostgreSQL server; yields a SQLAlchemy URL with a password-protected user."""
    bins = sorted(PG_ROOT.glob("*/bin/initdb"))
    if not bins:
        raise RuntimeError("PostgreSQL is not installed: run `make test`, which installs it")
    bindir = bins[-1].parent
    data = Path(tempfile.mkdtemp(prefix="hydratune-pg-"))
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(data, pg.pw_uid, pg.pw_gid)
    port = free_port()
    run = lambda *cmd: subprocess.run(_as_postgres(list(cmd)), check=True, capture_output=True)  # noqa: E731
    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data / "db"),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data / "db"),
            "-l",
            str(data / "log"),
            "-w",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {data}",
            "start",
        )
        psql = [str(bindir / "psql"), "-h", str(data), "-p", str(port), "-U", "postgres", "-c"]
        run(*psql, f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        run(*psql, f"CREATE DATABASE {DATABASE} OWNER {USER}")
        # the README's plain form (psycopg 3 under SQLAlchemy 2.1)
        yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"
    finally:
        subprocess.run(
            _as_postgres(
                [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)
