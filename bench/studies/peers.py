"""Issue 8 (peers): hydratune vs plain Optuna vs Hydra's stock hydra-optuna-sweeper 1.3.0.

The same no-op objective and search space (``bench/conf/noop.yaml``), TPE with seed 0, one
trial at a time, in-memory storage for all (the stock sweeper's default; ours with
``storage=memory``). The stock sweeper pins ``optuna<3``, so it is installed by this benchmark
into a throwaway virtualenv (never into ``.venv``) with the same hydra-core as ours, and run
there through a subprocess (``bench/studies/peer_app.py``); its own baseline is a plain loop of the
Optuna it brings (``bench/plain_loop.py``) in that virtualenv. Per-trial ms at N = first ask to
N-th tell over N, from the per-trial timestamps of one run of N_max trials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lightning  # noqa: F401  (as in overhead: a process that has imported Lightning)
import torch  # noqa: F401

from bench.common import (
    REPO,
    Figure,
    columns,
    fresh_cwd,
    interleave,
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
from bench.plain_loop import run_plain_loop
from bench.tasks import LOG, noop

TITLE = "Peers: hydratune vs plain Optuna vs hydra-optuna-sweeper 1.3.0"
PEER = "hydra-optuna-sweeper==1.3.0"
PEER_VENV = Path(tempfile.gettempdir()) / "hydratune-bench-peer-venv"
GROWTH_TARGET = 1.2


def ensure_peer_venv(timeout: float) -> tuple[Path | None, str]:
    """The stock sweeper's virtualenv (reused when it already works); (python, note)."""
    python = PEER_VENV / "bin" / "python"
    check = [str(python), "-c", "import hydra_plugins.hydra_optuna_sweeper, optuna"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, f"reused {PEER_VENV}"
    hydra_core = f"hydra-core=={version('hydra-core')}"  # only the sweeper differs
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(PEER_VENV)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            PEER,
            hydra_core,
        ],
    ]
    progress(f"peers: installing {PEER} {hydra_core} into {PEER_VENV}")
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0:
                return None, f"`{' '.join(step)}` failed: {done.stderr.strip()[-500:]}"
    except subprocess.TimeoutExpired:
        return None, f"installing {PEER} took over {timeout:.0f}s"
    return python, f"installed into {PEER_VENV}"


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def ours(n: int) -> dict[str, Any]:
    with fresh_cwd():
        LOG.reset()
        run = sweep([f"hydra.sweeper.n_trials={n}", "hydra.sweeper.storage=memory"], noop, "noop")
        run.check()
        return record(run.start, run.end, timeline(LOG.study.trials, LOG.times))


def plain(n: int) -> dict[str, Any]:
    run = run_plain_loop(n, seed=0)
    return record(run["start"], run["end"], run["trials"])


def in_peer_venv(python: Path, n: int, app: bool) -> dict[str, Any]:
    """The stock sweeper (``app``) or the plain loop, in the peer's virtualenv."""
    with fresh_cwd() as cwd:
        out = cwd / "timeline.json"
        if app:
            command = [
                str(python),
                str(REPO / "bench" / "studies" / "peer_app.py"),
                "-m",
                "hydra/sweeper=optuna",
                f"hydra.sweeper.n_trials={n}",
                "hydra.sweeper.n_jobs=1",
            ]
            env = {**_child_env(), "BENCH_TIMELINE": str(out)}
        else:
            command = [str(python), "-m", "bench.plain_loop", "--n", str(n), "--json", str(out)]
            env = _child_env()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        run = json.loads(out.read_text())
    return record(run["start"], run["end"], run["trials"], optuna=run["optuna"])


