"""Issue 16: many workers on one study. Per-trial latency (ask -> tell) of ``WORKERS`` worker
processes sharing a study that already holds about 200 and about 5000 trials, on PostgreSQL
directly and through ``hydratune storage-proxy`` (Optuna's gRPC proxy), for hydratune workers
(the quadratic test app, the same command in every process) and plain Optuna workers
(``study.optimize`` on the same space and sampler, TPE).

Both contenders are timed by the same clock: from the moment the worker asks the storage to
create the trial (its own clock, recorded by ``meet_at_first_trial``) to the trial's
``datetime_complete``. The study's ``datetime_start`` would not do: Optuna stamps a plain ask's
start after it holds the study row's lock, while a trial created from a template (hydratune's,
owned from the start) carries the time before the call, and 8 workers wait for that lock (by
the stamps, plain Optuna's trials looked 6-13 ms shorter than they were, hydratune's did not).

Each study is filled once per level with complete trials of the same space, then vacuumed and
analyzed (else autovacuum runs during whichever contender comes first); the contenders then run
in turn on it, each going first in every other repetition, each adding ``WORKERS * PER_WORKER``
trials (so "at 200" spans a few dozen trials above 200). Worker start-up (imports, the sweep's
setup: composing the config, loading the study, choosing the sampler) is not in the latency, nor
does it compete with the trials measured: every worker waits at a barrier when it is about to
create its first trial (``meet_at_first_trial``, installed by a Hydra callback's
``on_multirun_start`` in the app and before ``optimize`` in the plain script), since a hydratune
worker's start-up takes seconds of the shared CPUs that a plain one's does not, and with a few
trials per worker most would run beside it. The start-up itself, from that install to the first
trial, is reported beside the latencies.

Needs Debian's PostgreSQL (a server is started here from ``tests/services.py``, or the one
``HYDRATUNE_BENCH_POSTGRES_URL`` names). Run as ``python -m bench.cluster.many_workers [--quick]``.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from bench.common import REPO, Figure, md_table, module_main, progress, ratios, target

TITLE = "Many workers on one study: PostgreSQL direct vs the gRPC proxy (issue 16)"
APP = REPO / "tests" / "apps" / "quadratic_app.py"

PLAIN_WORKER = """
import sys, optuna
from optuna.storages import GrpcStorageProxy
optuna.logging.set_verbosity(optuna.logging.WARNING)
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if url.startswith("grpc://"):
    host, port = url[7:].rsplit(":", 1)
    url = GrpcStorageProxy(host=host, port=int(port))
