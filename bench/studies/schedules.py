"""Issue 24: checkpointed schedules against TPE with and without pruning, at an equal epoch budget.

Contenders on two tasks (``bench.common.TASKS``: the digits CNN and a harder one, an MLP on
4 classes of generated data that stays below 90% accuracy; the same space, lr and activation;
val/loss minimised, TPE seeded per run, one trial at a time):
TPE without pruning, TPE + median, TPE + successive halving (Optuna's pruners, as today),
hydratune ASHA with promotion (eta 3: rungs at 1, 3 and 9 epochs; the paper's promotion, the
default, and eager promotion, ``asha_eager``, as Ray Tune's), hydratune PBT
(population 8, 3 epochs per run, explore lr and activation) and PB2 (as PBT, lr chosen by
GP-UCB), then their peers Ray Tune ASHA and PBT with the same settings on the same task
(``bench.studies.raytune_peers``). Each sweep
stops when its epoch budget is spent (``bench.tasks.EPOCHS``), or at PBT's natural end. Scored
as the pruning study scores (``bench.studies.pruning.summarise``): epochs until a reported loss
first reaches the target (the worst seed's best TPE loss) and the best loss within the budget;
and per seed (``per_seed``): the epochs TPE took to its own best loss over the epochs each
contender took to reach that loss.

Sized for about 12 min a task on 2 cores (``--quick``: one seed, a budget of 8 epochs, a
population of 4 and the first task, to check it runs;
``--seeds``, ``--first-seed``, ``--budget``, ``--contenders``, ``--tasks``: another reading, see
``options``).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L

from bench.common import (
    APP_CONF,
    CNN,
    TASKS,
    Figure,
    md_table,
    module_main,
    pin_threads,
    progress,
    target,
)
from bench.studies import raytune_peers
from bench.studies.pruning import epochs_to, real_cnn, saving_text, section, summarise
from hydratune.schema.schedulers import AshaConf, PbtConf

TITLE = "Schedules: ASHA and PBT from checkpoints against TPE and its pruners"
EPOCHS_PER_RUN = 9
ETA = 3  # ASHA's rungs at 1, 3 and 9 epochs
POPULATION = 8  # --quick: 4, so that its 8-epoch budget holds a continuation of every member
CONTENDERS: dict[str, list[str]] = {
    "nop": [],  # TPE without pruning: the baseline every saving is measured against
    "median": ["hydra/sweeper/pruner=median"],
    "successive_halving": ["hydra/sweeper/pruner=successive_halving"],
    "asha": ["hydra/sweeper/scheduler=asha", f"hydra.sweeper.scheduler.eta={ETA}"],
    "asha_eager": [  # also at once a run at or above its rung's 1 - 1/eta quantile so far
        "hydra/sweeper/scheduler=asha",
        f"hydra.sweeper.scheduler.eta={ETA}",
        "hydra.sweeper.scheduler.promotion=eager",
    ],
    "pbt": [
        "hydra/sweeper/scheduler=pbt",
        "hydra.sweeper.scheduler.explore=[model.optimizer.lr,model.activation]",
    ],
    "pb2": [  # PBT whose explore step picks lr by GP-UCB (activation moves as in PBT)
        "hydra/sweeper/scheduler=pb2",
        "hydra.sweeper.scheduler.explore=[model.optimizer.lr,model.activation]",
    ],
}
PEERS = {"ray_asha": "asha", "ray_pbt": "pbt"}  # Ray Tune's contender -> hydratune's schedule


def pbt_interval(epochs: int) -> int:
    return max(1, epochs // 3)  # three runs of a third of the epochs per member


def contender(
    name: str, seed: int, budget: int, epochs: int, task: str, population: int
) -> dict[str, Any]:
    if name in PEERS:  # Ray Tune with hydratune's settings of the same schedule
        asha, pbt = AshaConf(), PbtConf()
        settings = {
            "eta": ETA,
            "min_resource": asha.min_resource,
            "population": population,
            "perturbation_interval": pbt_interval(epochs),
            "quantile_fraction": pbt.quantile_fraction,
            "resample_probability": pbt.resample_probability,
        }
        return raytune_peers.contender(name, seed, budget, epochs, settings, task)
    extra = [*CONTENDERS[name]]
    if name in ("pbt", "pb2"):
        extra += [
            f"hydra.sweeper.scheduler.population={population}",
            f"hydra.sweeper.scheduler.seed={seed}",
            f"hydra.sweeper.scheduler.perturbation_interval={pbt_interval(epochs)}",
        ]
    pruner = "nop" if name in ("asha", "asha_eager", "pbt", "pb2", "nop") else None
    if pruner is None:  # a pruner contender names its pruner in `extra`
        extra, pruner = extra[1:], extra[0].split("=")[1]
    return real_cnn(pruner, seed, budget, epochs, extra, TASKS[task])


class Stopwatch(L.Callback):
    """Times a run's checkpoint write (``Trainer.save_checkpoint``, at a pause) and the span
    from ``setup`` to the first training step, which holds a continuation's restore (the file
    read, the weights, optimizer, loop and random states) and the same set-up in a plain run."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.started, self.save_seconds = time.perf_counter(), 0.0
        save = trainer.save_checkpoint

        def timed_save(*args: Any, **kwargs: Any) -> None:
            began = time.perf_counter()
            save(*args, **kwargs)
            self.save_seconds += time.perf_counter() - began

        trainer.save_checkpoint = timed_save

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start_seconds = time.perf_counter() - self.started


