"""The no-op app for Hydra's stock hydra-optuna-sweeper, run in its own virtualenv by
``bench.studies.peers`` (it imports neither hydratune nor torch)::

    BENCH_TIMELINE=out.json python bench/studies/peer_app.py -m hydra/sweeper=optuna \
        hydra.sweeper.n_trials=100 hydra.sweeper.n_jobs=1

It composes ``bench/conf/noop.yaml`` (same params, seed and direction as ours) and writes each
trial's timestamps to ``$BENCH_TIMELINE``: asked/told by wrapping ``Study.ask``/``Study.tell``
(the stock sweeper uses ask-and-tell), started/finished by the task itself.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `bench` from a plain script

import hydra  # noqa: E402
import optuna  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from bench.objectives import noop_value  # noqa: E402

ASKED: list[float] = []
TOLD: list[float] = []
RUNS: list[tuple[float, float]] = []


def _timed(method, stamps: list[float], after: bool):  # noqa: ANN001, ANN202
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not after:
            stamps.append(time.time())
        result = method(*args, **kwargs)
        if after:
            stamps.append(time.time())
        return result

    return wrapper


optuna.study.Study.ask = _timed(optuna.study.Study.ask, ASKED, after=False)
optuna.study.Study.tell = _timed(optuna.study.Study.tell, TOLD, after=True)


@hydra.main(version_base="1.3", config_path="../conf", config_name="noop")
def main(cfg: DictConfig) -> float:
    started = time.time()
    value = noop_value(cfg.x, cfg.y, cfg.kind)
    RUNS.append((started, time.time()))
    return value


if __name__ == "__main__":
    start = time.time()
    try:
        main()
    finally:
        trials = [
            {"number": i, "asked": a, "started": s, "finished": f, "told": t}
            for i, (a, (s, f), t) in enumerate(zip(ASKED, RUNS, TOLD, strict=False))
        ]
        timeline = {
            "start": start,
            "end": time.time(),
            "trials": trials,
            "optuna": optuna.__version__,
            "hydra": hydra.__version__,
        }
        Path(os.environ["BENCH_TIMELINE"]).write_text(json.dumps(timeline))
