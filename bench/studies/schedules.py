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

from typing import Any

from bench.common import module_main, pin_threads, progress, target
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
    return {"markdown": "\n".join(md), "targets": targets, "raw": {"runs": runs, "goal": goal}}


if __name__ == "__main__":
    module_main(TITLE, run)
