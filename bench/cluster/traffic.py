"""A trial's storage traffic, hydratune worker vs plain Optuna worker: SQL statements and
commits on PostgreSQL, and calls through the gRPC proxy, by where they come from (the innermost
hydratune or Optuna frame, and the storage method).

Counted in each worker with SQLAlchemy's cursor and commit events and by wrapping each remote
call of ``GrpcStorageProxy``; per trial = the difference between a 20-trial and a 10-trial run
over 10, so start-up (creating tables, loading the study) cancels. Both runs end past TPE's 10
random trials; 10 and 40 trials count the same per trial (53 statements, 6 commits, 14 proxy
calls; plain Optuna 49/11/11; 2026-12-06). Explains the many-workers ratios
(``bench.cluster.many_workers.WHY_SLOWER``). Run as ``python -m bench.cluster.traffic``; prints
the counts, writes nothing.
"""

from __future__ import annotations

import atexit
import collections
import functools
import glob
import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cluster.many_workers import (
    APP,
    BARRIER,
    PLAIN_WORKER,
    app_arguments,
    grpc_proxy,
    postgres,
)
from bench.common import REPO

COUNTS = "HYDRATUNE_BENCH_TRAFFIC"  # where a counting worker writes its counts
SHORT, LONG = 10, 20


@functools.cache
def _packages() -> tuple[str, str]:
    """Where hydratune's and Optuna's modules are (a clone may sit in a folder of any name)."""
    import optuna

    import hydratune

    return tuple(str(Path(m.__file__).parent) + os.sep for m in (hydratune, optuna))


def _origin(stack: list[traceback.FrameSummary], method: str) -> str:
    """``<innermost hydratune frame, else Optuna's> -> method`` for a call made at ``stack``."""
    ours, optuna = _packages()
    inner = next(
        (
            f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.name}"
            for f in reversed(stack)
            if f.filename.startswith(ours) and "/compat/" not in f.filename
        ),
        None,
    ) or next(
        (
            f"optuna:{Path(f.filename).name}:{f.name}"
            for f in reversed(stack)
            if f.filename.startswith(optuna) and "/storages/" not in f.filename
        ),
        "?",
    )
    return f"{inner} -> {method}"


def _rdb_origin() -> str:
    """The origin of a SQL statement or commit: its caller and Optuna's RDB storage method."""
    stack = traceback.extract_stack()
    method = next((f.name for f in stack if f.filename.endswith("_rdb/storage.py")), "?")
    return _origin(stack, method)


def install() -> None:
    """Count this process's SQL statements, commits and proxy calls; written to
    ``$COUNTS.<pid>`` at exit."""
    from optuna.storages import GrpcStorageProxy
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    event.listen(
        Engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, *_: counts["statements"].update(
            [f"{_rdb_origin()} {sql.split()[0]}"]
        ),
    )
    event.listen(Engine, "commit", lambda conn: counts["commits"].update([_rdb_origin()]))

    def counting(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(call)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts["proxy calls"].update([_origin(traceback.extract_stack(), name)])
            return call(*args, **kwargs)

        return wrapper

    # the remote calls: the methods the proxy defines itself (BaseStorage's helpers call these)
    for name, call in list(vars(GrpcStorageProxy).items()):
        if callable(call) and not name.startswith("_") and name != "wait_server_ready":
            setattr(GrpcStorageProxy, name, counting(name, call))

    def write() -> None:
        Path(f"{os.environ[COUNTS]}.{os.getpid()}").write_text(json.dumps(counts))

    atexit.register(write)


def counted(command: list[str], cwd: str, prefix: str) -> dict[str, collections.Counter]:
    """The counts of ``command``'s processes (a plain worker waits at a barrier of one)."""
    barrier = Path(f"{prefix}.barrier")
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), COUNTS: prefix, BARRIER: f"{barrier}:1"}
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    total: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for path in glob.glob(f"{prefix}.[0-9]*"):
        for kind, counts in json.loads(Path(path).read_text()).items():
            total[kind].update(counts)
    return total


def hydratune_worker(url: str, study: str, n_trials: int) -> list[str]:
    start = (
        "import runpy, sys; from bench.cluster.traffic import install; install();"
        f" sys.argv = sys.argv[1:]; runpy.run_path({str(APP)!r}, run_name='__main__')"
    )
    return [sys.executable, "-c", start, str(APP), *app_arguments(url, study, n_trials)]


def plain_worker(url: str, study: str, n_trials: int) -> list[str]:
    start = "from bench.cluster.traffic import install; install()\n"
    return [sys.executable, "-c", start + PLAIN_WORKER, url, study, str(n_trials)]


def with_first_trial_of(url: str, study: str, source: str) -> None:
    """Create ``study`` with a copy of study ``source``'s first trial: the app's space as
    hydratune stores it, as a plain worker's study starts in ``many_workers.fill``, without a
    run of the app (a process start) for each study."""
    import optuna
    from optuna.storages import GrpcStorageProxy

    storage: Any = url
    if url.startswith("grpc://"):
        host, port = url.removeprefix("grpc://").rsplit(":", 1)
        storage = GrpcStorageProxy(host=host, port=int(port))
    first = optuna.load_study(study_name=source, storage=storage).trials[0]
    optuna.create_study(study_name=study, storage=storage).add_trial(first)


def per_trial(url: str, kinds: tuple[str, ...]) -> dict[str, dict[str, dict[str, float]]]:
    """``kinds`` of traffic per trial by origin, for each worker, through the storage ``url``
    (PostgreSQL's: statements and commits; the proxy's: proxy calls)."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as cwd:
        for worker, make in (("hydratune", hydratune_worker), ("plain Optuna", plain_worker)):
            runs = []
            for n in (SHORT, LONG):
                study = f"{worker.split()[0]}_{n}_{kinds[0].split()[0]}"  # new on each call
                if make is plain_worker:  # hydratune's study of the same size ran first
                    with_first_trial_of(url, study, study.replace("plain", "hydratune", 1))
                runs.append(counted(make(url, study, n), cwd, f"{cwd}/{study}"))
            result[worker] = {}
            for kind in kinds:
                short, long = runs[0][kind], runs[1][kind]
                keys = set(short) | set(long)
                result[worker][kind] = {k: (long[k] - short[k]) / (LONG - SHORT) for k in keys}
    return result


def main() -> None:
    with postgres() as url, grpc_proxy(url) as proxy:
        counts = [per_trial(url, ("statements", "commits")), per_trial(proxy, ("proxy calls",))]
    for by_worker in counts:
        for worker, kinds in by_worker.items():
            for kind, by_origin in kinds.items():
                print(f"{worker}: {sum(by_origin.values()):.1f} {kind} per trial")
                for key, value in sorted(by_origin.items(), key=lambda kv: -kv[1]):
                    if abs(value) >= 0.05:
                        print(f"  {value:6.2f}  {key}")


if __name__ == "__main__":
    main()
