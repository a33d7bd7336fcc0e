"""What the bench/search suites share: the grid of runs, run in a pool, and its tables.

A suite gives ``problems(size)`` (keys with their budgets and seeds) and ``make(key)``, which
returns ``(space, evaluate, optimum)`` in any process. Every contender runs every
(problem, budget, seed) with its own defaults; ``auto`` reuses the run of the contender it
repeats draw for draw (``contenders.same_as``). Ranks are per (problem, budget, seed) over the
contenders that ran (ties share the mean rank), averaged per contender with a 95% bootstrap
interval over those units (2,000 resamples).
"""

from __future__ import annotations

import importlib
import json
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import target
from bench.search import hebo_contender
from bench.search.contenders import CONTENDERS, LABELS, run_contender, same_as

# Why a contender has no figures here; its row stays in every table.
NOT_RUN = {"hebo": why} if (why := hebo_contender.missing()) else {}
# Seconds a suggestion of a slow contender: its row in a table whose units it was left out of
# says what they would have cost it. HEBO: the mean over its 12 BBOB runs (d=2, 20 trials) of
# 2026-12-04 at load 4-11 (bench/search/RESULTS.md).
NOT_RUN_SECONDS = {"hebo": 4.5}


@dataclass(frozen=True)
class Unit:
    """One (problem, budget, seed): every contender runs it once."""

    suite: str  # the module under bench.search that makes the problem
    key: tuple
    budget: int
    seed: int

    @property
    def name(self) -> str:
        return "-".join(str(k) for k in self.key)


def _make(unit: Unit) -> Any:
    return importlib.import_module(f"bench.search.{unit.suite}").make(unit.key)


def _run(args: tuple[Unit, str]) -> tuple[Unit, str, list, list]:
    unit, contender = args
    space, evaluate, _ = _make(unit)
    values, seconds = run_contender(contender, space, evaluate, unit.budget, unit.seed)
    return unit, contender, values, seconds


def run_grid(
    units: Sequence[Unit], workers: int = 2, skip: Any = lambda unit: (), cache: str = ""
) -> dict[str, Any]:
    """Every contender on every unit (except those in ``NOT_RUN``); per unit and contender:
    the best value, the trace and the seconds per suggestion. ``skip(unit)``: the contenders
    left out of a unit to fit the CPU budget (said in the results). With ``cache``, each run is
    appended to ``$TMPDIR/hydratune-bench-search/<cache>-<contender>-<code>.jsonl`` as it ends
    and read back by the next call: a run interrupted or failing in its tables loses no run,
    and a change to one contender's code reruns that contender only."""
    suites = sorted({unit.suite for unit in units})
    root = Path(tempfile.gettempdir()) / "hydratune-bench-search"
    paths = {c: root / f"{cache}-{c}-{_code(suites, c)}.jsonl" for c in CONTENDERS}
    done_before: dict[tuple, dict] = {}
    for contender, path in paths.items():
        if not (cache and path.exists()):
            continue
        for line in path.read_text().splitlines():
            row = json.loads(line)
            unit = Unit(**{**row["unit"], "key": tuple(row["unit"]["key"])})
            done_before[_key(unit, contender)] = row
    jobs, reused = [], {}
    for unit in units:
        space, _, _ = _make(unit)
        twin = same_as(space, unit.budget)
        for contender in CONTENDERS:
            if contender in NOT_RUN:
                continue
            if contender in skip(unit):
                continue
            if contender == "auto" and twin is not None:
                reused[unit] = twin
                continue
            jobs.append((unit, contender))
    runs: dict[tuple[Unit, str], dict[str, Any]] = {}
    for unit, contender in jobs:
        row = done_before.get(_key(unit, contender))
        if row is not None:
            runs[unit, contender] = {"values": row["values"], "seconds": row["seconds"]}
    todo = [job for job in jobs if job not in runs]
    if cache:
        root.mkdir(parents=True, exist_ok=True)
        print(f"  {len(jobs) - len(todo)} of {len(jobs)} runs read back from {root}", flush=True)
    with ProcessPoolExecutor(workers) as pool:
        for done, (unit, contender, values, seconds) in enumerate(pool.map(_run, todo), 1):
            runs[unit, contender] = {"values": values, "seconds": seconds}
            if cache:
                row = {"unit": asdict(unit), "c": contender, "values": values, "seconds": seconds}
                with paths[contender].open("a") as out:
                    out.write(json.dumps(row) + "\n")
            if done % 20 == 0 or done == len(todo):
                print(f"  {done}/{len(todo)} runs", flush=True)
    for unit, twin in reused.items():
        runs[unit, "auto"] = {**runs[unit, twin], "same_as": twin}
    optima = {unit: _make(unit)[2] for unit in units}
    return {"runs": runs, "optima": optima, "reused": reused}


