"""Issue 24: checkpointed schedules against TPE with and without pruning, at an equal epoch budget.

Contenders on the digits CNN (val/loss minimised, TPE seeded per run, one trial at a time):
TPE without pruning, TPE + median, TPE + successive halving (Optuna's pruners, as today),
hydratune ASHA with promotion (eta 3: rungs at 1, 3 and 9 epochs) and hydratune PBT
(population 8, 3 epochs per run, explore lr and activation). Each sweep stops when its
epoch budget is spent (``bench.tasks.EPOCHS``), or at PBT's natural end. Scored as the pruning
study scores (``bench.studies.pruning.summarise``): epochs until a reported loss first reaches
the target (the worst seed's best TPE loss) and the best loss within the budget.

Sized for <= 15 min of CPU on 2 cores (``--quick``: one seed, a small budget, to check it runs).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import APP_CONF, CNN, Figure, module_main, pin_threads, progress, target
from bench.studies.pruning import real_cnn, saving_text, section, summarise

TITLE = "Schedules: ASHA and PBT from checkpoints against TPE and its pruners"
EPOCHS_PER_RUN = 9
CONTENDERS: dict[str, list[str]] = {
    "nop": [],  # TPE without pruning: the baseline every saving is measured against
    "median": ["hydra/sweeper/pruner=median"],
    "successive_halving": ["hydra/sweeper/pruner=successive_halving"],
    "asha": ["hydra/sweeper/scheduler=asha", "hydra.sweeper.scheduler.eta=3"],
    "pbt": [
        "hydra/sweeper/scheduler=pbt",
        "hydra.sweeper.scheduler.population=8",
        "hydra.sweeper.scheduler.explore=[model.optimizer.lr,model.activation]",
    ],
}


def contender(name: str, seed: int, budget: int, epochs: int) -> dict[str, Any]:
    extra = [*CONTENDERS[name]]
    if name == "pbt":  # three runs of a third of the epochs per member
        interval = max(1, epochs // 3)
        extra += [
            f"hydra.sweeper.scheduler.seed={seed}",
            f"hydra.sweeper.scheduler.perturbation_interval={interval}",
        ]
    pruner = "nop" if name in ("asha", "pbt", "nop") else None
    if pruner is None:  # a pruner contender names its pruner in `extra`
        extra, pruner = extra[1:], extra[0].split("=")[1]
    return real_cnn(pruner, seed, budget, epochs, extra)


def checkpoint_cost(repeats: int = 3, epochs: int = 3) -> dict[str, Any]:
    """What a pause and a continuation cost a run of the digits CNN: runs of ``epochs`` epochs
    plain, saving a checkpoint at the end, and continuing from one, interleaved ``repeats``
    times; the extra seconds over a plain run's, as a share of it."""
    from hydra import compose, initialize_config_dir

    from hydratune.training.task import train

    base = [o for o in CNN if not o.startswith(("sweep=", "hydra."))]

    def timed(*overrides: str) -> float:
        with initialize_config_dir(config_dir=str(APP_CONF), version_base="1.3"):
            cfg = compose("train", overrides=[*base, f"paths.output_dir={folder}", *overrides])
        start = time.perf_counter()
        train(cfg)
        return time.perf_counter() - start

    seconds: dict[str, list[float]] = {"plain": [], "save": [], "continue": []}
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder, "last.ckpt")
        timed(f"trainer.max_epochs={epochs}")  # warm-up
        for _ in range(repeats):
            seconds["plain"].append(timed(f"trainer.max_epochs={epochs}"))
            seconds["save"].append(timed(f"trainer.max_epochs={epochs}", f"ckpt_save={checkpoint}"))
            seconds["continue"].append(
                timed(f"trainer.max_epochs={2 * epochs}", f"ckpt_path={checkpoint}")
            )
        size = checkpoint.stat().st_size
    plain = statistics.median(seconds["plain"])
    extra = [
        s + c - 2 * p
        for s, c, p in zip(seconds["save"], seconds["continue"], seconds["plain"], strict=True)
    ]
    return {
        "epochs": epochs,
        "plain_seconds": Figure.of(seconds["plain"]),
        "save_seconds": Figure.of(seconds["save"]),
        "continue_seconds": Figure.of(seconds["continue"]),
        "percent": Figure.of([100 * e / plain for e in extra]),
        "bytes": size,
    }


