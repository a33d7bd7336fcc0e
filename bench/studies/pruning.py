"""Issue 3: does pruning save compute? nop vs median vs successive halving vs hyperband.

Each pruner gets the same epoch budget per sweep (TPE, one trial at a time); once it is spent
the sweep stops (``bench.tasks.EPOCHS``). Two problems:

- simulated learning curves (``bench.objectives.learning_curve``, known shape, target loss
  0.10) through ``hydratune.report``/``should_prune``: cheap, so it carries the seeds;
- the real digits CNN (20 epochs, val/loss minimised, pruning from inside Lightning): fewer
  seeds, as each sweep trains for minutes; its target is the loss every nop run reached.

Per pruner and seed, read from the study in epoch order: (a) epochs until a reported
validation loss first reaches the target, (b) the best reported loss within the budget. From
nop's full runs, what any pruner can win (``separability``). The CNN under another budget,
search space or training recipe: ``python -m bench.studies.pruning_variants``.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import optuna

from bench.common import (
    CNN,
    Figure,
    cnn_sweep,
    fresh_cwd,
    load_study,
    md_table,
    module_main,
    pin_threads,
    progress,
    sweep,
    target,
)
from bench.objectives import CURVE_TARGET
from bench.tasks import BUDGET_SPENT, EPOCHS, LOG, simulated_curve, timed_train
from hydratune.attrs import RESUMED_FROM

TITLE = "Pruning: compute to a target loss at an equal epoch budget"
PRUNERS = ["nop", "median", "successive_halving", "hyperband"]
SAVING_TARGET = 2.0


def curve_of(trials: Sequence[optuna.trial.FrozenTrial], budget: int) -> list[float]:
    """Every reported validation loss, in the order the epochs ran, cut at the budget."""
    values = []
    for trial in sorted(trials, key=lambda t: t.number):
        values += [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)]
    return values[:budget]


def score(values: Sequence[float], goal: float) -> dict[str, Any]:
    return {
        "epochs_to_target": epochs_to(values, goal),
        "best": min(values, default=math.inf),
        "epochs": len(values),
    }


def run_budgeted(run_sweep: Callable[[], Any], budget: int, storage_in_memory: bool) -> dict:
    """One sweep stopped by its epoch budget; its curve and how it ended."""
    with fresh_cwd() as cwd:
        LOG.reset()
        EPOCHS.budget = budget
        run = run_sweep()
        EPOCHS.budget = None
        error = run.error
        if error is not None and BUDGET_SPENT not in str(error):
            progress(f"pruning: sweep stopped by {type(error).__name__}: {error}")
        study = LOG.study if storage_in_memory else load_study(cwd)
        trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
        states = [t.state.name for t in trials]
    full = [t for t in trials if t.state.name == "COMPLETE"]
    return {
        "seconds": run.seconds,
        "curve": curve_of(trials, budget),
        # each finished run's reported losses, epoch by epoch (for the early-ranking check)
        "full_runs": [
            [t.intermediate_values[k] for k in sorted(t.intermediate_values)] for t in full
        ],
        "trials": len(trials),
        "pruned": states.count("PRUNED"),
        "history": history(trials),
        "error": None if error is None else str(error)[:300],
    }


def simulated(pruner: str, seed: int, budget: int) -> dict:
    overrides = [
        f"hydra/sweeper/pruner={pruner}",
        f"hydra.sweeper.sampler.seed={seed}",
        f"seed={seed}",
    ]
    return run_budgeted(lambda: sweep(overrides, simulated_curve, "curve"), budget, True)


def history(trials: Sequence[optuna.trial.FrozenTrial]) -> list[dict[str, Any]]:
    """Each run in trial order: its parameters, the trial it continued from (schedules'
    ``resumed_from``), its first and last epoch and its losses: what a sweep chose, to read."""
    return [
        {
            "number": t.number,
            "params": t.params,
            "resumed_from": (t.user_attrs.get(RESUMED_FROM) or {}).get("trial"),
            "epochs": [min(t.intermediate_values) + 1, max(t.intermediate_values) + 1],
            "values": [t.intermediate_values[s] for s in sorted(t.intermediate_values)],
            "state": t.state.name,
        }
        for t in sorted(trials, key=lambda t: t.number)
    ]


def real_cnn(
    pruner: str,
    seed: int,
    budget: int,
    epochs: int,
    extra: Sequence[str] = (),
    base: Sequence[str] = CNN,
) -> dict:
    """A budgeted TPE sweep of the digits CNN (or of another ``base`` task, see ``cnn_sweep``)."""
    overrides = [
        f"hydra/sweeper/pruner={pruner}",
        f"hydra.sweeper.sampler.seed={seed}",
        f"seed={seed}",
        f"trainer.max_epochs={epochs}",
        "hydra.sweeper.n_trials=1000",
        "hydra.sweeper.max_failure_rate=0",
        *extra,
    ]
    return run_budgeted(lambda: cnn_sweep(overrides, timed_train, base=base), budget, False)


def early_ranking(nop_runs: Sequence[dict], epochs: int) -> dict[int, float]:
    """What a pruner deciding after epoch k relies on: of nop's full-length runs that end in
    the best quarter (by best loss), the share already in the best quarter after epoch k."""
    runs = [c for r in nop_runs for c in r["full_runs"] if len(c) == epochs]
    quarter = len(runs) // 4
    if quarter == 0:
        return {}
    final_top = set(sorted(range(len(runs)), key=lambda i: min(runs[i]))[:quarter])
    out = {}
    for k in sorted({k for k in (1, 2, 4, epochs // 2) if k < epochs}):
        early_top = set(sorted(range(len(runs)), key=lambda i: runs[i][k - 1])[:quarter])
        out[k] = len(final_top & early_top) / quarter
    return out


def separability(nop_runs: Sequence[dict], epochs: int) -> dict[str, float]:
    """What any pruner can win on this workload, read from nop's full-length runs.

    ``stoppable``: the share of runs that end more than twice as bad as the best quarter's
    boundary: runs a pruner can stop after an epoch without judging a close call. Stopping all
    of them after one epoch buys ``ceiling`` times as many runs for the same epochs; a larger
    saving needs pruning among the good runs, which only pays where their late epochs rank them
    reliably. ``late_noise``: for the best quarter, the median epoch-to-epoch change of the
    loss over the second half of a run, relative to the run's best loss.
    """
    runs = [c for r in nop_runs for c in r["full_runs"] if len(c) == epochs]
    if len(runs) < 4:
        return {}
    bests = sorted(min(c) for c in runs)
    quarter = bests[len(bests) // 4]
    stoppable = sum(b > 2 * quarter for b in bests) / len(bests)
    changes = [
        abs(b - a) / min(c)
        for c in runs
        if min(c) <= quarter
        for a, b in itertools.pairwise(c[epochs // 2 :])
    ]
    return {
        "stoppable": stoppable,
        "ceiling": 1 / (1 - stoppable * (epochs - 1) / epochs),
        "late_noise": statistics.median(changes),
    }


def separability_text(s: dict[str, float]) -> str:
    if not s:
        return "n/a"
    return (
        f"{s['stoppable']:.0%} of nop's runs end over twice the best quarter's loss (stopping"
        f" each after one epoch buys at most {s['ceiling']:.2f}x the runs); in the best"
        f" quarter the loss moves {s['late_noise']:.0%} of its best from one late epoch to the"
        " next"
    )


def median_best_so_far(curves: Sequence[Sequence[float]], budget: int) -> list[float]:
    """Per epoch of the budget, the median over seeds of the best loss reported so far."""
    best_so_far = []
    for curve in curves:
        running = list(itertools.accumulate(curve, min))
        best_so_far.append(running + [running[-1] if running else math.inf] * (budget - len(curve)))
    return [statistics.median(c[i] for c in best_so_far) for i in range(budget)]


def epochs_to(curve: Sequence[float], goal: float) -> float:
    return next((i + 1 for i, v in enumerate(curve) if v <= goal), math.inf)


def summarise(runs: dict[str, list[dict]], goal: float, budget: int) -> dict[str, dict]:
    out = {}
    for pruner, seeds in runs.items():
        scores = [score(r["curve"], goal) for r in seeds]
        out[pruner] = {
            "epochs_to_target": Figure.of([s["epochs_to_target"] for s in scores]),
            "best": Figure.of([s["best"] for s in scores]),
            "reached": sum(math.isfinite(s["epochs_to_target"]) for s in scores),
            "trials": Figure.of([r["trials"] for r in seeds]),
            "pruned": Figure.of([r["pruned"] for r in seeds]),
            "seconds": Figure.of([r["seconds"] for r in seeds]),
        }
    curves = {p: median_best_so_far([r["curve"] for r in rs], budget) for p, rs in runs.items()}
    typical = curves["nop"][-1]  # nop's median best loss within the budget
    nop_typical = epochs_to(curves["nop"], typical)
    for pruner, s in out.items():
        s["typical_epochs"] = epochs_to(curves[pruner], typical)
        s["typical_saving"] = nop_typical / s["typical_epochs"]
    nop = out["nop"]["epochs_to_target"].median
    for s in out.values():
        mine = s["epochs_to_target"].median
        # A median seed that never reached the target counts as the whole budget: a lower bound.
        s["saving_censored"] = math.isinf(nop) and math.isfinite(mine)
        s["saving"] = 0.0 if math.isinf(mine) else min(nop, budget) / mine
    return out


def saving_text(s: dict[str, Any]) -> str:
    return f"{'>=' if s['saving_censored'] else ''}{s['saving']:.2f}x"


def section(name: str, summary: dict[str, dict[str, Any]], n_seeds: int, note: str) -> list[str]:
    rows = [
        [
            p,
            f"{s['epochs_to_target'].text(0)}",
            f"{s['reached']}/{n_seeds}",
            saving_text(s),
            s["best"].text(4),
            s["trials"].text(0),
            s["pruned"].text(0),
            s["seconds"].text(1),
            f"{s['typical_epochs']:.0f} ({s['typical_saving']:.2f}x)",
        ]
        for p, s in summary.items()
    ]
    return [
        f"**{name}** ({note})",
        "",
        md_table(
            [
                "pruner",
                "epochs to target",
                "seeds reaching it",
                "compute saving vs nop",
                "best loss in budget",
                "trials run",
                "pruned",
                "sweep seconds",
                "median curve: epochs to nop's median best (saving)",
            ],
            rows,
        ),
        "",
    ]


def judge(
    name: str, summary: dict[str, dict[str, Any]], ranking: dict[int, float], limit: str
) -> dict:
    """Met when some pruner saves >= 2x and keeps nop's best loss; else say who came closest."""
    nop = summary["nop"]
    pruners = {p: s for p, s in summary.items() if p != "nop"}

    def no_worse(s: dict[str, Any]) -> bool:
        return s["best"].median <= nop["best"].median

    passing = [p for p, s in pruners.items() if s["saving"] >= SAVING_TARGET and no_worse(s)]
    shown = passing[0] if passing else max(pruners, key=lambda p: pruners[p]["saving"])
    best = pruners[shown]
    measured = (
        f"{shown}: {saving_text(best)} less compute, best loss "
        f"{best['best'].median:.4f} vs nop {nop['best'].median:.4f}"
    )
    why = ""
    if not passing:
        parts = []
        for p, s in pruners.items():
            worse = s["best"].median / nop["best"].median - 1
            parts.append(
                f"{p} {saving_text(s)} ({s['epochs_to_target'].text(0)} epochs to the target"
                f" against nop's {nop['epochs_to_target'].text(0)}; {s['trials'].text(0)} trials,"
                f" {s['pruned'].text(0)} pruned), best loss {worse:+.1%} against nop's"
            )
        why = (
            f"no pruner does both: {'; '.join(parts)}. The epochs pruning saves buy more"
            " trials, but a pruner judges runs on their early epochs: of nop's full runs that end"
            " in the best quarter, the share already in the best quarter after epoch k is "
            + (", ".join(f"{v:.0%} at k={k}" for k, v in ranking.items()) or "n/a")
            + f". What any pruner can win here: {limit}"
        )
    return target(
        f"pruning ({name})",
        f">= {SAVING_TARGET:.0f}x less compute to the target, best-in-budget no worse than nop",
        measured,
        bool(passing),
        why,
    )