study = optuna.load_study(study_name=name, storage=url, sampler=optuna.samplers.TPESampler())
from bench.cluster.many_workers import meet_at_first_trial
meet_at_first_trial()
def objective(trial):
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_int("y", -4, 4)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return (x - 1) ** 2 + (y + 2) ** 2 + (kind != "b")
study.optimize(objective, n_trials=n)
"""


# Measured elsewhere (a trial's storage traffic: `python -m bench.cluster.traffic`; its CPU:
# bench/RESULTS.md): what a hydratune trial costs beyond a plain Optuna one, which 8 workers on
# 2 cores multiply.
_CPU = (
    "; and it spends 4 ms more CPU in process (the Hydra job: config, trial dir, logging;"
    " bench/RESULTS.md); 8 workers on 2 cores share both with the {server}"
)
WHY_SLOWER = {
    "PostgreSQL": "a hydratune trial makes 53 SQL statements to plain Optuna's 49 (in 6 commits"
    " to 11): its owner mark at its creation (+2), its overrides and output dir (+2), the"
    " steering record's count (+1), and one fewer for the sampler's attribute (an attribute is"
    " one statement, Optuna's own two)" + _CPU.format(server="database"),
    "gRPC proxy": "a hydratune trial makes 14 calls through the proxy to plain Optuna's 11: its"
    " overrides, its output dir and the steering record"
    + _CPU.format(server="proxy, which serves every call in one process"),
}
REPS = 4  # even: each contender goes first as often; one run of 48 trials moves by +-0.15x
BARRIER = "HYDRATUNE_BENCH_BARRIER"  # the barrier's directory, then ":" and its worker count
CLOCK = "HYDRATUNE_BENCH_CLOCK"  # where each worker writes when it began creating each trial
POSTGRES_URL = "HYDRATUNE_BENCH_POSTGRES_URL"  # a running server to use instead of starting one


def meet_at_first_trial(*_: Any, **__: Any) -> None:
    """From now on, note when each trial's creation begins, and at the first one wait until
    every worker of this run has got there (``BARRIER`` in the environment). With ``CLOCK`` set,
    the notes and this worker's start-up (from this call to the barrier) go there at exit.

    Wraps the storages' ``create_new_trial``: PostgreSQL's through Optuna's private
    ``_CachedStorage``, which ``optuna.storages.get_storage`` puts in front of it, and the gRPC
    proxy's client."""
    import atexit
    import functools
    import json

    from optuna.storages import GrpcStorageProxy
    from optuna.storages._cached_storage import _CachedStorage

    called = time.time()
    starts: dict[int, float] = {}
    startup: list[float] = []
    for cls in (_CachedStorage, GrpcStorageProxy):
        create = cls.create_new_trial

        @functools.wraps(create)
        def timed(self: Any, study_id: int, *args: Any, _create: Any = create, **kw: Any) -> int:
            if not startup:
                startup.append(time.time() - called)
                _wait_for_the_others()
            began = time.time()
            trial_id = _create(self, study_id, *args, **kw)
            starts[trial_id] = began
            return trial_id

        cls.create_new_trial = timed  # type: ignore[method-assign]
    if CLOCK in os.environ:
        notes, path = {"starts": starts, "startup": startup}, Path(os.environ[CLOCK])
        atexit.register(lambda: (path / f"{os.getpid()}.json").write_text(json.dumps(notes)))


def _wait_for_the_others() -> None:
    directory, count = os.environ[BARRIER].rsplit(":", 1)
    Path(directory, str(os.getpid())).touch()
    deadline = time.monotonic() + 600
    while len(os.listdir(directory)) < int(count):
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(os.listdir(directory))} of {count} workers started")
        time.sleep(0.01)


class MeetAtFirstTrial(Callback):
    """``meet_at_first_trial`` as a Hydra callback, at the start of the worker's sweep."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        meet_at_first_trial()


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """The server ``POSTGRES_URL`` names (the tests pass theirs: starting one is seconds of a
    quick run), else one started here."""
    if POSTGRES_URL in os.environ:
        yield os.environ[POSTGRES_URL]
        return
    sys.path.insert(0, str(REPO / "tests"))
    from services import postgres_server

    with postgres_server() as url:
        yield url


@contextlib.contextmanager
def grpc_proxy(url: str) -> Iterator[str]:
    """``hydratune storage-proxy`` in front of ``url``; yields its grpc:// URL."""
    sys.path.insert(0, str(REPO / "tests"))
    import optuna
    from optuna.storages import GrpcStorageProxy

    from services import free_port

    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    port = free_port()
    command = [sys.executable, "-m", "hydratune", "storage-proxy", "--storage", url]
    server = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        GrpcStorageProxy(host="127.0.0.1", port=port).wait_server_ready(timeout=120)
        yield f"grpc://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)


def fill(url: str, name: str, n: int) -> None:
    """A study of ``n`` complete trials on the quadratic app's space (its first trial, run by
    the app itself, gives the distributions exactly as hydratune stores them)."""
    import optuna

    with tempfile.TemporaryDirectory() as clock:
        run_hydratune(url, name, workers=1, n_trials=1, clock=Path(clock))
    study = optuna.load_study(study_name=name, storage=url)
    dists = study.trials[0].distributions
    rng = random.Random(0)
    trials = []
    for _ in range(n - 1):
        params = {
            "x": rng.uniform(-5, 5),
            "y": rng.randint(-4, 4),
            "kind": rng.choice(["a", "b"]),
        }
        value = (params["x"] - 1) ** 2 + (params["y"] + 2) ** 2 + (params["kind"] != "b")
        trials.append(optuna.trial.create_trial(params=params, distributions=dists, value=value))
    study.add_trials(trials)
    settle(url)


