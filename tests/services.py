"""Real services for the tests, on 127.0.0.1: a throwaway PostgreSQL server, a single-node
Slurm cluster and an MLflow tracking server.

``make test`` installs Debian's ``postgresql`` package when it is missing; this module starts a
server from it with a fresh data directory, as the ``postgres`` user when run as root (initdb
and postgres refuse root), and stops it at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
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


# --- a single-node Slurm cluster -----------------------------------------------------------

SLURM_CONF = """\
ClusterName=hydratune
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=2
MinJobAge=600
SchedulerParameters=sched_interval=1
MessageTimeout=10
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _free_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 9 // 10  # slurmd refuses a node it overstates
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _start_munge(root: Path) -> tuple[subprocess.Popen, str]:
    """munged as user ``munge`` with its own key and socket under ``root``."""
    munge = pwd.getpwnam("munge")
    mdir = root / "munge"
    mdir.mkdir(mode=0o700)
    key = mdir / "munge.key"
    if Path("/etc/munge/munge.key").is_file():
        shutil.copy("/etc/munge/munge.key", key)
    else:
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
    for path in (mdir, key):
        os.chown(path, munge.pw_uid, munge.pw_gid)
    key.chmod(0o400)
    socket_path = str(mdir / "munge.socket")
    proc = subprocess.Popen(
        [
            "runuser",
            "-u",
            "munge",
            "--",
            "munged",
            "--foreground",
            "--force",
            f"--key-file={key}",
            f"--socket={socket_path}",
            f"--pid-file={mdir}/munged.pid",
            f"--log-file={mdir}/munged.log",
            f"--seed-file={mdir}/munged.seed",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(lambda: Path(socket_path).exists(), 10, "munged's socket")
    return proc, socket_path


def _wait_for(condition, seconds: float, what: str) -> None:  # noqa: ANN001
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.2)


@contextmanager
def slurm_cluster() -> Iterator[dict[str, str]]:
    """A running single-node Slurm cluster (munged, slurmctld, slurmd) on 127.0.0.1.

    Yields the environment that points Slurm's commands at it (``SLURM_CONF``); jobs run as
    root with the node's real CPUs and memory. Everything lives in a temp dir removed after
    (kept, with the daemons' logs, when the cluster did not start).
    """
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        raise RuntimeError("Slurm is not installed: run `make test`, which installs it")
    if os.geteuid() != 0:
        raise RuntimeError("the test Slurm cluster runs its daemons as root")
    root = Path(tempfile.mkdtemp(prefix="hydratune-slurm-"))
    root.chmod(0o755)
    procs: list[subprocess.Popen] = []
    started = False
    try:
        munged, munge_socket = _start_munge(root)
        procs.append(munged)
        host = socket.gethostname().split(".")[0]
        conf = root / "slurm.conf"
        conf.write_text(
            SLURM_CONF.format(
                host=host,
                ctld_port=free_port(),
                slurmd_port=free_port(),
                munge_socket=munge_socket,
                state=root / "state",
                spool=root / "spool",
                dir=root,
                cpus=os.cpu_count() or 1,
                memory=_free_memory_mb(),
            )
        )
        (root / "state").mkdir()
        (root / "spool").mkdir()
        env = {**os.environ, "SLURM_CONF": str(conf)}
        for daemon in (["slurmctld", "-D", "-i"], ["slurmd", "-D", "-N", host]):
            procs.append(
                subprocess.Popen(
                    daemon, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )

        def idle() -> bool:
            out = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True
            )
            return out.stdout.strip() == "idle"

        _wait_for(idle, 30, f"the Slurm node to be idle (logs in {root})")
        started = True
        yield {"SLURM_CONF": str(conf)}
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if started:  # else its logs say why it did not start
            shutil.rmtree(root, ignore_errors=True)


# --- an MLflow tracking server --------------------------------------------------------------


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with a SQLite backend and proxied artifacts in a temp dir.

    ``stop()`` kills it (its whole process group, as a crash would) and ``start()`` brings it
    back on the same port and store, so a test can take the server away mid-sweep.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, deadline_s: float = 120.0) -> None:
        cmd = [
            *(sys.executable, "-m", "mlflow", "server"),
            *("--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}"),
            *("--artifacts-destination", str(self.root / "artifacts")),
            # one worker process: each imports MLflow's server app (seconds of CPU per start,
            # and tests restart it); one handles the sweeps' concurrent requests in threads
            *("--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"),
        ]
        log = open(self.root / "server.log", "ab")  # noqa: SIM115  (lives as long as the server)
        # MLflow 3's job execution (GenAI jobs, which no test runs) is a job runner and seven
        # huey consumers, each a Python process importing MLflow: 19 CPU seconds a start
        # instead of 7, and 23 each idle minute instead of 1, for as long as the session runs
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = subprocess.Popen(
            cmd, stdout=log, stderr=log, start_new_session=True, env=env
        )
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.root / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy at {self.url} after {deadline_s} s")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if not self.running:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextmanager
def mlflow_server() -> Iterator[MlflowServer]:
    """A running MLflow tracking server, removed with its store at the end."""
    root = Path(tempfile.mkdtemp(prefix="hydratune-mlflow-"))
    server = MlflowServer(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
