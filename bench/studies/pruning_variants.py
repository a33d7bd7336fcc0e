"""The digits-CNN half of ``bench.studies.pruning`` under other settings: does a pruner save
2x there?

    .venv/bin/python -m bench.studies.pruning_variants                   # the study's CNN
    .venv/bin/python -m bench.studies.pruning_variants --budget-runs 30  # 30 full runs
    .venv/bin/python -m bench.studies.pruning_variants --lr 1e-5,1e-1    # a wider lr range
    .venv/bin/python -m bench.studies.pruning_variants --override model/scheduler=cosine

Not part of ``make bench``: it answers "would another budget, search space or training recipe
change the verdict?" with the same measurements, table and target as ``bench.studies.pruning``.
"""

from __future__ import annotations

import argparse

import optuna

from bench.common import CNN_SPACE, pin_threads
from bench.studies.pruning import cnn_half, judge, section, separability_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run (default 20)")
    parser.add_argument("--budget-runs", type=int, default=15, help="budget in full runs")
    parser.add_argument("--lr", help="learning-rate range LOW,HIGH (log scale)")
    parser.add_argument("--override", action="append", default=[], help="a Hydra override")
    args = parser.parse_args()
    if args.lr:
        low, high = args.lr.split(",")
        CNN_SPACE["model.optimizer.lr"] = f"tag(log,interval({low},{high}))"
    threads = pin_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget = args.budget_runs * args.epochs
    seeds = range(args.first_seed, args.first_seed + args.seeds)

    cnn = cnn_half(seeds, budget, args.epochs, args.override)
    goal, limit = cnn["target"], separability_text(cnn["separability"])
    note = (
        f"{len(seeds)} seeds from {args.first_seed}, {budget}-epoch budget, {args.epochs} epochs"
        f" per run, target val/loss {goal:.4f}; space {CNN_SPACE}; overrides {args.override};"
        f" threads: {threads}"
    )
    print("\n".join(section("Digits CNN", cnn["summary"], len(seeds), note)))
    verdict = judge("digits CNN", cnn["summary"], cnn["early_ranking"], limit)
    print(
        f"target {verdict['goal']}: {verdict['measured']} ->", "met" if verdict["met"] else "missed"
    )
    print(f"What any pruner can win: {limit}.")


if __name__ == "__main__":
    main()
