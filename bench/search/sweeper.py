"""BBOB through the real sweeper: ``sampler: auto`` in an in-process ``-m`` sweep (Hydra's
multirun, hydratune's sweeper, a journal file, one job per trial) against the same search in a
side loop (``study.ask``/``tell``, as the other suites run it), seed for seed.

The sweep must lose nothing: the same parameters trial for trial, so the same best values.
The sweep's extra wall time per trial (job configs, output dirs, the journal) is reported.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.common import fresh_cwd, load_study, module_main, sweep, target
from bench.search import bbob
from bench.search.contenders import run_contender

SIZES = {"quick": ([1], 2, 6), "subset": ([1, 8, 15, 21], 2, 20), "full": ([1, 8, 15, 21], 5, 50)}


def _task(fid: int, dim: int) -> Any:
    _, evaluate, _ = bbob.make((fid, dim, 1))
    return lambda cfg: evaluate({f"x{i}": cfg[f"x{i}"] for i in range(dim)})


def run(size: str) -> dict[str, Any]:
    functions, dim, budget = SIZES[size]
    params = [f"x{i}=interval(-5.0, 5.0)" for i in range(dim)]  # searched, as on a command line
    rows, same, seconds = [], 0, []
    for fid in functions:
        with fresh_cwd() as cwd:
            start = time.perf_counter()
            sweep(
                [
                    f"fid={fid}",
                    f"dim={dim}",
                    f"hydra.sweeper.n_trials={budget}",
                    *params,
                ],
                _task(fid, dim),
                "bbob",
            ).check()
            swept_s = time.perf_counter() - start
            trials = load_study(cwd).trials
        space, evaluate, optimum = bbob.make((fid, dim, 1))
        start = time.perf_counter()
        values, _ = run_contender("auto", space, evaluate, budget, 0)
        side_s = time.perf_counter() - start
        swept = [t.value for t in trials]
        same += swept == values
        seconds.append((swept_s - side_s) / budget)
        rows.append(
            f"| f{fid} d={dim} | {min(swept) - optimum:.4g} | {min(values) - optimum:.4g} |"
            f" {'yes' if swept == values else 'no'} | {swept_s:.1f} | {side_s:.1f} |"
        )
    md = [
        f"Size **{size}**: BBOB functions {functions}, d={dim}, instance 1, {budget} trials,"
        " seed 0, `sampler: auto` (no sampler named in `bench/conf/bbob.yaml`).",
        "",
        "| problem | sweep: best regret | side loop: best regret | same values, trial for trial"
        " | sweep s | side loop s |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "The sweep's extra wall time per trial, its start (Hydra, the journal) included:"
        f" median {statistics.median(seconds) * 1000:.0f} ms.",
    ]
    return {
        "markdown": "\n".join(md),
        "targets": [
            target(
                "sweeper vs side loop: the same search",
                "same values trial for trial",
                f"{same}/{len(functions)} problems",
                same == len(functions),
                "the sweep drew other parameters than the side loop",
            )
        ],
        "raw": {"same": same, "extra_s_per_trial": seconds},
    }


if __name__ == "__main__":
    module_main("BBOB through the real sweeper (auto)", run, sizes=SIZES)