def checkpoint_cost(repeats: int = 3, epochs: int = 3) -> dict[str, Any]:
    """What a pause and a continuation cost a run of the digits CNN, measured inside the runs
    (interleaved ``repeats`` times: plain, saving at its end, continuing from that save): the
    save itself, plus the continuation's extra time from set-up to its first step over the
    plain run's, as a share of a plain run. Whole runs differ by more than that from one
    repeat to the next on 2 shared cores, so their differences cannot show a few percent."""
    from hydra import compose, initialize_config_dir

    from hydratune.training.task import train

    base = [o for o in CNN if not o.startswith(("sweep=", "hydra."))]

    def timed(*overrides: str) -> tuple[float, Stopwatch]:
        with initialize_config_dir(config_dir=str(APP_CONF), version_base="1.3"):
            cfg = compose("train", overrides=[*base, f"paths.output_dir={folder}", *overrides])
        stopwatch = Stopwatch()
        start = time.perf_counter()
        train(cfg, callbacks=[stopwatch])
        return time.perf_counter() - start, stopwatch

    seconds: dict[str, list[float]] = {"plain": [], "save": [], "continue": [], "percent": []}
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder, "last.ckpt")
        timed(f"trainer.max_epochs={epochs}")  # warm-up
        for _ in range(repeats):
            plain, plain_watch = timed(f"trainer.max_epochs={epochs}")
            _, save_watch = timed(f"trainer.max_epochs={epochs}", f"ckpt_save={checkpoint}")
            _, continue_watch = timed(f"trainer.max_epochs={2 * epochs}", f"ckpt_path={checkpoint}")
            restore = continue_watch.start_seconds - plain_watch.start_seconds
            seconds["plain"].append(plain)
            seconds["save"].append(1000 * save_watch.save_seconds)
            seconds["continue"].append(1000 * restore)
            seconds["percent"].append(100 * (save_watch.save_seconds + restore) / plain)
        size = checkpoint.stat().st_size
    return {
        "epochs": epochs,
        "plain_seconds": Figure.of(seconds["plain"]),
        "save_ms": Figure.of(seconds["save"]),
        "restore_ms": Figure.of(seconds["continue"]),
        "percent": Figure.of(seconds["percent"]),
        "bytes": size,
    }


