"""Issue 8 (sample efficiency): TPE and GP through hydratune vs random search on Branin and
Hartmann6 (closed form, ``bench.objectives``), and hydratune's runs equal plain Optuna's.

Regret after k trials = best value among the first k minus the known optimum; the figures are
medians over seeds. The same (sampler, seed) run as a plain Optuna ask/tell loop must give
the same parameters and values trial by trial: the sweeper adds no randomness of its own and
hands the task the sampled values unchanged. GP is slow (seconds per 100 trials), so its
plain-Optuna twin runs for fewer seeds than TPE's and random's.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import FloatDistribution

from bench.common import (
    Figure,
    fresh_cwd,
    hydratune_sampler_kwargs,
    md_table,
    module_main,
    pin_threads,
    progress,
    sweep,
    target,
)
from bench.objectives import OPTIMA, SPACES, closed_form
from bench.tasks import LOG, closed_form_task

TITLE = "Sample efficiency: TPE and GP vs random on Branin and Hartmann6"
SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "gp": optuna.samplers.GPSampler,
    "random": optuna.samplers.RandomSampler,
}


def hydratune_values(function: str, sampler: str, seed: int, n: int) -> list[dict[str, Any]]:
    space = [f"{key}=interval({lo},{hi})" for key, lo, hi in SPACES[function]]
    overrides = [
        f"function={function}",
        f"hydra/sweeper/sampler={sampler}",
        f"hydra.sweeper.sampler.seed={seed}",
        f"hydra.sweeper.n_trials={n}",
        *space,
    ]
    with fresh_cwd():
        LOG.reset()
        sweep(overrides, closed_form_task, "closed_form").check()
        trials = sorted(LOG.study.trials, key=lambda t: t.number)
    return [{"params": t.params, "value": t.value} for t in trials]


def plain_values(function: str, sampler: str, seed: int, n: int) -> list[dict[str, Any]]:
    space = {key: FloatDistribution(lo, hi) for key, lo, hi in SPACES[function]}
    study = optuna.create_study(
        sampler=SAMPLERS[sampler](seed=seed, **hydratune_sampler_kwargs(sampler))
    )
    out = []
    for _ in range(n):
        trial = study.ask(space)
        value = closed_form(function, trial.params)
        study.tell(trial, value)
        out.append({"params": trial.params, "value": value})
    return out


def regret_curve(values: list[float], optimum: float) -> list[float]:
    best, curve = float("inf"), []
    for v in values:
        best = min(best, v)
        curve.append(best - optimum)
    return curve


def run(quick: bool) -> dict[str, Any]:
    threads = pin_threads(1)
    # --quick: one seed, and enough trials that GP fits past its 10 random start-up trials
    seeds, n = (range(1), 12) if quick else (range(20), 100)
    twin_seeds = {"tpe": seeds, "random": seeds, "gp": range(1) if quick else range(2)}
    checkpoints = sorted({k for k in (10, 25, 50) if k < n} | {n})
    curves: dict[str, dict[str, list[list[float]]]] = {f: {s: [] for s in SAMPLERS} for f in SPACES}
    twins: dict[str, dict[str, list[dict[str, Any]]]] = {
        f: {s: [] for s in SAMPLERS} for f in SPACES
    }
    for seed in seeds:
        for function in SPACES:
            for sampler in SAMPLERS:
                ours = hydratune_values(function, sampler, seed, n)
                curves[function][sampler].append(
                    regret_curve([t["value"] for t in ours], OPTIMA[function])
                )
                if seed in twin_seeds[sampler]:
                    plain = plain_values(function, sampler, seed, n)
                    twins[function][sampler].append(
                        {
                            "seed": seed,
                            "same_params": [t["params"] for t in ours]
                            == [t["params"] for t in plain],
                            "max_value_diff": max(
                                abs(a["value"] - b["value"])
                                for a, b in zip(ours, plain, strict=True)
                            ),
                        }
                    )
        progress(f"efficiency: seed {seed} done")

    md = [
        f"Threads: {threads}. {len(seeds)} seeds x {n} trials per (function, sampler),"
        " through hydratune (in-memory storage, one trial at a time); the options hydratune's"
        " sampler configs give (`tpe`: hydra-optuna-sweeper's, independent, no constant liar;"
        " `gp`, `random`: Optuna's defaults); the plain twin gets the same."
        " Median regret over seeds (min-max):",
        "",
    ]
    targets = []
    summary: dict[str, Any] = {}
    for function, by_sampler in curves.items():
        rows = []
        final: dict[str, Figure] = {}
        for sampler, runs in by_sampler.items():
            figs = [Figure.of([c[k - 1] for c in runs]) for k in checkpoints]
            final[sampler] = figs[-1]
            rows.append([sampler, *(f.text(4) for f in figs)])
        summary[function] = final
        md += [
            f"**{function}** (optimum {OPTIMA[function]:.5f})",
            "",
            md_table(["sampler", *(f"regret @ {k}" for k in checkpoints)], rows),
            "",
        ]
        for sampler in ("tpe", "gp"):
            better = final[sampler].median < final["random"].median
            targets.append(
                target(
                    f"efficiency {function} {sampler}",
                    "median regret below random's",
                    f"{final[sampler].median:.4g} vs random {final['random'].median:.4g}",
                    better,
                    ""
                    if better
                    else f"{sampler} ends with a median regret of "
                    f"{final[sampler].text(4)} against random's {final['random'].text(4)} over"
                    f" {len(seeds)} seeds of {n} trials",
                )
            )
    twin_rows, all_equal = [], True
    for function, by_sampler in twins.items():
        for sampler, checks in by_sampler.items():
            same = sum(c["same_params"] for c in checks)
            diff = max((c["max_value_diff"] for c in checks), default=0.0)
            all_equal &= same == len(checks) and diff == 0.0
            twin_rows.append([function, sampler, f"{same}/{len(checks)}", f"{diff:.1e}"])
    md += [
        "hydratune vs a plain Optuna loop, same sampler and seed:",
        "",
        md_table(
            ["function", "sampler", "seeds with identical params", "largest value difference"],
            twin_rows,
        ),
    ]
    targets.append(
        target(
            "efficiency = plain Optuna",
            "identical params and values trial by trial",
            "identical" if all_equal else "different",
            all_equal,
            "" if all_equal else "see the table: seeds whose parameters or values differ",
        )
    )
    return {
        "markdown": "\n".join(md),
        "targets": targets,
        "raw": {
            "threads": threads,
            "checkpoints": checkpoints,
            "final": summary,
            "regret_curves": curves,
            "plain_optuna_twins": twins,
        },
    }


if __name__ == "__main__":
    module_main(TITLE, run)
