"""Issue 5: parallel trials. Throughput of 2 workers x 1 thread vs 1 x 1 vs 1 x 2 on the
digits CNN, and the idle fraction of worker slots when trials have uneven lengths.

Throughput (trials/s) is steady-state: counted from the moment every slot has finished its
first trial (worker start-up, imports and Lightning's first fit are reported apart). All three
run the same trials (random sampler, seed 0), interleaved. ``n_jobs=1`` trials run in the
sweeper's process, pinned there with ``torch.set_num_threads``; ``n_jobs=2`` workers are pinned
by the sweeper (``threads_per_worker=1``: ``torch.set_num_threads`` and ``OMP_NUM_THREADS``).
Every task records ``torch.get_num_threads()`` so the pinning is checked, not assumed.

Idle fraction: a sleep task whose length is the trial's parameter (0.15-1.5 s, the length of
2..20 epochs of the digits CNN), 2 slots. Ours is
measured while both workers are up (start-up and the last trial's tail left out); the
batch-synchronous schedule (hydra-optuna-sweeper's: ask n_jobs, wait for the slowest) is
simulated on the same durations in trial order, with zero overhead per batch.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bench.common import (
    Figure,
    cnn_sweep,
    columns,
    fresh_cwd,
    interleave,
    load_study,
    md_table,
    module_main,
    pin_threads,
    ratios,
    record,
    sweep,
    target,
    timeline,
)
from bench.tasks import GC_FREEZE, LOG, sleep_task, timed_train

TITLE = "Parallel trials: throughput and idle worker slots"
SPEEDUP_TARGET, VS_THREADS_TARGET, IDLE_TARGET = 1.8, 1.4, 0.10
# Sleep trials as long as 2..20 epochs of the digits CNN (about 0.075 s an epoch).
SLEEP_S = (0.15, 1.5)
# name: (n_jobs, threads per worker, gc.freeze() in the workers: the proposed fix, not the
# product's behaviour; measured to show what it would change).
LAYOUTS = {
    "2 workers x 1 thread": (2, 1, False),
    "1 worker x 1 thread": (1, 1, False),
    "1 worker x 2 threads": (1, 2, False),
    "2 workers x 1 thread + gc.freeze()": (2, 1, True),
}
FIX = "2 workers x 1 thread + gc.freeze()"
# --quick: the two layouts of the first target, and no gc.freeze() sleep sweep. On 2 busy cores
# 2 torch threads run 10-30x slower than 1 (they wait for each other), and each gc.freeze()
# sweep starts 2 workers that import Lightning: those took most of the quick run's time.
QUICK_LAYOUTS = ("2 workers x 1 thread", "1 worker x 1 thread")


@contextlib.contextmanager
def frozen_workers(on: bool) -> Iterator[None]:
    """Workers started meanwhile freeze their heap once (``bench.tasks.GC_FREEZE``)."""
    if on:
        os.environ[GC_FREEZE] = "1"
    try:
        yield
    finally:
        os.environ.pop(GC_FREEZE, None)


def gc_cost() -> dict[str, Any]:
    """What loky's workers pay between tasks: without psutil, loky runs ``gc.collect()`` after
    a task whenever a second has passed since the last one. Timed here, in a process that has
    imported what a worker imports (torch, Lightning, hydratune), before and after freezing."""
    import importlib.util

    import hydratune.training.task  # noqa: F401  (what a worker has imported)

    def timed() -> float:
        start = time.perf_counter()
        gc.collect()
        return (time.perf_counter() - start) * 1000

    before = Figure.of([timed() for _ in range(3)])
    gc.freeze()
    after = Figure.of([timed() for _ in range(3)])
    gc.unfreeze()
    return {
        "psutil": importlib.util.find_spec("psutil") is not None,
        "gc_ms": before,
        "gc_ms_frozen": after,
    }


def cnn_run(
    n_trials: int, epochs: int, n_jobs: int, threads: int, freeze: bool = False
) -> dict[str, Any]:
    pin_threads(threads if n_jobs == 1 else 1)
    overrides = [
        f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweeper.n_jobs={n_jobs}",
        f"hydra.sweeper.threads_per_worker={threads}",
        f"trainer.max_epochs={epochs}",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0",
    ]
    load = os.getloadavg()[0]
    with fresh_cwd() as cwd, frozen_workers(freeze):
        LOG.reset()
        run = cnn_sweep(overrides, timed_train).check()
        rows = timeline(load_study(cwd).trials, LOG.times)
    pin_threads(1)
    # The 1-minute load average around the run: other processes competing for the 2 cores.
    return record(run.start, run.end, rows, n_jobs=n_jobs, load=(load, os.getloadavg()[0]))


def layout_costs(runs: Sequence[dict], n_slots: int, throughput: Sequence[float]) -> dict:
    """Per trial and slot: seconds of training (each slot's first trial left out) and seconds
    between trials (a slot's cycle, n_slots / throughput, minus the training)."""
    warm = [x for r in runs for x in after_first_per_slot(r["rows"])]
    task = Figure.of([x["finished"] - x["started"] for x in warm]).median
    cycle = n_slots / Figure.of(throughput).median
    load = Figure.of([sum(r["load"]) / 2 for r in runs]).median
    return {"slots": n_slots, "task_s": task, "gap_s": cycle - task, "load": load}


def explain(per: dict[str, dict], a: str, b: str) -> str:
    """Why a's throughput over b's is what it is, from the measured per-trial costs."""
    pa, pb = per[a], per[b]
    return (
        f"throughput = slots / (training + time between trials). {a}: {pa['slots']} slot(s) x"
        f" ({pa['task_s']:.3f} s training + {pa['gap_s']:.3f} s between trials); {b}:"
        f" {pb['slots']} x ({pb['task_s']:.3f} + {pb['gap_s']:.3f} s). Training a trial takes"
        f" {pa['task_s'] / pb['task_s']:.2f}x as long in {a} as in {b} (1-minute load average"
        f" around the runs: {pa['load']:.1f} and {pb['load']:.1f} on {os.cpu_count()} CPUs:"
        " other processes share the cores)"
    )


def steady_throughput(rows: Sequence[dict], n_slots: int) -> float:
    """Trials per second after the first ``n_slots`` completions (every slot warmed up)."""
    told = sorted(r["told"] for r in rows)
    return (len(told) - n_slots) / (told[-1] - told[n_slots - 1])


def startup_s(rows: Sequence[dict]) -> float:
    """Seconds from the first ask until the last slot started its first trial."""
    first_start = {}
    for r in sorted(rows, key=lambda r: r["started"]):
        first_start.setdefault(r["pid"], r["started"])
    return max(first_start.values()) - min(r["asked"] for r in rows)


def after_first_per_slot(rows: Sequence[dict]) -> list[dict]:
    """The trials that did not start a worker (each slot's first pays its start-up)."""
    ordered = sorted(rows, key=lambda r: r["started"])
    firsts = {id(next(r for r in ordered if r["pid"] == pid)) for pid in {r["pid"] for r in rows}}
    return [r for r in ordered if id(r) not in firsts]


def idle_fraction(rows: Sequence[dict], n_slots: int) -> dict[str, float]:
    """Idle share of the slots while all were up and all still had work."""
    by_slot: dict[Any, list[tuple[float, float]]] = {}
    for r in rows:
        by_slot.setdefault(r["pid"], []).append((r["started"], r["finished"]))
    start = max(min(s for s, _ in runs) for runs in by_slot.values())
    end = min(max(f for _, f in runs) for runs in by_slot.values())
    busy = sum(max(0.0, min(f, end) - max(s, start)) for runs in by_slot.values() for s, f in runs)
    whole_start = min(r["asked"] for r in rows)
    whole_end = max(r["told"] for r in rows)
    whole_busy = sum(f - s for runs in by_slot.values() for s, f in runs)
    return {
        "steady": 1 - busy / (n_slots * (end - start)),
        "whole_run": 1 - whole_busy / (n_slots * (whole_end - whole_start)),
        "slots_seen": len(by_slot),
    }


def batch_synchronous_idle(durations: Sequence[float], n_slots: int) -> float:
    """Idle share of ``n_slots`` slots running ``durations`` in batches, waiting for the slowest."""
    batches = [durations[i : i + n_slots] for i in range(0, len(durations), n_slots)]
    span = sum(max(b) for b in batches)
    return 1 - sum(durations) / (n_slots * span)


def sleep_run(n_trials: int, freeze: bool = False) -> dict[str, Any]:
    overrides = [
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.threads_per_worker=1",
        "hydra.sweeper.params=null",
        f"x=interval({SLEEP_S[0]},{SLEEP_S[1]})",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0",
    ]
    with fresh_cwd() as cwd, frozen_workers(freeze):
        run = sweep(overrides, sleep_task, "noop").check()
        rows = timeline(load_study(cwd).trials)
    durations = [r["finished"] - r["started"] for r in sorted(rows, key=lambda r: r["number"])]
    return record(
        run.start,
        run.end,
        rows,
        ours=idle_fraction(rows, 2),
        batch_synchronous=batch_synchronous_idle(durations, 2),
    )


def run(quick: bool) -> dict[str, Any]:
    # --quick: the fewest trials a steady throughput needs (one after every slot's first)
    n_trials, epochs, reps = (3, 1, 1) if quick else (40, 5, 2)
    sleep_trials = 4 if quick else 50
    layouts = {k: v for k, v in LAYOUTS.items() if not quick or k in QUICK_LAYOUTS}
    if not quick:
        cnn_run(2, 1, 1, 1)  # warm-up: Lightning's first fit in this process
    runs = interleave(
        {
            name: (lambda j=j, t=t, f=f: cnn_run(n_trials, epochs, j, t, f))
            for name, (j, t, f) in layouts.items()
        },
        reps,
        f"parallel {n_trials} trials",
    )
    tput = {
        name: [steady_throughput(r["rows"], LAYOUTS[name][0]) for r in rs]
        for name, rs in runs.items()
    }
    per = {name: layout_costs(rs, LAYOUTS[name][0], tput[name]) for name, rs in runs.items()}
    rows = [
        [
            name,
            Figure.of(tput[name]).text(2),
            Figure.of([len(r["rows"]) / r["wall"] for r in rs]).text(2),
            Figure.of([startup_s(r["rows"]) for r in rs]).text(2),
            f"{per[name]['task_s']:.3f}",
            f"{per[name]['gap_s']:.3f}",
            sorted({x["threads"] for r in rs for x in r["rows"]}),
            Figure.of([sum(r["load"]) / 2 for r in rs]).text(1),
        ]
        for name, rs in runs.items()
    ]
    two, one, one_two, _ = LAYOUTS

    def over(a: str, b: str) -> Figure:
        """a's throughput over b's (n/a for a layout --quick left out)."""
        return ratios(tput[a], tput[b]) if a in tput and b in tput else Figure.of([])

    fixed_speedup, speedup, vs_threads = over(FIX, one), over(two, one), over(two, one_two)

    sleepers = {"hydratune": lambda: sleep_run(sleep_trials)}
    if not quick:
        sleepers["hydratune + gc.freeze()"] = lambda: sleep_run(sleep_trials, freeze=True)
    sleeps = interleave(sleepers, reps, "idle slots")
    idle = {name: Figure.of([s["ours"]["steady"] for s in runs_]) for name, runs_ in sleeps.items()}
    idle.setdefault("hydratune + gc.freeze()", Figure.of([]))
    whole = {name: Figure.of([s["ours"]["whole_run"] for s in rs]) for name, rs in sleeps.items()}
    batch_idle = Figure.of([s["batch_synchronous"] for s in sleeps["hydratune"]])
    warm = {
        name: [r for s in rs for r in after_first_per_slot(s["rows"])]
        for name, rs in sleeps.items()
    }
    dispatch = {
        name: Figure.of([(r["started"] - r["asked"]) * 1000 for r in ws])
        for name, ws in warm.items()
    }
    collect = Figure.of([(r["told"] - r["finished"]) * 1000 for r in warm["hydratune"]])
    work = Figure.of([r["finished"] - r["started"] for r in warm["hydratune"]])
    gc_info = gc_cost()

    loky_gc = (
        f" Measured cause: the workers are loky processes, and loky (without psutil, which is"
        f" {'installed' if gc_info['psutil'] else 'not installed'} here) runs gc.collect()"
        f" after a task whenever a second has passed since the last; with torch, Lightning and"
        f" hydratune imported that takes {gc_info['gc_ms'].text(0)} ms"
        f" ({gc_info['gc_ms_frozen'].text(1)} ms after gc.freeze()). With gc.freeze() in each"
        f" worker (the proposed fix, measured here through the task): 2 x 1 over 1 x 1 ="
        f" {fixed_speedup.text(2, 'x')}, idle slots {idle['hydratune + gc.freeze()'].text(3)}."
    )
    idle_met = idle["hydratune"].median < IDLE_TARGET
    targets = [
        target(
            "parallel 2x1 vs 1x1",
            f">= {SPEEDUP_TARGET}x throughput",
            speedup.text(2, "x"),
            speedup.median >= SPEEDUP_TARGET,
            "" if speedup.median >= SPEEDUP_TARGET else explain(per, two, one) + "." + loky_gc,
        ),
        target(
            "parallel 2x1 vs 1x2",
            f">= {VS_THREADS_TARGET}x throughput",
            vs_threads.text(2, "x"),
            vs_threads.median >= VS_THREADS_TARGET if vs_threads.n else None,
            explain(per, two, one_two) if vs_threads.median < VS_THREADS_TARGET else "",
        ),
        target(
            "idle worker slots",
            f"< {IDLE_TARGET:.0%} (uneven trials)",
            f"{idle['hydratune'].median:.1%} (batch-synchronous: {batch_idle.median:.1%})",
            idle_met,
            ""
            if idle_met
            else f"between two trials a slot waits {dispatch['hydratune'].text(0)} ms from the"
            f" ask to the task's start (ask, job config, hand-off to the worker, Hydra's job"
            f" set-up there) and {collect.text(0)} ms from the task's end to the tell, against"
            f" {work.median:.2f} s of work per trial." + loky_gc,
        ),
    ]
    md = [
        f"Digits CNN, {epochs} epoch(s) per trial, {n_trials} trials, random sampler (seed 0),"
        f" {reps} interleaved repetition(s). Throughput = steady state, after every slot's"
        " first trial; start-up = first ask until the last slot starts its first trial."
        " *+ gc.freeze()*: the same sweep, each worker freezing its heap once before its first"
        " trial (a proposed fix, not the product's behaviour).",
        "",
        md_table(
            [
                "layout",
                "trials/s (steady)",
                "trials/s (whole run)",
                "start-up s",
                "training s per trial",
                "s between trials per slot",
                "torch threads seen in tasks",
                "load average",
            ],
            rows,
        ),
        "",
        f"2 x 1 over 1 x 1: {speedup.text(2, 'x')}; 2 x 1 over 1 x 2: {vs_threads.text(2, 'x')};"
        f" with gc.freeze(), 2 x 1 over 1 x 1: {fixed_speedup.text(2, 'x')}. Training s: the"
        " task's own time (each slot's first trial left out); between trials: a slot's cycle"
        " (slots / steady throughput) minus its training. Load average: the machine's 1-minute"
        " load average around the run (other engineers' jobs included).",
        "",
        f"Idle worker slots, sleep trials of {SLEEP_S[0]}-{SLEEP_S[1]} s, 2 slots,"
        f" {sleep_trials} trials, measured while both workers are up (over the whole run"
        " incl. start-up and tail in brackets); the batch-synchronous schedule is simulated"
        " on the same durations:",
        "",
        md_table(
            ["schedule", "idle share of slots", "ask -> task start ms (median)"],
            [
                [name, f"{idle[name].text(3)} ({whole[name].text(3)})", dispatch[name].text(0)]
                for name in sleeps
            ]
            + [["batch-synchronous (simulated, zero overhead)", batch_idle.text(3), "-"]],
        ),
        "",
        f"gc.collect() in a process with torch, Lightning and hydratune imported:"
        f" {gc_info['gc_ms'].text(0)} ms; after gc.freeze(): {gc_info['gc_ms_frozen'].text(1)}"
        f" ms; psutil installed: {gc_info['psutil']}.",
    ]
    return {
        "markdown": "\n".join(md),
        "targets": targets,
        "raw": {
            "throughput": tput,
            "speedup": speedup,
            "vs_threads": vs_threads,
            "speedup_with_gc_freeze": fixed_speedup,
            "per_trial": per,
            "gc": gc_info,
            "cnn_runs": {k: [columns(r) for r in rs] for k, rs in runs.items()},
            "sleep_runs": {k: [columns(s) for s in rs] for k, rs in sleeps.items()},
        },
    }


if __name__ == "__main__":
    module_main(TITLE, run)