def options(parser: argparse.ArgumentParser) -> None:
    """A reading beside the study's (``--seeds 5 --budget 180 --contenders nop,asha,ray_asha``):
    the same contenders, tasks and scoring at another size; the targets need every contender,
    so a subset gives its tables and per-seed reading only."""
    names = [*CONTENDERS, *PEERS]
    parser.add_argument("--seeds", type=int, help="how many seeds (default 3; --quick 1)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--budget", type=int, help="epochs per sweep (default 72; --quick 8)")
    parser.add_argument(
        "--contenders",
        type=lambda text: text.split(","),
        default=names,
        help=f"comma-separated, nop first (default all: {','.join(names)})",
    )
    parser.add_argument(
        "--tasks",
        type=lambda text: text.split(","),
        help=f"comma-separated (default all: {','.join(TASKS)}; --quick the first)",
    )


def run(
    quick: bool,
    seeds: int | None = None,
    first_seed: int = 0,
    budget: int | None = None,
    contenders: Sequence[str] = (*CONTENDERS, *PEERS),
    tasks: Sequence[str] | None = None,
) -> dict[str, Any]:
    tasks = tasks or list(TASKS)[: 1 if quick else None]
    unknown = sorted({*contenders} - {*CONTENDERS, *PEERS} | {*tasks} - {*TASKS})
    if unknown or contenders[0] != "nop":
        raise SystemExit(f"unknown contenders or tasks {unknown}, or nop not first: {contenders}")
    complete = {*contenders} == {*CONTENDERS, *PEERS}
    threads = pin_threads(1)
    seeds = seeds or (1 if quick else 3)
    epochs = 3 if quick else EPOCHS_PER_RUN
    budget = budget or (8 if quick else 72)  # 72: 8 full runs of 9 epochs
    population = 4 if quick else POPULATION
    if not quick:  # --quick's figures are not read: its first contender may pay for it
        real_cnn("nop", 0, 2, 2)  # warm-up: Lightning's first fit in a process is slower
    peers = [name for name in contenders if name in PEERS]
    ray_seconds = raytune_peers.start_ray() if peers else 0.0
    runs: dict[str, dict[str, list[dict]]] = {}
    for task in tasks:
        runs[task] = {name: [] for name in contenders}
        for seed in range(first_seed, first_seed + seeds):  # contenders interleaved per seed
            for name in runs[task]:
                progress(f"schedules: {task}, seed {seed}, {name}")
                runs[task][name].append(contender(name, seed, budget, epochs, task, population))
    if peers:
        raytune_peers.stop_ray()  # its idle processes would weigh on the timing below
    cost = checkpoint_cost(1 if quick else 10) if complete else None
    md = [
        f"Threads: {threads}. `python -m bench.studies.schedules` (seeds {first_seed}-"
        f"{first_seed + seeds - 1}, budget {budget}, contenders {','.join(contenders)},"
        f" tasks {', '.join(tasks)});"
        " nop = TPE without pruning."
        " Epochs are counted as they ran over all trials (a continuation counts only the"
        " epochs it trained); PBT ends by itself after population x 3 runs of 3 epochs."
        " ray_asha, ray_pbt: Ray Tune's ASHAScheduler (TPE proposing, as ours) and"
        " PopulationBasedTraining (synch, random population) with the same settings, task,"
        " seeds and budget, one trial at a time (`bench.studies.raytune_peers`); their runs"
        " count a Ray trial's start and each continuation from a checkpoint, pruned the runs"
        f" stopped (ASHA) or paused (PBT) early. Ray started in {ray_seconds:.1f} s.",
    ]
    targets, goals, readings = [], {}, {}
    for task, task_runs in runs.items():
        goals[task] = goal = max(min(r["curve"]) for r in task_runs["nop"])
        summary = summarise(task_runs, goal, budget)
        md += [
            "",
            *section(
                task[0].upper() + task[1:],
                summary,
                seeds,
                f"{seeds} seed(s), {budget}-epoch budget, {epochs} epochs per configuration,"
                f" target val/loss {goal:.4f} = the worst seed's best TPE loss",
            ),
        ]
        readings[task] = reading = per_seed(task_runs, first_seed)
        md += [per_seed_text(task, reading), ""]
        if complete:
            targets += task_targets(task, summary, task_runs, goal, budget, reading)
    if cost is not None:
        md += ["", cost_text(cost)]
        targets.append(
            target(
                "checkpoint save + load (digits CNN)",
                "<= 5% of a run's time",
                f"{cost['percent'].text(1, '%')} of a {cost['epochs']}-epoch run",
                cost["percent"].median <= 5,
                cost_text(cost),
            )
        )
    raw = {
        "runs": runs,
        "goals": goals,
        "per_seed": readings,
        "checkpoint_cost": cost,
        "ray_init_seconds": ray_seconds,
    }
    return {"markdown": "\n".join(md), "targets": targets, "raw": raw}