def settle(url: str) -> None:
    """``VACUUM ANALYZE`` the database: after a bulk insert PostgreSQL's autovacuum would
    otherwise vacuum and analyze during the first contender's run, and not the next's."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")  # VACUUM runs outside a transaction
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def app_arguments(url: str, name: str, n_trials: int) -> list[str]:
    """The app's sweep arguments for a hydratune worker on study ``name`` at ``url``."""
    return [
        "-m",
        f"hydra.sweeper.storage={url}",
        f"hydra.sweeper.study_name={name}",
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.sampler.seed=null",
        "hydra.sweeper.progress=false",
    ]


def run_hydratune(url: str, name: str, workers: int, n_trials: int, clock: Path) -> None:
    """``workers`` copies of the app's sweep command, started together, to ``n_trials``; each
    writes its trials' creation starts to ``clock``."""
    together = "+hydra.callbacks.meet._target_=bench.cluster.many_workers.MeetAtFirstTrial"
    command = [sys.executable, str(APP), *app_arguments(url, name, n_trials), together]
    _run_all([command] * workers, clock)


def run_plain(url: str, name: str, workers: int, per_worker: int, clock: Path) -> None:
    command = [sys.executable, "-c", PLAIN_WORKER, url, name, str(per_worker)]
    _run_all([command] * workers, clock)


def _run_all(commands: list[list[str]], clock: Path) -> None:
    with tempfile.TemporaryDirectory() as cwd, tempfile.TemporaryDirectory() as barrier:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            BARRIER: f"{barrier}:{len(commands)}",
            CLOCK: str(clock),
        }
        procs = [
            subprocess.Popen(
                c, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for c in commands
        ]
        outs = [p.communicate(timeout=1800)[0] for p in procs]
    failed = [o[-2000:] for p, o in zip(procs, outs, strict=True) if p.returncode != 0]
    if failed:
        raise RuntimeError("a worker failed:\n" + "\n---\n".join(failed))


def worker_notes(clock: Path) -> list[dict[str, Any]]:
    """What each worker wrote to ``clock`` (``meet_at_first_trial``)."""
    import json

    return [json.loads(path.read_text()) for path in clock.glob("*.json")]


def startups_s(clock: Path) -> list[float]:
    """Each worker's start-up in ``clock``: from its sweep's start to its first trial."""
    return [s for notes in worker_notes(clock) for s in notes["startup"]]


def latencies_ms(url: str, name: str, after: int, clock: Path) -> list[float]:
    """From the start of its creation (the worker's clock, in ``clock``) to its
    ``datetime_complete``: the complete trials numbered ``after`` and above."""
    import optuna

    starts = {
        int(trial_id): began
        for notes in worker_notes(clock)
        for trial_id, began in notes["starts"].items()
    }
    storage = optuna.storages.get_storage(url)
    study_id = storage.get_study_id_from_name(name)
    latencies = []
    for t in optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False):
        if t.number < after or t.state.name != "COMPLETE" or not t.datetime_complete:
            continue
        began = starts.get(storage.get_trial_id_from_study_id_trial_number(study_id, t.number))
        if began is not None:
            latencies.append((t.datetime_complete.timestamp() - began) * 1000)
    return latencies