def run(quick: bool) -> dict[str, Any]:
    threads = pin_threads(1)
    seeds = range(1) if quick else range(3)
    epochs = 3 if quick else EPOCHS_PER_RUN
    budget = 12 if quick else 72  # 8 full runs of 9 epochs
    real_cnn("nop", 0, 2, 2)  # warm-up: Lightning's first fit in a process is slower
    runs: dict[str, list[dict]] = {name: [] for name in CONTENDERS}
    for seed in seeds:  # contenders interleaved within each seed
        for name in CONTENDERS:
            progress(f"schedules: seed {seed}, {name}")
            runs[name].append(contender(name, seed, budget, epochs))
    cost = checkpoint_cost(1 if quick else 3)
    goal = max(min(r["curve"]) for r in runs["nop"])
    summary = summarise(runs, goal, budget)
    nop = summary["nop"]
    asha, pbt = summary["asha"], summary["pbt"]
    md = [
        f"Threads: {threads}. `python -m bench.studies.schedules`; nop = TPE without pruning."
        " Epochs are counted as they ran over all trials (a continuation counts only the"
        " epochs it trained); PBT ends by itself after population x 3 runs of 3 epochs.",
        "",
        *section(
            "Digits CNN",
            summary,
            len(seeds),
            f"{len(seeds)} seed(s), {budget}-epoch budget, {epochs} epochs per configuration,"
            f" target val/loss {goal:.4f} = the worst seed's best TPE loss",
        ),
        "",
        cost_text(cost),
    ]
    targets = [
        target(
            "ASHA with promotion (digits CNN)",
            ">= 2x fewer epochs than TPE to TPE's target, best-in-budget no worse",
            f"{saving_text(asha)}, best loss {asha['best'].median:.4f} vs TPE"
            f" {nop['best'].median:.4f}",
            asha["saving"] >= 2 and asha["best"].median <= nop["best"].median,
            f"ASHA reached the target after {asha['epochs_to_target'].text(0)} epochs against"
            f" TPE's {nop['epochs_to_target'].text(0)} ({asha['trials'].text(0)} runs,"
            f" {asha['pruned'].text(0)} of them paused)",
        ),
        target(
            "PBT (digits CNN)",
            "best loss at equal epochs no worse than TPE's",
            f"best loss {pbt['best'].median:.4f} vs TPE {nop['best'].median:.4f}",
            pbt["best"].median <= nop["best"].median,
            f"PBT's best loss {pbt['best'].text(4)} against TPE's {nop['best'].text(4)}",
        ),
    ]
    targets.append(
        target(
            "checkpoint save + load (digits CNN)",
            "<= 5% of a run's time",
            f"{cost['percent'].text(1, '%')} of a {cost['epochs']}-epoch run",
            cost["percent"].median <= 5,
            cost_text(cost),
        )
    )
    raw = {"runs": runs, "goal": goal, "checkpoint_cost": cost}
    return {"markdown": "\n".join(md), "targets": targets, "raw": raw}


def cost_text(cost: dict[str, Any]) -> str:
    return (
        f"Checkpoint cost: a {cost['epochs']}-epoch run takes {cost['plain_seconds'].text(2)} s"
        f" plain, {cost['save_seconds'].text(2)} s saving a checkpoint"
        f" ({cost['bytes'] / 1e6:.2f} MB) at its end, {cost['continue_seconds'].text(2)} s"
        f" continuing from one; save + load add {cost['percent'].text(1, '%')} of a plain run"
        " (medians over interleaved repeats, ranges in brackets)."
    )


if __name__ == "__main__":
    module_main(TITLE, run)
