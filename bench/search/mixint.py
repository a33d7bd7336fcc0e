"""COCO's ``bbob-mixint`` suite: BBOB functions where most variables are integers.

In 5 dimensions four variables are integers with 2, 4, 8 and 16 values and one is continuous
on [-5, 5]: the integer and small-choice spaces of tuning (layer counts, widths, batch sizes).
``bbob-mixint`` has no ``BareProblem`` for f_opt, so the tables rank raw values (ranks need no
optimum) and give the median best value instead of a regret.
"""

from __future__ import annotations

import statistics
from typing import Any

from optuna.distributions import FloatDistribution, IntDistribution

from bench.common import module_main
from bench.search.core import Unit, best, complete, rank_table, run_grid, verdict_targets

SIZES = {
    # (functions, dimension, instances, budgets per dimension, seeds)
    "quick": ([1], 5, 1, (2,), 1),
    "subset": (list(range(1, 25)), 5, 2, (10,), 1),
    "full": (list(range(1, 25)), 5, 5, (10, 50), 1),
}
# SMAC3 costs 3-5 s a suggestion here: the subset runs it on these functions' first instance
# only (its first grid, before the subset covered all 24 functions).
SMAC_FUNCTIONS = {"quick": [1], "subset": [1, 8, 15, 21], "full": list(range(1, 25))}


def make(key: tuple) -> tuple[dict, Any, None]:
    import cocoex

    fid, dim, iid = key
    suite = cocoex.Suite(
        "bbob-mixint", "", f"dimensions: {dim} instance_indices: {iid} function_indices: {fid}"
    )
    problem = next(iter(suite))
    n_int = problem.number_of_integer_variables
    low, high = problem.lower_bounds, problem.upper_bounds
    space: dict[str, Any] = {}
    for i in range(dim):
        if i < n_int:
            space[f"x{i}"] = IntDistribution(int(low[i]), int(high[i]))
        else:
            space[f"x{i}"] = FloatDistribution(float(low[i]), float(high[i]))

    def evaluate(params: dict[str, float]) -> float:
        return float(problem([params[f"x{i}"] for i in range(dim)]))

    return space, evaluate, None


def units(size: str) -> list[Unit]:
    functions, dim, instances, budgets, seeds = SIZES[size]
    return [
        Unit("mixint", (f, dim, i), per_dim * dim, s)
        for per_dim in budgets
        for f in functions
        for i in range(1, instances + 1)
        for s in range(seeds)
    ]


def run(size: str) -> dict[str, Any]:
    all_units = units(size)
    smac = SMAC_FUNCTIONS[size]
    grid = run_grid(
        all_units,
        # HEBO (about 3 s a suggestion) would take its 2,400 suggestions about 2 hours
        skip=lambda u: (
            ("hebo",)
            + (() if u.key[0] in smac and (size == "full" or u.key[2] == 1) else ("smac",))
        ),
        cache="" if size == "quick" else f"mixint-{size}",
    )
    functions, dim, instances, budgets, seeds = SIZES[size]
    md = [
        f"Size **{size}**: functions {functions}, d={dim} (4 integer variables, 1 continuous),"
        f" instances 1-{instances}, budgets {', '.join(f'{b}*d' for b in budgets)},"
        f" {seeds} seed(s): {len(all_units)} units. SMAC3 ran on functions {smac}"
        f"{'' if size == 'full' else ', instance 1'} only: its mean rank is over those units;"
        " the targets are read on every unit, the other contenders having run them all."
    ]
    raw: dict[str, Any] = {"size": size, "tables": {}}
    groups: dict[str, list[Unit]] = {}
    for u in all_units:
        groups.setdefault(f"d={dim}, {u.budget // dim}*d ({u.budget} trials)", []).append(u)
    groups["units every contender ran"] = complete(grid, all_units)
    for label, group in groups.items():
        values = {
            c: f"{statistics.median(best(grid['runs'][u, c], u.budget) for u in ran):.3g}"
            for c in {c for (_, c) in grid["runs"]}
            if (ran := [u for u in group if (u, c) in grid["runs"]])
        }
        table, figures = rank_table(grid, group, {"median best value": values})
        raw["tables"][label] = figures
        md += ["", f"### {label}: {len(group)} units", "", table]
    targets = verdict_targets("bbob-mixint", raw["tables"][next(iter(groups))])
    return {"markdown": "\n".join(md), "targets": targets, "raw": raw}


if __name__ == "__main__":
    module_main("bbob-mixint (coco-experiment)", run, sizes=SIZES)