def run(quick: bool) -> dict[str, Any]:
    threads = pin_threads(1)
    n, windows, reps = (100, [100], 1) if quick else (2000, [100, 1000, 2000], 2)
    python, install_note = ensure_peer_venv(timeout=120 if quick else 400)
    contenders = {"hydratune": lambda: ours(n), "plain Optuna": lambda: plain(n)}
    if python is not None:
        contenders["hydra-optuna-sweeper"] = lambda: in_peer_venv(python, n, app=True)
        contenders["plain Optuna (peer's)"] = lambda: in_peer_venv(python, n, app=False)
    ours(20), plain(20)  # warm-up
    results = interleave(contenders, reps, f"peers {n} trials")

    ms = {
        name: {w: [per_trial_ms(r["rows"], w) for r in runs] for w in windows}
        for name, runs in results.items()
    }
    baseline = {"hydratune": "plain Optuna", "hydra-optuna-sweeper": "plain Optuna (peer's)"}
    table = []
    for name in results:
        base = baseline.get(name)
        for w in windows:
            ratio = ratios(ms[name][w], ms[base][w]).text(2, "x") if base else ""
            table.append([name, w, Figure.of(ms[name][w]).text(1), ratio])
    first, last = windows[0], windows[-1]
    growth = {
        name: Figure.of([b / a for a, b in zip(m[first], m[last], strict=True)])
        for name, m in ms.items()
    }
    growth_vs = ratios(
        [b / a for a, b in zip(ms["hydratune"][first], ms["hydratune"][last], strict=True)],
        [b / a for a, b in zip(ms["plain Optuna"][first], ms["plain Optuna"][last], strict=True)],
    )
    over = {
        w: [a - b for a, b in zip(ms["hydratune"][w], ms["plain Optuna"][w], strict=True)]
        for w in windows
    }
    startup = {
        name: Figure.of([one_off_ms(r)["before"] for r in runs]) for name, runs in results.items()
    }
    versions = {name: runs[0].get("optuna", version("optuna")) for name, runs in results.items()}

    md = [
        f"Threads: {threads}. Peer: {install_note}."
        if python
        else f"**Peer skipped**: {install_note}. Below: hydratune vs plain Optuna only.",
        f"Optuna versions: {', '.join(f'{k}: {v}' for k, v in versions.items())}. "
        f"{reps} interleaved repetition(s) of one {n}-trial run per contender; the figure at N"
        " is the first N trials of that run.",
        "",
        md_table(["contender", "trials", "ms/trial", "ratio to its plain Optuna"], table),
        "",
    ]
    targets = []
    if len(windows) > 1:
        md += [
            f"Growth of per-trial ms from {first} to {last} trials (TPE's own cost grows):",
            "",
            md_table(
                ["contender", f"ms/trial at {last} over at {first}"],
                [[k, v.text(2, "x")] for k, v in growth.items()],
            ),
            "",
            f"hydratune's growth over plain Optuna's growth: {growth_vs.text(2, 'x')}. hydratune's"
            " ms/trial above plain Optuna: "
            + ", ".join(f"{w}: {Figure.of(v).text(1)}" for w, v in over.items())
            + ".",
        ]
        met = growth_vs.median <= GROWTH_TARGET
        why = (
            ""
            if met
            else (
                f"hydratune's extra ms/trial grows from {Figure.of(over[first]).text(1)} at {first}"
                f" to {Figure.of(over[last]).text(1)} at {last}: per-trial work that scales with"
                " the study's size (see the overhead profile)."
            )
        )
        targets.append(
            target(
                "growth",
                f"hydratune's growth {first}->{last} <= {GROWTH_TARGET}x plain Optuna's",
                growth_vs.text(2, "x"),
                met,
                why,
            )
        )
    else:
        targets.append(
            target(
                "growth",
                f"<= {GROWTH_TARGET}x plain Optuna's growth",
                "not measured in --quick (one size only)",
                None,
            )
        )
    md.append(
        "One-off set-up before the first ask (compose, sweeper, study; the peer's counted from"
        " its main() call, after its imports): "
        + ", ".join(f"{k}: {v.text(0)} ms" for k, v in startup.items())
        + "."
    )
    return {
        "markdown": "\n".join(md),
        "targets": targets,
        "raw": {
            "threads": threads,
            "peer": install_note,
            "versions": versions,
            "ms_per_trial": ms,
            "growth": growth,
            "startup_ms": startup,
            "runs": {k: [columns(r) for r in rs] for k, rs in results.items()},
        },
    }


if __name__ == "__main__":
    module_main(TITLE, run)
