"""Issue 16: trials as Slurm jobs (``hydra/launcher=submitit_slurm``), 2 slots, uneven trials.

- Idle share of the slots while trials are waiting to start: from the first ask to the last
  ask (after it no trial waits), the share of slot-time with no trial in flight (a trial is in
  flight from its ask to its tell, its Slurm job's start included). Target < 10%. The
  batch-synchronous schedule (hydra-optuna-sweeper with hydra-submitit-launcher: submit
  ``n_jobs``, wait for the slowest) is simulated on the same task durations, with no overhead.
- Per-trial scheduling overhead: ask -> task start (sbatch, Slurm's scheduling, the job's
  Python start and imports), against the in-process launcher's on the same sleep task, run
  interleaved with it.

The cluster: the one ``SLURM_CONF`` names, else a single-node cluster started here from
``tests/services.py`` (needs root, Debian's ``slurm-wlm`` and ``munge``). Run as
``python -m bench.cluster.slurm [--quick]``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from bench.common import (
    REPO,
    Figure,
    fresh_cwd,
    interleave,
    load_study,
    md_table,
    module_main,
    record,
    sweep,
    target,
    timeline,
)
from bench.parallel import batch_synchronous_idle
from bench.tasks import LOG, sleep_task

TITLE = "Slurm: trials as submitit jobs, 2 slots (issue 16)"
IDLE_TARGET = 0.10
SLOTS = 2


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """The Slurm cluster the sweeps submit to; yields how it was found."""
    if os.environ.get("SLURM_CONF"):
        yield f"existing ({os.environ['SLURM_CONF']})"
        return
    sys.path.insert(0, str(REPO / "tests"))
    from services import slurm_cluster

    with slurm_cluster() as env:
        os.environ.update(env)
        try:
            yield "single-node, started by tests/services.py"
        finally:
            os.environ.pop("SLURM_CONF", None)


def idle_while_waiting(rows: Sequence[dict], n_slots: int) -> float:
    """Share of slot-time with no trial in flight, from the first ask to the last ask."""
    start = min(r["asked"] for r in rows)
    end = max(r["asked"] for r in rows)
    if end <= start:
        return 0.0
    busy = sum(max(0.0, min(r["told"], end) - max(r["asked"], start)) for r in rows)
    return max(0.0, 1 - busy / (n_slots * (end - start)))


def sleep_sweep(n_trials: int, seconds: tuple[float, float], slurm: bool) -> dict[str, Any]:
    overrides = [
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.params=null",
        f"x=interval({seconds[0]},{seconds[1]})",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0",
    ]
    if slurm:
        overrides += [
            "hydra/launcher=submitit_slurm",
            f"hydra.sweeper.n_jobs={SLOTS}",
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.timeout_min=10",
        ]
    with fresh_cwd() as cwd:
        LOG.reset()
        run = sweep(overrides, sleep_task, "noop").check()
        rows = timeline(load_study(cwd).trials, LOG.times)
    durations = [r["finished"] - r["started"] for r in sorted(rows, key=lambda r: r["number"])]
    return record(
        run.start,
        run.end,
        rows,
        idle=idle_while_waiting(rows, SLOTS) if slurm else None,
        batch_synchronous=batch_synchronous_idle(durations, SLOTS),
        start_ms=[(r["started"] - r["asked"]) * 1000 for r in rows],
    )


def run(quick: bool) -> dict[str, Any]:
    n_trials, reps = (2, 1) if quick else (16, 2)  # --quick: one job per slot, started at once
    load = os.getloadavg()[0]
    seconds = (0.5, 2.0) if quick else (2.0, 8.0)
    with cluster() as where:
        runs = interleave(
            {
                "slurm": lambda: sleep_sweep(n_trials, seconds, slurm=True),
                "in-process": lambda: sleep_sweep(min(n_trials, 6), (0.1, 0.2), slurm=False),
            },
            reps,
            "sleep trials",
        )
    idle = Figure.of([r["idle"] for r in runs["slurm"]])
    batch = Figure.of([r["batch_synchronous"] for r in runs["slurm"]])
    start = {name: Figure.of([ms for r in rs for ms in r["start_ms"]]) for name, rs in runs.items()}
    met = idle.median < IDLE_TARGET
    markdown = "\n\n".join(
        [
            f"Cluster: {where}. {n_trials} trials sleeping {seconds[0]}-{seconds[1]} s, "
            f"{SLOTS} slots, {reps} rep(s), interleaved with the in-process launcher; load "
            f"average {load:.1f} at the start on {os.cpu_count()} CPUs (the job start is "
            "mostly Python imports, which slow down with the load).",
            md_table(
                ["schedule", "idle share of slots while trials wait", "ask -> task start ms"],
                [
                    ["submitit_slurm, one job per trial", idle.text(3), start["slurm"].text(0)],
                    ["in-process launcher (n_jobs=1)", "-", start["in-process"].text(1)],
                    ["batch-synchronous (simulated, zero overhead)", batch.text(3), "-"],
                ],
            ),
            "The job start (ask -> task start) is the Slurm cost per trial: sbatch, the "
            "scheduler, a fresh Python importing torch and hydratune. It counts as busy slot "
            "time in the idle share, which measures the schedule (no barrier).",
        ]
    )
    return {
        "markdown": markdown,
        "targets": [
            target(
                "idle Slurm slots while trials wait",
                f"< {IDLE_TARGET:.0%}",
                f"{idle.median:.1%} (batch-synchronous: {batch.median:.1%})",
                met,
                "" if met else "see the per-trial start cost in the table",
            ),
            target(
                "per-trial scheduling overhead (ask -> task start)",
                "reported against the in-process launcher",
                f"{start['slurm'].median:.0f} ms vs {start['in-process'].median:.1f} ms",
                None,
            ),
        ],
        "raw": {"where": where, "runs": runs},
    }


if __name__ == "__main__":
    module_main(TITLE, run)