def per_seed(runs: dict[str, list[dict]], first_seed: int = 0) -> list[dict[str, Any]]:
    """Each seed against its own TPE run: TPE's best loss, the epochs TPE took to reach it, and
    per contender the epochs it took to reach that loss (inf: never) and TPE's epochs over
    those (0 when never reached)."""
    out = []
    for index, nop in enumerate(runs["nop"]):
        best = min(nop["curve"])
        tpe = epochs_to(nop["curve"], best)
        reached = {name: epochs_to(r[index]["curve"], best) for name, r in runs.items()}
        out.append(
            {
                "seed": first_seed + index,
                "best": best,
                "tpe_epochs": tpe,
                "epochs": reached,
                "ratio": {name: tpe / epochs for name, epochs in reached.items()},
            }
        )
    return out


def per_seed_text(task: str, reading: list[dict[str, Any]]) -> str:
    """The per-seed table, with the median (min-max) ratio of each contender below it."""
    names = [n for n in reading[0]["epochs"] if n != "nop"]
    rows = [
        [
            r["seed"],
            f"{r['best']:.4f}",
            f"{r['tpe_epochs']:.0f}",
            *(
                f"{r['epochs'][n]:.0f} ({r['ratio'][n]:.2f}x)"
                if math.isfinite(r["epochs"][n])
                else "not reached"
                for n in names
            ),
        ]
        for r in reading
    ]
    rows.append(
        [
            "ratio",
            "",
            "",
            *(Figure.of([r["ratio"][n] for r in reading]).text(2, "x") for n in names),
        ]
    )
    return "\n".join(
        [
            f"Per seed, {task}: each seed's own TPE best loss, the epochs TPE took to reach it, and"
            " the epochs each contender took to reach that loss (TPE's epochs over those;"
            " the last row: median (min-max) over seeds, 0 for a seed that never reached it).",
            "",
            md_table(["seed", "TPE's best loss", "TPE's epochs to it", *names], rows),
        ]
    )


