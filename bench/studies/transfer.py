"""Memory across studies: trials to a target with warm_start's transfer against a cold start
and against transfer from unrelated studies.

    .venv/bin/python -m bench.studies.transfer                 # 40 trials, 3 seeds
    .venv/bin/python -m bench.studies.transfer --budget 60 --seeds 5

Families of related tasks, each task a source for the others (one 40-trial TPE study each, in
a journal file, as a finished sweep leaves it):

- BBOB f8 (Rosenbrock) and f21 (Gallagher's 101 peaks), 5-D, instances 1-4 (``coco-experiment``);
  a target's unrelated sources are the other function's studies;
- an SVC's ``C`` and ``gamma`` (log scale) across scikit-learn data sets (digits, wine,
  breast_cancer, iris; error on a fixed 20% split); unrelated sources: the same tasks scored
  by their accuracy instead of their error, whose best configurations are the worst here.

Each target runs the real ``hydratune.sweep.transfer`` code (``plan_transfer``, then the
loop's ``Transfer.before_ask`` before each ``ask``) with TPE; the target value is what a cold
start's median seed reaches in the whole budget; a run that never reaches it counts budget + 1.
Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from hydratune.space import parse_search_space
from hydratune.sweep.transfer import Transfer, plan_transfer

Objective = Callable[[dict[str, Any]], float]
METHODS = ("cold", "transfer: seed", "transfer: box", "unrelated sources")


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


def families() -> dict[str, tuple[dict[str, str], dict[str, Objective], dict[str, Objective]]]:
    """name -> (space, tasks, unrelated tasks with the same parameters)."""
    f8 = {f"f8_i{i}": bbob(8, i) for i in range(1, 5)}
    f21 = {f"f21_i{i}": bbob(21, i) for i in range(1, 5)}
    sets = ("digits", "wine", "breast_cancer", "iris")
    return {
        "BBOB f8 (instances)": (BBOB_SPACE, f8, f21),
        "BBOB f21 (instances)": (BBOB_SPACE, f21, f8),
        "SVC (data sets)": (
            SVC_SPACE,
            {n: svc(n) for n in sets},
            {f"{n}_accuracy": svc(n, -1) for n in sets},
        ),
    }


def run(space, objective, budget, seed, plan=None) -> tuple[list[float], bool]:
    """Best value after each trial of one TPE run (with a transfer plan: the sweep's loop)."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
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


def family_rows(name, space_spec, tasks, unrelated, budget, seeds, tmp) -> list[str]:
    space = parse_search_space(space_spec, [])
    url = str(Path(tmp) / f"{name.split()[0]}_{len(tasks)}.journal".replace(" ", "_"))
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
    for task_name, objective in {**tasks, **unrelated}.items():
        if task_name not in optuna.get_all_study_names(storage):
            study = optuna.create_study(
                study_name=task_name, storage=storage, sampler=optuna.samplers.TPESampler(seed=100)
            )
            study.optimize(lambda t, f=objective: f(space.suggest(t)), n_trials=budget)
    counts: dict[str, list[int]] = {m: [] for m in METHODS}
    fallbacks = {m: 0 for m in METHODS}
    for target, objective in tasks.items():
        related = [t for t in tasks if t != target]
        settings = {
            "transfer: seed": {"studies": related, "transfer": "seed"},
            "transfer: box": {"studies": related, "transfer": "box"},
            "unrelated sources": {"studies": list(unrelated), "transfer": "seed"},
        }
        curves = {m: [] for m in METHODS}
        for seed in range(seeds):
            curves["cold"].append(run(space, objective, budget, seed)[0])
            for method, ws in settings.items():
                plan = plan_transfer(
                    ws, space, url, f"target-{seed}", [optuna.study.StudyDirection.MINIMIZE], budget
                )
                curve, fell_back = run(space, objective, budget, seed, plan)
                curves[method].append(curve)
                fallbacks[method] += fell_back
        goal = statistics.median(c[-1] for c in curves["cold"])
        for method in METHODS:
            counts[method] += [to_target(c, goal) for c in curves[method]]
    cold = statistics.median(counts["cold"])
    rows = []
    for method in METHODS:
        median = statistics.median(counts[method])
        shown = ", ".join(str(c) if c <= budget else f">{budget}" for c in counts[method])
        back = f"{fallbacks[method]}/{len(counts[method])}" if method != "cold" else ""
        rows.append(f"| {name} | {method} | {median:g} | {median / cold:.2f}x | {back} | {shown} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    start = time.monotonic()
    print(f"budget {args.budget} trials, seeds 0..{args.seeds - 1}, 4 targets per family;")
    print("trials to the target (cold start's median best in the whole budget), per target x seed")
    print("\n| family | method | median trials to target | vs cold | guard fell back | per run |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (space, tasks, unrelated) in families().items():
            for row in family_rows(name, space, tasks, unrelated, args.budget, args.seeds, tmp):
                print(row, flush=True)
    print(f"\n{time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