def _code(suites: Sequence[str], contender: str) -> str:
    """A digest of the code that decides a contender's runs (its runner: HEBO's two modules,
    else contenders.py, with auto's rules for auto; the suites' problems): a cache written by
    other code is never read back."""
    import hashlib

    from hydratune.sweep import auto

    here = Path(__file__).parent
    if contender == "hebo":
        files = [here / "hebo_contender.py", here / "hebo_runner.py"]
    else:
        files = [here / "contenders.py"] + ([Path(auto.__file__)] if contender == "auto" else [])
    files += [here / f"{suite}.py" for suite in suites]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]


def _key(unit: Unit, contender: str) -> tuple:
    return (unit.suite, tuple(unit.key), unit.budget, unit.seed, contender)


def best(run: dict[str, Any], budget: int) -> float:
    return float(min(run["values"][:budget]))


def ranks(grid: dict[str, Any], units: Sequence[Unit]) -> dict[str, list[float]]:
    """Per contender, its rank on each unit (1 = best; ties share the mean)."""
    out: dict[str, list[float]] = defaultdict(list)
    for unit in units:
        scores = {c: best(grid["runs"][unit, c], unit.budget) for c in ran(grid, unit)}
        for c, value in scores.items():
            below = sum(v < value for v in scores.values())
            ties = sum(v == value for v in scores.values())
            out[c].append(below + (ties + 1) / 2)
    return out


def ran(grid: dict[str, Any], unit: Unit) -> list[str]:
    return [c for c in CONTENDERS if (unit, c) in grid["runs"]]


def complete(grid: dict[str, Any], units: Sequence[Unit]) -> list[Unit]:
    """The units every contender that ran anywhere ran: ranks there compare like with like."""
    everyone = {c for (_, c) in grid["runs"]}
    return [u for u in units if set(ran(grid, u)) == everyone]


