"""The baseline: a plain Optuna ask/tell loop over the no-op objective, timestamped per trial.

Works with Optuna 2.x (the stock hydra-optuna-sweeper's) and 4+/5 (ours), so the same loop
is the baseline in both virtualenvs: ``python -m bench.plain_loop --n 100 --json out.json``.
The search space mirrors ``bench/conf/noop.yaml`` (``bench.overhead`` checks that it does).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import optuna

from bench.objectives import noop_value


def noop_space() -> dict[str, Any]:
    """x: interval(-5, 5), y: range(-4, 5) (stop excluded), kind: choice(a, b, c)."""
    dist = optuna.distributions
    if hasattr(dist, "FloatDistribution"):
        x, y = dist.FloatDistribution(-5.0, 5.0), dist.IntDistribution(-4, 4)
    else:  # Optuna 2.x
        x, y = dist.UniformDistribution(-5.0, 5.0), dist.IntUniformDistribution(-4, 4)
    return {"x": x, "y": y, "kind": dist.CategoricalDistribution(("a", "b", "c"))}


def open_storage(storage: str | None) -> Any:
    """None: in memory; a path: a journal file (Optuna >= 3.1), as hydratune's default."""
    if storage is None:
        return None
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(storage))


def run_plain_loop(
    n_trials: int, seed: int = 0, storage: str | None = None, **tpe: Any
) -> dict[str, Any]:
    """TPE(seed, **tpe) ask/tell for ``n_trials``; per-trial ``asked``/``told`` epoch seconds."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = noop_space()
    start = time.time()
    study = optuna.create_study(
        storage=open_storage(storage),
        study_name="noop",
        sampler=optuna.samplers.TPESampler(seed=seed, **tpe),
        direction="minimize",
    )
    trials = []
    for _ in range(n_trials):
        asked = time.time()
        trial = study.ask(space)
        params = trial.params
        value = noop_value(params["x"], params["y"], params["kind"])
        study.tell(trial, value)
        trials.append(
            {
                "number": trial.number,
                "asked": asked,
                "told": time.time(),
                "params": params,
                "value": value,
            }
        )
    return {"start": start, "end": time.time(), "trials": trials, "optuna": optuna.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    with open(args.json, "w") as out:
        json.dump(run_plain_loop(args.n, args.seed), out)


if __name__ == "__main__":
    main()