def cnn_half(
    seeds: Sequence[int], budget: int, epochs: int, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """Every pruner on the digits CNN per seed, scored against the worst seed's best nop loss."""
    real_cnn("nop", 0, 2, 2)  # warm-up: Lightning's first fit in a process is slower
    runs: dict[str, list[dict]] = {p: [] for p in PRUNERS}
    for seed in seeds:
        for pruner in PRUNERS:
            progress(f"pruning: digits CNN seed {seed}, {pruner}")
            runs[pruner].append(real_cnn(pruner, seed, budget, epochs, extra))
    goal = max(min(r["curve"]) for r in runs["nop"])
    return {
        "summary": summarise(runs, goal, budget),
        "runs": runs,
        "target": goal,
        "early_ranking": early_ranking(runs["nop"], epochs),
        "separability": separability(runs["nop"], epochs),
    }


def run(quick: bool) -> dict[str, Any]:
    threads = pin_threads(1)
    sim_seeds = range(2) if quick else range(12)
    sim_budget = 60 if quick else 400  # 3 (20) full runs of 20 epochs
    real_seeds = range(1) if quick else range(5)
    real_epochs, real_budget = (3, 6) if quick else (20, 300)  # 2 (15) full runs

    sim_runs: dict[str, list[dict]] = {p: [] for p in PRUNERS}
    for seed in sim_seeds:  # pruners interleaved within each seed
        for pruner in PRUNERS:
            sim_runs[pruner].append(simulated(pruner, seed, sim_budget))
        progress(f"pruning: simulated seed {seed} done")
    sim = summarise(sim_runs, CURVE_TARGET, sim_budget)
    sim_ranking = early_ranking(sim_runs["nop"], 20)
    sim_limit = separability(sim_runs["nop"], 20)
    sim_limit_text = separability_text(sim_limit)

    cnn = cnn_half(real_seeds, real_budget, real_epochs)
    real_limit_text = separability_text(cnn["separability"])

    md = [
        f"Threads: {threads}. TPE (seed = run seed), n_jobs=1, Optuna's default options for"
        " each pruner; hyperband's max_resource = the epochs per run.",
        "",
    ]
    md += section(
        "Simulated learning curves",
        sim,
        len(sim_seeds),
        f"{len(sim_seeds)} seeds, {sim_budget}-epoch budget, 20 epochs per run,"
        f" target loss {CURVE_TARGET}; the curves cross near epoch 2: fast, high learning"
        " rates lead early and end worse",
    )
    md += section(
        "Digits CNN",
        cnn["summary"],
        len(real_seeds),
        f"{len(real_seeds)} seed(s), {real_budget}-epoch budget, {real_epochs} epochs"
        f" per run, target val/loss {cnn['target']:.4f} = the worst seed's best nop loss",
    )
    md.append(
        "Epochs to target: cumulative epochs over all trials, in the order they ran,"
        " until a reported validation loss first reaches the target (inf: never within"
        " the budget). Best loss: the lowest validation loss reported within the budget."
        " Median curve: per epoch, the median over seeds of the best loss so far; the column"
        " gives the epoch at which a pruner's median curve reaches nop's median best within"
        " the budget (a target every pruner faces at typical, not worst-seed, quality) and"
        " nop's epochs to it over the pruner's."
        " Early ranking (what a pruner relies on): of nop's full runs that end in the best"
        " quarter, the share already in the best quarter after epoch k: simulated "
        + (", ".join(f"k={k}: {v:.0%}" for k, v in sim_ranking.items()) or "n/a")
        + "; digits CNN "
        + (", ".join(f"k={k}: {v:.0%}" for k, v in cnn["early_ranking"].items()) or "n/a")
        + "."
    )
    md += [
        "",
        f"What any pruner can win (from nop's full runs): simulated: {sim_limit_text};"
        f" digits CNN: {real_limit_text}.",
    ]
    return {
        "markdown": "\n".join(md),
        "targets": [
            judge("simulated", sim, sim_ranking, sim_limit_text),
            judge("digits CNN", cnn["summary"], cnn["early_ranking"], real_limit_text),
        ],
        "raw": {
            "threads": threads,
            "simulated": {
                "summary": sim,
                "runs": sim_runs,
                "early_ranking": sim_ranking,
                "separability": sim_limit,
            },
            "digits_cnn": cnn,
        },
    }


if __name__ == "__main__":
    module_main(TITLE, run)
