"""Issue 18: what polling the study for steering actions costs per trial.

The sweep loop reads the study's user attributes once before each ask (``LoopSteering.poll``)
so that ``hydratune steer`` reaches every worker within one trial. Three contenders run the
no-op sweep of ``bench/conf/noop.yaml`` (TPE, seed 0, the default journal file), interleaved
in one process:

- *no polling*: the same loop with ``poll`` answering from memory (no storage read);
- *polling*: the loop as shipped, the study holding no steering action;
- *polling, K actions*: the same, with K steering actions in the study before the sweep
  (fix/unfix pairs and an ``n_trials`` equal to the sweep's, so the trials are the same).

Figures: the time spent inside ``poll`` per trial (timed around every call, in the real
sweeps), and the sweep's per-trial time (first ask to last tell over N) of each contender
over the no-polling one, as a median ratio over the interleaved repetitions.

An RDB storage takes another path (a count of steering keys first), timed on ``poll`` alone:
in SQLite, or in the database ``HYDRATUNE_BENCH_RDB_URL`` names (e.g. a PostgreSQL URL).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna

from bench.common import (
    STUDY,
    Figure,
    fresh_cwd,
    interleave,
    load_study,
    md_table,
    module_main,
    per_trial_ms,
    ratios,
    sweep,
    target,
    timeline,
)
from bench.tasks import noop
from hydratune.space.search_space import parse_search_space
from hydratune.steering import LoopSteering, write_action
from hydratune.storage import open_storage, storage_url

TITLE = "Steering: polling the study for steering actions, per trial (issue 18)"
TARGET_MS = 1.0


@contextmanager
def timed_poll(enabled: bool) -> Iterator[dict[str, float]]:
    """Time every ``LoopSteering.poll`` call; with ``enabled=False`` it reads nothing."""
    original: Callable[..., Any] = LoopSteering.poll
    stats = {"calls": 0, "seconds": 0.0}

    def poll(self: LoopSteering) -> Any:
        start = time.perf_counter()
        state = original(self) if enabled else self.state
        stats["seconds"] += time.perf_counter() - start
        stats["calls"] += 1
        return state

    LoopSteering.poll = poll  # type: ignore[method-assign]
    try:
        yield stats
    finally:
        LoopSteering.poll = original  # type: ignore[method-assign]


def seed_actions(n_trials: int, k: int, study: optuna.Study | None = None) -> None:
    """Create the study with ``k`` steering actions that leave its trials as they would be."""
    study = study or optuna.create_study(
        study_name=STUDY, storage=open_storage(storage_url(None, ".")), direction="minimize"
    )
    for i in range(max(0, k - 1) // 2):
        write_action(study, "fix", {"params": {"x": i / 10}}, f"fix x={i / 10}", 0)
        write_action(study, "unfix", {"keys": ["x"]}, "unfix x", 0)
    write_action(study, "n_trials", {"n_trials": n_trials}, f"n_trials {n_trials}", 0)


def contender(n: int, polling: bool, actions: int) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        with fresh_cwd() as cwd:
            if actions:
                seed_actions(n, actions)
            with timed_poll(polling) as stats:
                sweep([f"hydra.sweeper.n_trials={n}"], noop, "noop").check()
            trials = load_study(cwd).trials
            state = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
            assert len(state) == n, f"{len(state)} of {n} trials complete"
            steered = load_study(cwd).user_attrs
            rows = timeline(trials)
        return {
            "per_trial_ms": per_trial_ms(rows, n),
            "poll_ms_per_trial": 1000 * stats["seconds"] / n,
            "polls_per_trial": stats["calls"] / n,
            "actions_in_study": sum(k.startswith("steer:") for k in steered),
        }

    return run


def rdb_poll_ms(url: str, k: int, calls: int) -> Figure:
    """``poll`` alone on a study in an RDB storage holding ``k`` steering actions."""
    name = f"steering-bench-{time.time_ns()}-{k}"
    study = optuna.create_study(study_name=name, storage=open_storage(url))
    seed_actions(10, k, study)
    steering = LoopSteering(study, parse_search_space({"x": "interval(-5, 5)"}, []), 10)
    steering.poll()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        steering.poll()
        times.append(1000 * (time.perf_counter() - start))
    optuna.delete_study(study_name=name, storage=open_storage(url))
    return Figure(statistics.median(times), min(times), max(times), len(times))


def run(quick: bool) -> dict[str, Any]:
    n, reps, k = (20, 1, 21) if quick else (200, 5, 101)  # k odd: fix/unfix pairs + n_trials
    contenders = {
        "no polling": contender(n, False, 0),
        "polling": contender(n, True, 0),
        f"polling, {k} actions": contender(n, True, k),
    }
    results = interleave(contenders, reps, "steering")
    base = [r["per_trial_ms"] for r in results["no polling"]]
    rows, figures = [], {}
    for name, runs in results.items():
        poll = Figure.of([r["poll_ms_per_trial"] for r in runs])
        per_trial = Figure.of([r["per_trial_ms"] for r in runs])
        ratio = ratios([r["per_trial_ms"] for r in runs], base)
        figures[name] = {"poll_ms": poll, "per_trial_ms": per_trial, "ratio": ratio}
        rows.append(
            [
                name,
                runs[0]["actions_in_study"],
                f"{runs[0]['polls_per_trial']:.2f}",
                poll.text(3, " ms"),
                per_trial.text(2, " ms"),
                ratio.text(3, "x"),
            ]
        )
    url = os.environ.get("HYDRATUNE_BENCH_RDB_URL")
    with tempfile.TemporaryDirectory() as scratch:
        url = url or f"sqlite:///{scratch}/steering.db"
        rdb = {actions: rdb_poll_ms(url, actions, 50 if quick else 500) for actions in (0, k)}
    rdb_rows = [
        [url.split(":")[0], a, f.text(3, " ms")]
        for a, f in rdb.items()  # the kind, no URL
    ]
    worst = max(
        *(figures[name]["poll_ms"].median for name in contenders if name != "no polling"),
        *(f.median for f in rdb.values()),
    )
    markdown = "\n\n".join(
        [
            f"No-op sweep of {n} trials (TPE seed 0, journal file), {reps} interleaved "
            "repetitions; median (min-max).",
            md_table(
                [
                    "contender",
                    "steering actions in the study",
                    "polls per trial",
                    "time in poll per trial",
                    "sweep per trial",
                    "vs no polling",
                ],
                rows,
            ),
            "`poll` alone on an RDB storage (one call per trial), median (min-max) over the calls:",
            md_table(["storage", "steering actions in the study", "poll"], rdb_rows),
        ]
    )
    return {
        "markdown": markdown,
        "targets": [
            target(
                "steering poll per trial",
                f"<= {TARGET_MS} ms per trial, with and without steering actions",
                f"{worst:.3f} ms (worst median)",
                worst <= TARGET_MS,
                "" if worst <= TARGET_MS else "the poll reads more than the target allows",
            )
        ],
        "raw": {
            "n_trials": n,
            "reps": reps,
            "actions": k,
            "runs": results,
            "figures": figures,
            "rdb_poll_ms": {str(a): f for a, f in rdb.items()},
        },
    }


if __name__ == "__main__":
    module_main(TITLE, run)
