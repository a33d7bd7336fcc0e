"""Issue 26: the architecture space against today's fixed-depth space, at equal budget,
through the CLI.

Each run is ``hydratune -m`` in a fresh directory: ``sweep=mlp_blocks`` (1-4 blocks, each with
its own width, activation and dropout, a 3-node cell, the learning rate) against
``sweep=mlp_digits model.n_layers=2`` (one width and dropout for two layers, the learning rate
and weight decay), the same data, epochs, trials and sampler seed; scored by the best val/acc
of each sweep (mean and per seed).

Sized at 12 trials x 6 epochs x 3 seeds on digits and breast_cancer (about 14 min on 2 shared
cores); ``--quick``: 2 trials x 1 epoch, one seed, digits only, to check it runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import optuna

from bench.common import md_table, module_main, progress, target

TITLE = "Architecture spaces against a fixed-depth space"
ARCHITECTURE, FIXED = "architecture", "fixed depth"
SPACES = {
    ARCHITECTURE: ["sweep=mlp_blocks"],
    FIXED: ["sweep=mlp_digits", "model.n_layers=2"],
}
DESCRIBED = {
    ARCHITECTURE: "architecture (`sweep=mlp_blocks`: 1-4 blocks of own width/activation/dropout,"
    " a 3-node cell, lr)",
    FIXED: "fixed depth (`sweep=mlp_digits model.n_layers=2`: width, dropout, lr, weight decay)",
}


def best(cwd: Path, study: str) -> tuple[float, int, list[int]]:
    """The study's best value, its trial count and each trial's number of active parameters."""
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(cwd / "outputs" / "hydratune.journal"))
    )
    loaded = optuna.load_study(study_name=study, storage=storage)
    return loaded.best_value, len(loaded.trials), [len(t.params) for t in loaded.trials]


def sweep_best(space: list[str], data: str, seed: int, trials: int, epochs: int) -> dict:
    """One ``hydratune -m`` sweep in a fresh directory: its best val/acc and active parameters."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [str(Path(sys.executable).with_name("hydratune")), "-m", *space]
        command += [f"data={data}", f"seed={seed}", f"trainer.max_epochs={epochs}"]
        command += [f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.sampler.seed={seed}"]
        command += ["hydra.sweeper.study_name=s", "hydra.sweeper.report=false"]
        command += ["hydra.sweeper.progress=false", "hydra.sweeper.export_best=false"]
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        value, count, active = best(Path(tmp), "s")
        assert count == trials, (count, trials)
        return {"best": value, "active": active}


def run(quick: bool) -> dict[str, Any]:
    trials, epochs = (2, 1) if quick else (12, 6)
    seeds = range(1) if quick else range(3)
    datasets = ["digits"] if quick else ["digits", "breast_cancer"]
    runs: dict[str, dict[str, list[dict]]] = {d: {name: [] for name in SPACES} for d in datasets}
    for data in datasets:
        for seed in seeds:  # the two spaces interleaved within each seed
            for name, space in SPACES.items():
                progress(f"architecture: {data}, seed {seed}, {name}")
                runs[data][name].append(sweep_best(space, data, seed, trials, epochs))
    rows, readings = [], []
    for data, by_space in runs.items():
        for name, cells in by_space.items():
            values = [c["best"] for c in cells]
            shown = ", ".join(f"{v:.4f}" for v in values)
            label = DESCRIBED[name] if data == datasets[0] else name
            rows.append([data, label, f"{statistics.mean(values):.4f}", shown])
        readings.append(reading(data, by_space))
    active = {
        name: sorted({a for by_space in runs.values() for c in by_space[name] for a in c["active"]})
        for name in SPACES
    }
    means = {
        d: {n: statistics.mean(c["best"] for c in cs) for n, cs in s.items()}
        for d, s in runs.items()
    }
    md = [
        f"Each cell is a `hydratune -m` sweep through the CLI ({trials} trials x {epochs} epochs,"
        f" seeds 0-{len(seeds) - 1}, TPE seeded per run); best val/acc of the sweep.",
        "",
        md_table(["data", "space", "mean", "per seed"], rows),
        "",
        f"At {trials} trials: " + "; ".join(readings) + ". Active parameters per trial:"
        f" {_span(active[ARCHITECTURE])} in the architecture space against"
        f" {_span(active[FIXED])} in the fixed one, so TPE is longer in its random start-up on"
        " the larger space"
        + (
            ""
            if any(m[ARCHITECTURE] > m[FIXED] for m in means.values())
            else "; a budget where the architecture space wins was not measured"
        )
        + ".",
    ]
    targets = [
        target(
            "architecture space vs fixed depth (issue 26: measured, no target)",
            "best val/acc at equal budget",
            ", ".join(f"{d}: {m[ARCHITECTURE]:.4f} vs {m[FIXED]:.4f}" for d, m in means.items()),
            None,
        )
    ]
    raw = {"trials": trials, "epochs": epochs, "seeds": len(seeds), "runs": runs}
    return {"markdown": "\n".join(md), "targets": targets, "raw": raw}


def reading(data: str, by_space: dict[str, list[dict]]) -> str:
    """How the architecture space fared against the fixed one on one data set."""
    arch = [c["best"] for c in by_space[ARCHITECTURE]]
    fixed = [c["best"] for c in by_space[FIXED]]
    points = 100 * (statistics.mean(arch) - statistics.mean(fixed))
    if abs(points) < 0.05:
        return f"on {data} both spaces reach the same mean accuracy"
    below = sum(v < min(fixed) for v in arch)
    verb = "leads" if points > 0 else "trails"
    return (
        f"on {data} the architecture space {verb} the fixed-depth space by {abs(points):.1f}"
        f" points ({below} of its {len(arch)} seeds below the fixed space's worst)"
    )


def _span(values: list[int]) -> str:
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


if __name__ == "__main__":
    module_main(TITLE, run)
