"""What MLflow tracking costs per trial: the same Lightning sweep with ``logger=csv`` and with
``logger=mlflow``, into the local store (SQLite under ``outputs/``) and into a server.

    .venv/bin/python -m bench.tracking            # 12 trials x 3 repetitions per contender
    .venv/bin/python -m bench.tracking --quick    # 2 trials of 1 epoch x 1: checks it runs

Contenders run interleaved (csv, local, server, csv, ...) in this process with the in-process
launcher, each sweep in a fresh working directory. Per-trial cost is read from the study: first
ask to last tell over the trials (``per_trial_ms``); what a sweep pays once (opening the store,
the parent run, the sweep's artifacts at the end) is reported apart. The server is a real
``mlflow server`` on 127.0.0.1 with a SQLite backend, started here as the tests start it, or
the one ``HYDRATUNE_BENCH_MLFLOW_URL`` names.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from bench.common import (
    APP_CONF,
    REPO,
    Figure,
    fresh_cwd,
    interleave,
    load_study,
    md_table,
    module_main,
    one_off_ms,
    per_trial_ms,
    pin_threads,
    progress,
    ratios,
    record,
    sweep,
    target,
    timeline,
)

CONTENDERS = ("csv", "mlflow (local store)", "mlflow (server)")
MLFLOW_URL = "HYDRATUNE_BENCH_MLFLOW_URL"  # a running server to use instead of starting one


@contextlib.contextmanager
def tracking_server() -> Iterator[str]:
    """The URL of the server ``MLFLOW_URL`` names (the tests pass theirs: starting one is most
    of a quick run), else of one started here, as the tests start theirs."""
    if MLFLOW_URL in os.environ:
        yield os.environ[MLFLOW_URL]
        return
    sys.path.insert(0, str(REPO / "tests"))
    from services import mlflow_server

    with mlflow_server() as server:
        yield server.url


def _sweep_with(logger: str, tracking_uri: str | None, n_trials: int, epochs: int) -> dict:
    from hydratune.training.task import train

    overrides = [
        "sweep=mlp_digits",
        f"logger={logger}",
        f"hydra.sweeper.n_trials={n_trials}",
        f"trainer.max_epochs={epochs}",
    ]
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    if tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    try:
        with fresh_cwd() as cwd:
            run = sweep(overrides, train, "train", APP_CONF).check()
            rows = timeline(load_study(cwd).trials)
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return record(run.start, run.end, rows)


def run(quick: bool) -> dict[str, Any]:
    threads = pin_threads(1)
    n_trials, epochs, reps = (2, 1, 1) if quick else (12, 5, 3)
    with tracking_server() as url:
        progress(f"mlflow server at {url}")
        contenders = {
            "csv": lambda: _sweep_with("csv", None, n_trials, epochs),
            "mlflow (local store)": lambda: _sweep_with("mlflow", None, n_trials, epochs),
            "mlflow (server)": lambda: _sweep_with("mlflow", url, n_trials, epochs),
        }
        runs = interleave(contenders, reps, "tracking")

    per_trial = {
        name: [per_trial_ms(r["rows"], n_trials) for r in results] for name, results in runs.items()
    }
    once = {name: [one_off_ms(r) for r in results] for name, results in runs.items()}
    rows, raw = [], {"per_trial_ms": per_trial, "one_off_ms": once}
    for name in CONTENDERS:
        extra = [a - b for a, b in zip(per_trial[name], per_trial["csv"], strict=True)]
        rows.append(
            [
                name,
                Figure.of(per_trial[name]).text(0, " ms"),
                ratios(per_trial[name], per_trial["csv"]).text(2, "x"),
                Figure.of(extra).text(0, " ms") if name != "csv" else "-",
                Figure.of([o["before"] for o in once[name]]).text(0, " ms"),
                Figure.of([o["after"] for o in once[name]]).text(0, " ms"),
            ]
        )
    server_ratio = ratios(per_trial["mlflow (server)"], per_trial["csv"])
    local_ratio = ratios(per_trial["mlflow (local store)"], per_trial["csv"])
    note = (
        f"{n_trials} trials of the digits MLP (`sweep=mlp_digits`, {epochs} epochs), "
        f"{reps} interleaved repetition(s) per contender, in-process launcher; threads: {threads}"
    )
    markdown = "\n\n".join(
        [
            note,
            md_table(
                [
                    "logger",
                    "per trial",
                    "vs csv",
                    "MLflow's cost per trial",
                    "once before the first trial",
                    "once after the last",
                ],
                rows,
            ),
        ]
    )
    targets = [
        target(
            f"MLflow's cost per trial, {where}",
            "reported (issue 17 sets no goal)",
            f"{ratio.text(2, 'x')} the csv logger's time per trial",
            None,
        )
        for where, ratio in (("server", server_ratio), ("local store", local_ratio))
    ]
    return {"markdown": markdown, "targets": targets, "raw": raw}


if __name__ == "__main__":
    module_main("MLflow tracking cost", run)
