"""COCO's BBOB suite (``coco-experiment``): noiseless functions on [-5, 5]^d, regret to f_opt.

Budgets are counted in evaluations per dimension, as COCO does: 10*d is a tight tuning budget
(20 trials for 2 parameters, 50 for 5), 50*d a generous one; model-based search wins or
loses within the first few dozen trials, which is where hyperparameter sweeps live.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from optuna.distributions import FloatDistribution

from bench.common import module_main, target
from bench.search.core import Unit, best, complete, rank_table, run_grid, verdict_targets

# The subset (default): one or two functions of each of BBOB's five groups (separable,
# moderate conditioning, ill-conditioned, multi-modal with and without global structure).
SUBSET_FUNCTIONS = [1, 2, 8, 12, 15, 21]
SIZES = {
    # (functions, {dimension: (instances, budgets per dimension)}, seeds)
    "quick": ([1], {2: (1, (3, 5))}, 1),
    "subset": (SUBSET_FUNCTIONS, {2: (2, (10, 25)), 5: (1, (10,))}, 1),
    # the subset's functions at d=10, 10*d: where GP's fit is slowest and its lead least sure
    "d10": (SUBSET_FUNCTIONS, {10: (2, (10,))}, 1),
    "d10-all": (list(range(1, 25)), {10: (2, (10,))}, 1),  # the same beyond the subset
    "full": (list(range(1, 25)), {d: (5, (10, 50)) for d in (2, 5, 10)}, 1),
}


def make(key: tuple) -> tuple[dict, Any, float]:
    import cocoex

    fid, dim, iid = key
    suite = cocoex.Suite(
        "bbob", "", f"dimensions: {dim} instance_indices: {iid} function_indices: {fid}"
    )
    problem = next(iter(suite))
    space = {f"x{i}": FloatDistribution(-5.0, 5.0) for i in range(dim)}

    def evaluate(params: dict[str, float]) -> float:
        return float(problem([params[f"x{i}"] for i in range(dim)]))

    return space, evaluate, float(cocoex.BareProblem("bbob", fid, dim, iid).best_value())


def units(size: str) -> list[Unit]:
    functions, dims, seeds = SIZES[size]
    return [
        Unit("bbob", (f, d, i), per_dim * d, s)
        for d, (instances, budgets) in dims.items()
        for per_dim in budgets
        for f in functions
        for i in range(1, instances + 1)
        for s in range(seeds)
    ]


def suggestion_cost(n_trials: int = 200, dim: int = 5) -> dict[str, float]:
    """Seconds of one suggestion at trial ``n_trials`` of a ``dim``-parameter numeric sweep:
    the issue's ceiling is 1 s at 200 trials on 2 cores."""
    import numpy as np
    import optuna

    from bench.search.contenders import _optuna_sampler

    space = {f"x{i}": FloatDistribution(-5.0, 5.0) for i in range(dim)}
    rng = np.random.default_rng(0)
    history = [
        optuna.trial.create_trial(
            params={k: float(rng.uniform(-5, 5)) for k in space},
            distributions=space,
            value=float(rng.normal()),
        )
        for _ in range(n_trials - 1)
    ]
    out = {}
    for name in ("auto", "tpe", "gp"):
        study = optuna.create_study(sampler=_optuna_sampler(name, 0, space, n_trials))
        study.add_trials(history)
        start = time.perf_counter()
        for _ in range(3):
            trial = study.ask(space)
            study.tell(trial, sum(v * v for v in trial.params.values()))
        out[name] = (time.perf_counter() - start) / 3
    return out


def run(size: str) -> dict[str, Any]:
    all_units = units(size)
    # SMAC3's GP facade costs 1-2 s a suggestion here and HEBO about 3 s: the subset runs them
    # at d=2, 10*d only, d10 not at all (quick skips SMAC3 past 3*d, to check the tables with a
    # contender missing, and HEBO everywhere)
    limit = {"quick": 3, "full": None}.get(size, 10)

    def skip(u: Unit) -> tuple[str, ...]:
        slow = bool(limit) and (u.budget > limit * u.key[1] or u.key[1] > 2)
        return ("smac", "hebo") if slow else ("hebo",) if size == "quick" else ()

    grid = run_grid(all_units, skip=skip, cache="" if size == "quick" else f"bbob-{size}")
    md, raw, targets = [], {"size": size, "tables": {}}, []
    functions, dims, seeds = SIZES[size]
    md.append(
        f"Size **{size}**: functions {functions}; "
        + "; ".join(
            f"d={d}: instances 1-{n}, budgets {', '.join(f'{b}*d' for b in bs)}"
            for d, (n, bs) in dims.items()
        )
        + f"; {seeds} seed(s) per run; {len(all_units)} (function, dimension, instance,"
        " budget) units. Each contender ran every unit once with its own defaults."
    )
    if grid["reused"]:
        md.append(
            f"`auto` chose a contender's exact sampler on {len(grid['reused'])} units (GP with"
            " the same seed: the same draws); its row there is that run, not a second one."
        )
    by_budget: dict[str, list[Unit]] = {}
    for u in all_units:
        by_budget.setdefault(
            f"d={u.key[1]}, {u.budget // u.key[1]}*d ({u.budget} trials)", []
        ).append(u)
    by_budget["all units every contender ran"] = complete(grid, all_units)
    for label, group in by_budget.items():
        regret = _regret_column(grid, group)
        table, figures = rank_table(grid, group, {"median log10 regret": regret})
        raw["tables"][label] = figures
        md += ["", f"### {label}: {len(group)} units", "", table]
    targets += verdict_targets("bbob", raw["tables"]["all units every contender ran"])
    if size != "quick":
        cost = suggestion_cost()
        raw["suggestion_cost_200"] = cost
        md += [
            "",
            "Seconds per suggestion at trial 200 (5 parameters, 199 trials in the study,"
            " mean of 3):" + ", ".join(f" {k} {v:.3f}" for k, v in cost.items()),
        ]
        targets.append(
            target(
                "auto: a suggestion at 200 trials",
                "<= 1 s",
                f"{cost['auto']:.3f} s",
                cost["auto"] <= 1.0,
                "GP past its switch",
            )
        )
    raw["runs"] = {
        f"{u.name}@{u.budget}/{c}": best(r, u.budget) for (u, c), r in grid["runs"].items()
    }
    return {"markdown": "\n".join(md), "targets": targets, "raw": raw}


def _regret_column(grid: dict[str, Any], group: list[Unit]) -> dict[str, str]:
    out = {}
    contenders = {c for (_, c) in grid["runs"]}
    for c in contenders:
        logs = [
            math.log10(max(best(grid["runs"][u, c], u.budget) - grid["optima"][u], 1e-8))
            for u in group
            if (u, c) in grid["runs"]
        ]
        out[c] = f"{statistics.median(logs):.2f}" if logs else ""
    return out


if __name__ == "__main__":
    module_main("BBOB (coco-experiment)", run, sizes=SIZES)