def task_targets(
    task: str,
    summary: dict[str, dict[str, Any]],
    runs: dict[str, list[dict]],
    goal: float,
    budget: int,
    reading: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The issue's targets on one task: ASHA and PBT against TPE (ASHA read both ways), then
    against Ray Tune's."""
    nop, asha, pbt = summary["nop"], summary["asha"], summary["pbt"]

    def seed_ratios(name: str) -> Figure:
        return Figure.of([r["ratio"][name] for r in reading])

    mine, ray, eager = seed_ratios("asha"), seed_ratios("ray_asha"), seed_ratios("asha_eager")
    return [
        target(
            f"ASHA with promotion ({task})",
            ">= 2x fewer epochs than TPE to TPE's target, best-in-budget no worse",
            f"{saving_text(asha)}, best loss {asha['best'].median:.4f} vs TPE"
            f" {nop['best'].median:.4f}",
            asha["saving"] >= 2 and asha["best"].median <= nop["best"].median,
            f"ASHA reached the target after {asha['epochs_to_target'].text(0)} epochs against"
            f" TPE's {nop['epochs_to_target'].text(0)} ({asha['trials'].text(0)} runs,"
            f" {asha['pruned'].text(0)} of them paused)",
        ),
        target(
            f"ASHA with promotion, per seed ({task})",
            ">= 2x fewer epochs than TPE to each seed's own TPE best (median over seeds),"
            " best-in-budget no worse",
            f"{mine.text(2, 'x')} (Ray Tune ASHA {ray.text(2, 'x')}; eager promotion"
            f" {eager.text(2, 'x')})",
            mine.median >= 2 and asha["best"].median <= nop["best"].median,
            f"per seed, TPE's epochs to its own best over ASHA's: {mine.text(2, 'x')}, Ray Tune"
            f" ASHA's {ray.text(2, 'x')}, eager promotion {eager.text(2, 'x')}",
        ),
        target(
            f"PBT ({task})",
            "best loss at equal epochs no worse than TPE's",
            f"best loss {pbt['best'].median:.4f} vs TPE {nop['best'].median:.4f}",
            pbt["best"].median <= nop["best"].median,
            f"PBT's best loss {pbt['best'].text(4)} against TPE's {nop['best'].text(4)}",
        ),
        *peer_targets(task, summary, runs, goal, budget),
    ]


def peer_targets(
    task: str,
    summary: dict[str, dict[str, Any]],
    runs: dict[str, list[dict]],
    goal: float,
    budget: int,
) -> list[dict[str, Any]]:
    """Each hydratune schedule against Ray Tune's: epochs to TPE's target (Ray Tune's over
    ours, per seed; a seed that never reaches it counts the whole budget), and PBT's best loss
    at equal epochs."""
    out = []
    for peer, ours in PEERS.items():
        mine, theirs = summary[ours], summary[peer]
        per_seed = [
            min(epochs_to(p["curve"], goal), budget) / min(epochs_to(o["curve"], goal), budget)
            for o, p in zip(runs[ours], runs[peer], strict=True)
        ]
        ratio = Figure.of(per_seed)
        detail = (
            f"{ours} reached TPE's target after {mine['epochs_to_target'].text(0)} epochs,"
            f" Ray Tune's {theirs['epochs_to_target'].text(0)} ({theirs['reached']} of"
            f" {ratio.n} seeds reached it; best loss {mine['best'].text(4)} against"
            f" {theirs['best'].text(4)})"
        )
        out.append(
            target(
                f"{ours.upper()} vs Ray Tune's ({task})",
                "at least as compute-efficient: Ray Tune's epochs to TPE's target over ours >= 1",
                f"{ratio.text(2, 'x')} ({detail})",
                ratio.median >= 1,
                detail,
            )
        )
    pbt, ray = summary["pbt"], summary["ray_pbt"]
    used = Figure.of([len(r["curve"]) for r in runs["pbt"]]).text(0)
    ray_used = Figure.of([len(r["curve"]) for r in runs["ray_pbt"]]).text(0)
    out.append(
        target(
            f"PBT vs Ray Tune PBT ({task})",
            "best loss at equal epochs no worse than Ray Tune PBT's",
            f"best loss {pbt['best'].median:.4f} vs Ray Tune {ray['best'].median:.4f}",
            pbt["best"].median <= ray["best"].median,
            f"PBT's best loss {pbt['best'].text(4)} in {used} epochs against Ray Tune PBT's"
            f" {ray['best'].text(4)} in {ray_used}",
        )
    )
    return out


def cost_text(cost: dict[str, Any]) -> str:
    return (
        f"Checkpoint cost: a {cost['epochs']}-epoch run takes {cost['plain_seconds'].text(2)} s"
        f" plain; saving its checkpoint ({cost['bytes'] / 1e6:.2f} MB) takes"
        f" {cost['save_ms'].text(1)} ms, a continuation's restore adds"
        f" {cost['restore_ms'].text(1)} ms before its first step; together"
        f" {cost['percent'].text(1, '%')} of a plain run (medians over interleaved repeats,"
        " ranges in brackets; measured inside the runs with a Lightning callback)."
    )


if __name__ == "__main__":
    module_main(TITLE, run, options=options)
