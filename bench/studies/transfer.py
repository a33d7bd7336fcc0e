"""Issue 26, memory across studies: trials to a target with warm_start's transfer against a
cold start and against transfer from unrelated studies.

Families of related tasks, each task a source for the others (one study each of the budget's
length with the default sampler, in a journal file, as a finished sweep leaves it):

- BBOB f8 (Rosenbrock) and f21 (Gallagher's 101 peaks), 5-D, instances 1-4 (``coco-experiment``);
  a target's unrelated sources are the other function's studies;
- an SVC's ``C`` and ``gamma`` (log scale) across scikit-learn data sets (digits, wine,
  breast_cancer, iris; error on a fixed 20% split); unrelated sources: the same tasks scored
  by their accuracy instead of their error, whose best configurations are the worst here.

Each target runs the real ``hydratune.sweep.transfer`` code (``plan_transfer``, then the
loop's ``Transfer.before_ask`` before each ``ask``, ``PriorSampler`` for ``prior``) with the
sampler a sweep gets by default (``sampler: auto``: GP on these numeric spaces; "cold: TPE"
shows TPE's defaults beside it); the target value is what a cold start's median seed reaches
in the whole budget; a run that never reaches it counts budget + 1.

Sized at a 30-trial budget x 3 seeds; ``--quick``: an 8-trial budget, one seed, to check it
runs.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from bench.common import md_table, module_main, progress, target
from hydratune.space import SearchSpace, parse_search_space
from hydratune.sweep import auto
from hydratune.sweep.transfer import DEFAULT_MODE, Transfer, plan_transfer, with_prior

TITLE = "Memory across studies: transfer against cold start"
Objective = Callable[[dict[str, Any]], float]
# "cold": the sampler a sweep gets by default (``sampler: auto``); "cold: TPE", where that is
# another sampler, shows how much the default's choice alone brings.
METHODS = (
    "cold",
    "cold: TPE",
    "transfer: seed",
    "transfer: box",
    "transfer: prior",
    "unrelated sources: seed",
    "unrelated sources: prior",
)
RELATED = ("transfer: seed", "transfer: box", "transfer: prior")
UNRELATED = ("unrelated sources: seed", "unrelated sources: prior")


def bbob(fid: int, instance: int) -> Objective:
    import cocoex

    problem = cocoex.BareProblem("bbob", fid, 5, instance)
    best = problem.best_value()
    return lambda p: float(problem([p[f"x{i}"] for i in range(5)]) - best)


def svc(name: str, sign: int = 1) -> Objective:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    xt, xv, yt, yv = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    scaler = StandardScaler().fit(xt)
    xt, xv = scaler.transform(xt), scaler.transform(xv)

    def error(p: dict[str, Any]) -> float:
        accuracy = SVC(C=p["C"], gamma=p["gamma"]).fit(xt, yt).score(xv, yv)
        return float(1 - accuracy) if sign > 0 else float(accuracy)

    return error


BBOB_SPACE = {f"x{i}": "interval(-5.0, 5.0)" for i in range(5)}
SVC_SPACE = {"C": "tag(log, interval(1e-3, 1e3))", "gamma": "tag(log, interval(1e-4, 10.0))"}


Family = tuple[dict[str, str], dict[str, Objective], dict[str, Objective], str, str]


def families() -> dict[str, Family]:
    """name -> (space, tasks, unrelated tasks with the same parameters, what those are, what
    the tasks are)."""
    f8 = {f"f8_i{i}": bbob(8, i) for i in range(1, 5)}
    f21 = {f"f21_i{i}": bbob(21, i) for i in range(1, 5)}
    sets = ("digits", "wine", "breast_cancer", "iris")
    return {
        "BBOB f8": (BBOB_SPACE, f8, f21, "f21", "Rosenbrock 5-D, instances 1-4"),
        "BBOB f21": (BBOB_SPACE, f21, f8, "f8", "Gallagher 5-D, instances 1-4"),
        "SVC": (
            SVC_SPACE,
            {n: svc(n) for n in sets},
            {f"{n}_accuracy": svc(n, -1) for n in sets},
            "scored by accuracy: their best is worst here",
            "C, gamma; digits, wine, breast_cancer, iris",
        ),
    }


def default_sampler(space: SearchSpace, budget: int, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler a sweep of ``space`` gets when it names none (``sampler: auto``)."""
    choice = auto.choose(
        space.distributions,
        conditional=bool(space.conditions),
        n_trials=budget,
        n_objectives=1,
        n_workers=1,
        pruning=False,
    )
    return auto.build(choice, seed, space, 0)


def sweep_run(space, objective, budget, seed, plan=None, tpe=False) -> tuple[list[float], bool]:
    """Best value after each trial of one run with the default sampler (``tpe``: TPE's
    defaults; with a transfer plan: the sweep's loop)."""
    sampler = optuna.samplers.TPESampler(seed=seed) if tpe else default_sampler(space, budget, seed)
    sampler = with_prior(sampler, plan, space)
    study = optuna.create_study(sampler=sampler)
    transfer = Transfer(plan)
    transfer.start(study)
    curve: list[float] = []
    for _ in range(budget):
        transfer.before_ask(study)
        trial = study.ask()
        value = objective(space.suggest(trial))
        study.tell(trial, value)
        curve.append(min(value, curve[-1]) if curve else value)
    return curve, bool(study.user_attrs.get("warm_start_transfer", {}).get("fallback"))


def to_target(curve: list[float], target: float) -> int:
    return next((i + 1 for i, v in enumerate(curve) if v <= target), len(curve) + 1)


