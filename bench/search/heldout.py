"""auto's GP settings checked on BBOB beyond the subset: all 24 functions, instances 1-2.

The subset's 6 functions chose GP over TPE and NGOpt's lead looked small; this grid is where a
rule for ``auto`` is checked before it is kept. Contenders: Optuna's GP with its 10 random
startup trials and with 5, TPE and nevergrad's NGOpt (bench/search/contenders.py, their own
defaults). One run of ``budget`` trials per unit; the d=2 rows at 20 trials are those runs'
first 20 (NGOpt sized for 50: it picks the same optimizer, CMA-ES with a quadratic model,
for 20 and 50 in 2 dimensions). Runs are cached like ``run_grid``'s.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import optuna

from bench.common import module_main
from bench.search import bbob
from bench.search.contenders import run_contender
from bench.search.core import bootstrap

CONTENDERS = ["gp", "tpe", "ngopt"]  # and the GP variants of each dimension
SUBSET = set(bbob.SUBSET_FUNCTIONS)
# (dimension, instances, trials run, budgets read, GP variants): 10*d and 25*d at d=2, 10*d
# at d=3 and d=5; auto starts GP from 5 random trials at d=2, from GP's 10 from d=3 on
GRID = [
    (2, (1, 2), 50, (20, 50), ["gp-startup-5"]),
    (3, (1,), 30, (30,), ["gp-startup-5", "gp-startup-7"]),
    (5, (1, 2), 50, (50,), ["gp-startup-5"]),
]
FUNCTIONS = {"quick": [1, 3], "default": list(range(1, 25))}


def _values(contender: str, key: tuple, budget: int) -> list[float]:
    space, evaluate, _ = bbob.make(key)
    if contender.startswith("gp-startup-"):
        startup = int(contender.rsplit("-", 1)[1])
        sampler = optuna.samplers.GPSampler(seed=0, n_startup_trials=startup)
        study = optuna.create_study(sampler=sampler)
        for _ in range(budget):
            trial = study.ask(space)
            study.tell(trial, evaluate(trial.params))
        return [t.value for t in study.trials]
    return run_contender(contender, space, evaluate, budget, 0)[0]


def run(quick: bool) -> dict[str, Any]:
    functions = FUNCTIONS["quick" if quick else "default"]
    cache = Path(tempfile.gettempdir()) / "hydratune-bench-search" / "heldout.jsonl"
    runs: dict[str, list[float]] = {}
    if cache.exists() and not quick:
        runs = {row["k"]: row["values"] for row in map(json.loads, cache.read_text().splitlines())}
    cache.parent.mkdir(parents=True, exist_ok=True)
    md, raw = [], {}
    for dim, instances, trials, budgets, variants in GRID:
        keys = [(f, dim, i) for i in instances[: 1 if quick else None] for f in functions]
        contenders = CONTENDERS + variants
        for key in keys:
            for c in contenders:
                k = f"{key}@{trials}/{c}"
                if k not in runs:
                    runs[k] = _values(c, key, trials)
                    if not quick:
                        with cache.open("a") as out:
                            out.write(json.dumps({"k": k, "values": runs[k]}) + "\n")
        for budget in budgets:
            held_out = [k for k in keys if k[0] not in SUBSET]
            for label, group in (("held out", held_out), ("all", keys)):
                table, figures = _table(runs, group, contenders, trials, budget)
                raw[f"d={dim}, {budget} trials, {label}"] = figures
                md += ["", f"### d={dim}, {budget} trials: {len(group)} units ({label})", "", table]
    return {"markdown": "\n".join(md), "targets": [], "raw": raw}


def _table(
    runs: dict, keys: list, contenders: list[str], trials: int, budget: int
) -> tuple[str, dict]:
    """Mean rank (95% CI) over the units and wins/ties/losses against TPE."""
    best = {(k, c): min(runs[f"{k}@{trials}/{c}"][:budget]) for k in keys for c in contenders}
    ranks: dict[str, list[float]] = {c: [] for c in contenders}
    for k in keys:
        scores = [best[k, c] for c in contenders]
        for c in contenders:
            v = best[k, c]
            ranks[c].append(sum(s < v for s in scores) + (sum(s == v for s in scores) + 1) / 2)
    lines = ["| contender | mean rank (95% CI) | vs TPE: wins/ties/losses |", "|---|---|---|"]
    figures = {}
    for c in sorted(contenders, key=lambda c: statistics.mean(ranks[c])):
        low, high = bootstrap(ranks[c])
        w = sum(best[k, c] < best[k, "tpe"] for k in keys)
        t = sum(best[k, c] == best[k, "tpe"] for k in keys)
        figures[c] = {"mean_rank": statistics.mean(ranks[c]), "ci": [low, high], "wins": [w, t]}
        vs = "-" if c == "tpe" else f"{w}/{t}/{len(keys) - w - t}"
        lines.append(f"| {c} | {statistics.mean(ranks[c]):.2f} ({low:.2f}-{high:.2f}) | {vs} |")
    return "\n".join(lines), figures


if __name__ == "__main__":
    module_main("BBOB beyond the subset: auto's GP settings", run)