def run(quick: bool) -> dict[str, Any]:
    import optuna

    workers, per_worker = (2, 2) if quick else (8, 6)
    levels = (20,) if quick else (200, 5000)  # --quick: one level, 4 runs of 2 workers
    reps = 1 if quick else REPS
    latencies: dict[tuple[str, str, int], list[float]] = {}
    medians: dict[tuple[str, str, int], list[float]] = {}  # per repetition
    startups: dict[tuple[str, str], list[float]] = {}  # s, per worker and storage
    with postgres() as pg, grpc_proxy(pg) as proxy:
        for level in levels:
            name = f"level_{level}"
            progress(f"filling study {name} with {level} trials")
            fill(pg, name, level)
            for rep in range(reps):  # interleaved: each repetition runs every contender once
                for storage_name, url in (("PostgreSQL", pg), ("gRPC proxy", proxy)):
                    # each goes first in turn: the first run after another storage's differs
                    order = ("hydratune", "plain Optuna")
                    for worker in order if rep % 2 == 0 else order[::-1]:
                        study = optuna.load_study(study_name=name, storage=pg)
                        start = len(study.trials)
                        progress(
                            f"{level} ({rep + 1}/{reps}): {workers} {worker} workers on "
                            f"{storage_name}"
                        )
                        with tempfile.TemporaryDirectory() as directory:
                            clock = Path(directory)
                            if worker == "hydratune":
                                total = sum(t.state.name == "COMPLETE" for t in study.trials)
                                n_trials = total + workers * per_worker
                                run_hydratune(url, name, workers, n_trials, clock)
                            else:
                                run_plain(url, name, workers, per_worker, clock)
                            measured = latencies_ms(pg, name, start, clock)
                            startups.setdefault((worker, storage_name), []).extend(
                                startups_s(clock)
                            )
                        key = (worker, storage_name, level)
                        latencies.setdefault(key, []).extend(measured)
                        medians.setdefault(key, []).append(Figure.of(measured).median)
    figures = {key: Figure.of(values) for key, values in latencies.items()}
    rows = [
        [worker, storage, *(figures[(worker, storage, level)].text(0) for level in levels)]
        for storage in ("PostgreSQL", "gRPC proxy")
        for worker in ("hydratune", "plain Optuna")
    ]
    ratio = {
        (storage, level): ratios(
            medians[("hydratune", storage, level)], medians[("plain Optuna", storage, level)]
        )
        for storage in ("PostgreSQL", "gRPC proxy")
        for level in levels
    }
    markdown = "\n\n".join(
        [
            f"{workers} worker processes x {per_worker} trials per contender, {reps} interleaved "
            f"repetition(s); ask -> tell ms per trial (from the start of its creation, by the "
            f"worker's clock), over all of them, median (min-max); load "
            f"average {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} CPUs.",
            md_table(
                ["workers", "storage", *(f"at trial ~{level}" for level in levels)],
                rows,
            ),
            "hydratune / plain Optuna, median latency: "
            + ", ".join(f"{s} at ~{lv}: {r.text(2, 'x')}" for (s, lv), r in ratio.items())
            + " (median of the repetitions' ratios, and their range)",
            f"Start-up, not in the latencies: from the worker's sweep start (the app's "
            f"`on_multirun_start`; the plain script's loaded study) to its first trial, "
            f"{workers} at once, s, median (min-max): "
            + ", ".join(f"{w}, {s}: {Figure.of(v).text(2)}" for (w, s), v in startups.items())
            + ".",
        ]
    )
    return {
        "markdown": markdown,
        "targets": [
            target(
                f"per-trial latency at trial ~{levels[-1]} vs ~{levels[0]}, {workers} workers",
                "reported (PostgreSQL direct vs gRPC proxy, against plain Optuna workers)",
                "; ".join(
                    f"{w}, {s}: {figures[(w, s, levels[0])].median:.0f} -> "
                    f"{figures[(w, s, levels[-1])].median:.0f} ms"
                    for s in ("PostgreSQL", "gRPC proxy")
                    for w in ("hydratune", "plain Optuna")
                ),
                None,
            ),
            *(
                target(
                    f"{workers} workers on {storage}: hydratune / plain Optuna, per trial",
                    f"<= {goal}x at ~{levels[0]} and ~{levels[-1]} trials",
                    ", ".join(ratio[(storage, level)].text(2, "x") for level in levels),
                    all(ratio[(storage, level)].median <= goal for level in levels),
                    WHY_SLOWER[storage],
                )
                for storage, goal in (("PostgreSQL", 1.2), ("gRPC proxy", 1.3))
            ),
        ],
        "raw": {
            "figures": {f"{w}|{s}|{lv}": fig for (w, s, lv), fig in figures.items()},
            "workers": workers,
            "per_worker": per_worker,
            "repetitions": reps,
            "ratios": {f"{s}|{lv}": r for (s, lv), r in ratio.items()},
            "startups": {f"{w}|{s}": Figure.of(v) for (w, s), v in startups.items()},
        },
    }


if __name__ == "__main__":
    module_main(TITLE, run)