def bootstrap(values: Sequence[float], n: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=float)
    means = data[rng.integers(0, len(data), (n, len(data)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def wins(grid: dict[str, Any], units: Sequence[Unit], a: str = "auto", b: str = "tpe") -> tuple:
    """(wins, ties, losses) of ``a`` against ``b`` over the units both ran."""
    w = t = lost = 0
    for unit in units:
        if (unit, a) not in grid["runs"] or (unit, b) not in grid["runs"]:
            continue
        x, y = best(grid["runs"][unit, a], unit.budget), best(grid["runs"][unit, b], unit.budget)
        w, t, lost = w + (x < y), t + (x == y), lost + (x > y)
    return w, t, lost


def problem_wins(
    grid: dict[str, Any],
    units: Sequence[Unit],
    a: str = "auto",
    b: str = "tpe",
    grain: Callable[[Unit], float] | None = None,
) -> tuple:
    """(wins, ties, losses) of ``a`` against ``b`` per problem (a suite's key at one budget):
    each one's best values averaged over the seeds both ran. With ``grain``, a second reading:
    a difference below ``grain(unit)`` (the least the loss can move) counts as a tie."""
    seeds: dict[tuple, list[Unit]] = defaultdict(list)
    for unit in units:
        if (unit, a) in grid["runs"] and (unit, b) in grid["runs"]:
            seeds[unit.suite, unit.key, unit.budget].append(unit)
    w = t = lost = 0
    for group in seeds.values():
        x = statistics.mean(best(grid["runs"][u, a], u.budget) for u in group)
        y = statistics.mean(best(grid["runs"][u, b], u.budget) for u in group)
        tie = x == y or (grain is not None and abs(x - y) < grain(group[0]))
        w, t, lost = w + (x < y and not tie), t + tie, lost + (x > y and not tie)
    return w, t, lost


def seconds_per_suggestion(grid: dict[str, Any], units: Sequence[Unit], contender: str) -> float:
    own = [u for u in units if "same_as" not in grid["runs"].get((u, contender), {"same_as": 1})]
    times = [s for u in own for s in grid["runs"][u, contender]["seconds"]]
    return statistics.mean(times) if times else float("nan")


def rank_table(
    grid: dict[str, Any], units: Sequence[Unit], extra: dict[str, dict[str, str]] | None = None
) -> tuple[str, dict[str, Any]]:
    """Markdown: mean rank (95% CI), wins vs TPE, median s/suggestion, extra columns."""
    r = ranks(grid, units)
    extra = extra or {}
    columns = ["contender", "mean rank (95% CI)", "vs TPE: wins/ties/losses"]
    columns += ["vs TPE per problem", "s/suggestion (mean)"]
    columns += list(extra)
    rows, figures = [], {}
    for c in sorted(CONTENDERS, key=lambda c: statistics.mean(r[c]) if r.get(c) else 99):
        if not r.get(c):
            why = NOT_RUN.get(c, "left out of these units to fit the CPU budget")
            if c in NOT_RUN_SECONDS:
                n = sum(u.budget for u in units)
                minutes = n * NOT_RUN_SECONDS[c] / 60
                cost = f"{minutes / 60:.1f} hours" if minutes >= 60 else f"{minutes:.0f} min"
                why += (
                    f", about {NOT_RUN_SECONDS[c]:.1f} s a suggestion: these units' {n:,}"
                    f" suggestions would take it about {cost} of the 2 shared cores"
                )
            rows.append([LABELS[c], why, "", "", ""] + [""] * len(extra))
            continue
        low, high = bootstrap(r[c])
        mean = statistics.mean(r[c])
        w = wins(grid, units, c) if c != "tpe" else ("-", "-", "-")
        p = problem_wins(grid, units, c) if c != "tpe" else ("-", "-", "-")
        s = seconds_per_suggestion(grid, units, c)
        twins = {grid["runs"][u, c].get("same_as") for u in units if (u, c) in grid["runs"]}
        figures[c] = {"mean_rank": mean, "ci": [low, high], "wins_vs_tpe": w, "s": s}
        figures[c]["problem_wins_vs_tpe"] = p
        rows.append(
            [
                f"**{LABELS[c]}**" if c == "auto" else LABELS[c],
                f"{mean:.2f} ({low:.2f}-{high:.2f})",
                "/".join(str(x) for x in w),
                "/".join(str(x) for x in p),
                f"{s:.3f}" if s == s else f"{LABELS[twins.pop()]}'s run" if len(twins) == 1 else "",
            ]
            + [extra[col].get(c, "") for col in extra]
        )
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines), figures


def verdict(figures: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets on one table: best mean rank; wins vs TPE on >= 2/3 of the problems
    (and the share of units); where it is not the best, inside the best contender's interval."""
    if "auto" not in figures:
        return {}
    top = min(figures, key=lambda c: (figures[c]["mean_rank"], c != "auto"))  # a tie: auto

    def share(counts: Sequence[int]) -> float:
        return counts[0] / sum(counts) if sum(counts) else float("nan")

    return {
        "best_mean_rank": top == "auto",  # ties with a twin it repeats count as best
        "best": top,
        "wins_share": share(figures["auto"]["problem_wins_vs_tpe"]),
        "unit_wins_share": share(figures["auto"]["wins_vs_tpe"]),
        "inside_best_ci": figures[top]["ci"][0]
        <= figures["auto"]["mean_rank"]
        <= figures[top]["ci"][1],
    }


def verdict_targets(suite: str, figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's two targets for ``suite``'s table: auto's mean rank is the best, and auto
    beats TPE on at least 2/3 of the problems (none while auto did not run)."""
    v = verdict(figures)
    if not v:
        return []
    w, t, lost = figures["auto"]["problem_wins_vs_tpe"]
    return [
        target(
            f"{suite}: auto has the best mean rank",
            "best of all",
            v["best"],
            v["best_mean_rank"],
            f"best: {v['best']}"
            + ("" if v["best_mean_rank"] else f"; auto inside its 95% CI: {v['inside_best_ci']}"),
        ),
        target(
            f"{suite}: auto beats TPE",
            ">= 2/3 of problems",
            f"{v['wins_share']:.0%} of problems ({w}/{t}/{lost}), {v['unit_wins_share']:.0%}"
            " of units",
            v["wins_share"] >= 2 / 3,
            "see the table",
        ),
    ]
