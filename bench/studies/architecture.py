"""Architecture space against today's fixed-depth space, at equal budget, through the CLI.

    .venv/bin/python -m bench.studies.architecture            # digits + breast_cancer, 3 seeds
    .venv/bin/python -m bench.studies.architecture --trials 12 --epochs 6

Each run is ``hydratune -m`` in a fresh directory: ``sweep=mlp_blocks`` (1-4 blocks, each with
its own width, activation and dropout, a 3-node cell, the learning rate) against
``sweep=mlp_digits model.n_layers=2`` (one width and dropout for two layers, the learning rate
and weight decay), the same data, epochs, trials and sampler seed. Prints a Markdown table of
the best val/acc per data set and space (mean and range over seeds). Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

SPACES = {
    "architecture (blocks + cell)": ["sweep=mlp_blocks"],
    "fixed depth (n_layers=2)": ["sweep=mlp_digits", "model.n_layers=2"],
}


def best(cwd: Path, study: str) -> tuple[float, int]:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(cwd / "outputs" / "hydratune.journal"))
    )
    loaded = optuna.load_study(study_name=study, storage=storage)
    return loaded.best_value, len(loaded.trials)


def run(space: list[str], data: str, seed: int, trials: int, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        command = [str(Path(sys.executable).with_name("hydratune")), "-m", *space]
        command += [f"data={data}", f"seed={seed}", f"trainer.max_epochs={epochs}"]
        command += [f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.sampler.seed={seed}"]
        command += ["hydra.sweeper.study_name=s", "hydra.sweeper.report=false"]
        command += ["hydra.sweeper.progress=false", "hydra.sweeper.export_best=false"]
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        value, count = best(Path(tmp), "s")
        assert count == trials, (count, trials)
        return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", default="digits,breast_cancer")
    args = parser.parse_args()
    start = time.monotonic()
    print(f"{args.trials} trials x {args.epochs} epochs, seeds 0..{args.seeds - 1}; best val/acc")
    print("\n| data | space | mean | per seed |\n|---|---|---|---|")
    for data in args.data.split(","):
        for name, space in SPACES.items():
            values = [run(space, data, s, args.trials, args.epochs) for s in range(args.seeds)]
            per_seed = ", ".join(f"{v:.4f}" for v in values)
            print(f"| {data} | {name} | {statistics.mean(values):.4f} | {per_seed} |", flush=True)
    print(f"\n{time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
