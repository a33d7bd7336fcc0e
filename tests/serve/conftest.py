"""A real ``hydratune serve`` on a free port, and a real sweep of the quadratic app running in
the background, held at a gate per trial (``tests/helpers.wait_at_gate``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import APPS, small_disk, wait_for


class Server:
    """``file_size_limit``: every file the server writes capped (``small_disk``)."""

    def __init__(self, cwd: Path, *args: str, file_size_limit: int | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hydratune", "serve", *args, "--port", str(self.port)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **small_disk(file_size_limit),
        )
        self.said = self.proc.stdout.readline()  # the address, printed before it listens
        assert self.said.startswith("serving"), self.said + self.proc.stdout.read()
        host = args[args.index("--host") + 1] if "--host" in args else "127.0.0.1"
        shown = f"[{host}]" if ":" in host else "127.0.0.1"  # 0.0.0.0 answers on 127.0.0.1 too
        self.url = f"http://{shown}:{self.port}/"
        wait_for(self._answers, f"hydratune serve on port {self.port}", timeout=60)

    def _answers(self) -> bool:
        assert self.proc.poll() is None, self.proc.stdout.read()
        try:
            urllib.request.urlopen(self.url, timeout=5)
        except urllib.error.HTTPError:
            return True  # answers, if only to refuse
        except OSError:
            return False
        return True

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def serve() -> Iterator:
    servers: list[Server] = []

    def start(cwd: Path, *args: str, file_size_limit: int | None = None) -> Server:
        servers.append(Server(cwd, *args, file_size_limit=file_size_limit))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


class Sweep:
    """``quadratic_app.py -m`` in the background, each trial held at ``gate`` until released."""

    def __init__(self, cwd: Path, *overrides: str) -> None:
        self.cwd, self.gate = cwd, cwd / "gate"
        self.gate.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, str(APPS / "quadratic_app.py"), "-m", *overrides],
            cwd=cwd,
            env={**os.environ, "GATE_DIR": str(self.gate)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def started(self, number: int) -> None:
        def there() -> bool:
            assert self.proc.poll() is None, self.proc.stdout.read()
            return (self.gate / f"started-{number}").exists()

        wait_for(there, f"trial {number} to start")

    def release(self, which: int | str = "all") -> None:
        (self.gate / f"go-{which}").touch()

    def finish(self) -> str:
        self.release()
        out, _ = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, out[-3000:]
        return out


@pytest.fixture
def background() -> Iterator:
    sweeps: list[Sweep] = []

    def start(cwd: Path, *overrides: str) -> Sweep:
        sweeps.append(Sweep(cwd, *overrides))
        return sweeps[-1]

    yield start
    for sweep in sweeps:
        sweep.release()
        try:
            sweep.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sweep.proc.kill()
            sweep.proc.wait()