def family_counts(
    family: Family, budget: int, seeds: int, url: str, methods: tuple[str, ...] = METHODS
) -> dict[str, Any]:
    """Trials to the target per method (targets x seeds) and how often the guard fell back."""
    space_spec, tasks, unrelated, _, _ = family
    space = parse_search_space(space_spec, [])
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
    for task_name, objective in {**tasks, **unrelated}.items():
        study = optuna.create_study(
            study_name=task_name, storage=storage, sampler=default_sampler(space, budget, 100)
        )
        study.optimize(lambda t, f=objective: f(space.suggest(t)), n_trials=budget)
    counts: dict[str, list[int]] = {m: [] for m in methods}
    fallbacks = {m: 0 for m in methods}
    for goal_task, objective in tasks.items():
        related = [t for t in tasks if t != goal_task]
        curves: dict[str, list[list[float]]] = {m: [] for m in methods}
        for seed in range(seeds):
            for method in methods:
                plan = None
                if method.startswith(("transfer", "unrelated")):
                    studies = related if method.startswith("transfer") else list(unrelated)
                    ws = {"studies": studies, "transfer": method.split(": ")[1]}
                    minimize = [optuna.study.StudyDirection.MINIMIZE]
                    plan = plan_transfer(ws, space, url, f"target-{seed}", minimize, budget)
                curve, fell_back = sweep_run(
                    space, objective, budget, seed, plan, method == "cold: TPE"
                )
                curves[method].append(curve)
                fallbacks[method] += fell_back
        goal = statistics.median(c[-1] for c in curves["cold"])
        for method in methods:
            counts[method] += [to_target(c, goal) for c in curves[method]]
    medians = {m: statistics.median(counts[m]) for m in methods}
    return {"counts": counts, "fallbacks": fallbacks, "medians": medians}


def method_rows(result: dict[str, Any], budget: int, unrelated_what: str) -> list[list[str]]:
    """method, median trials to target, vs cold, guard fell back, per run: one row per method."""
    cold = result["medians"]["cold"]
    rows = []
    for method, counts in result["counts"].items():
        median = result["medians"][method]
        shown = ", ".join(str(c) if c <= budget else f">{budget}" for c in counts)
        back = "" if method.startswith("cold") else f"{result['fallbacks'][method]}/{len(counts)}"
        label = f"{method} ({unrelated_what})" if method == UNRELATED[0] else method
        rows.append([label, f"{median:g}", f"{median / cold:.2f}x", back, shown])
    return rows


def verdicts(result: dict[str, Any]) -> tuple[float, float]:
    """The default transfer's trials to target against cold (a ratio) and the unrelated
    sources' excess over cold (trials)."""
    medians = result["medians"]
    cold = medians["cold"]
    mode = DEFAULT_MODE
    return medians[f"transfer: {mode}"] / cold, medians[f"unrelated sources: {mode}"] - cold


def run(quick: bool) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    budget, seeds = (8, 1) if quick else (30, 3)
    described = families()
    found: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, family) in enumerate(described.items()):
            progress(f"transfer: {name}")
            found[name] = family_counts(family, budget, seeds, str(Path(tmp) / f"{i}.journal"))
    rows = []
    for name, (_, _, _, unrelated_what, what) in described.items():
        for k, row in enumerate(method_rows(found[name], budget, unrelated_what)):
            rows.append([f"{name}: {what}" if k == 0 else "", *row])
    allowance = 0.1 * budget
    judged = {n: verdicts(r) for n, r in found.items()}
    related = {n: v[0] for n, v in judged.items()}
    unrelated = {n: v[1] for n, v in judged.items()}
    md = [
        f"Each family: 4 tasks, each a {budget}-trial source study (the default sampler, seed"
        f" 100) for the others, and each the target of {seeds} seed(s) x {len(METHODS)} methods,"
        " run through `hydratune.sweep.transfer` (`plan_transfer`, the loop's"
        " `Transfer.before_ask`, `PriorSampler` for `prior`) with the default max_trials and"
        " guard. Target: what the cold start's median seed reaches in the whole budget;"
        f' ">{budget}" never.',
        "",
        md_table(
            [
                "family",
                "method",
                "median trials to target",
                "vs cold",
                "guard fell back",
                f"per run (4 targets x {seeds} seeds)",
            ],
            rows,
        ),
        "",
        f"Targets (issue 26), for the default `transfer: {DEFAULT_MODE}`: <= 0.5x the trials to"
        " target on related tasks: "
        + "; ".join(f"{n} {r:.2f}x" for n, r in related.items())
        + f"; no worse than cold + 10% of the budget ({allowance:g} trials) with unrelated"
        " sources: " + "; ".join(f"{n} {d:+g}" for n, d in unrelated.items()) + ".",
    ]
    targets = [
        target(
            "transfer on related tasks (issue 26)",
            "<= 0.5x the trials to target of a cold start",
            "; ".join(f"{n}: {r:.2f}x" for n, r in related.items()),
            all(r <= 0.5 for r in related.values()),
            "met on "
            + (", ".join(n for n, r in related.items() if r <= 0.5) or "none")
            + "; missed on "
            + (", ".join(n for n, r in related.items() if r > 0.5) or "none"),
        ),
        target(
            "transfer from unrelated studies (issue 26)",
            f"no worse than cold + 10% of the budget ({allowance:g} trials)",
            "; ".join(f"{n}: {d:+g} trials" for n, d in unrelated.items()),
            all(d <= allowance for d in unrelated.values()),
            "missed on " + (", ".join(n for n, d in unrelated.items() if d > allowance) or "none"),
        ),
    ]
    raw = {"budget": budget, "seeds": seeds, "families": found}
    return {"markdown": "\n".join(md), "targets": targets, "raw": raw}


if __name__ == "__main__":
    module_main(TITLE, run)
