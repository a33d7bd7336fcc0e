"""`bench/run.py --cluster --quick` runs the Slurm and many-workers benchmarks at small sizes.

Only checks that they run and report (the figures and targets the issue asks for, the command
in the results file); never their timings (shared/BENCHMARKS.md). The Slurm benchmark submits
to this session's cluster (``SLURM_CONF``), the many-workers one to this session's PostgreSQL
(``HYDRATUNE_BENCH_POSTGRES_URL``).
"""

from __future__ import annotations

import pytest

from helpers import run_bench

pytestmark = [pytest.mark.bench, pytest.mark.slurm, pytest.mark.postgres]


@pytest.mark.timeout(400)
def test_bench_cluster_quick_reports_slurm_and_many_workers_figures(
    slurm_cluster, postgres_url, tmp_path, monkeypatch
):
    from bench.cluster.many_workers import POSTGRES_URL

    monkeypatch.setenv(POSTGRES_URL, postgres_url)
    report = run_bench(tmp_path, "--cluster", timeout=360)
    assert report["group"] == "cluster" and report["quick"] is True
    assert list(report["benchmarks"]) == ["cluster.slurm", "cluster.many_workers"]
    slurm = report["benchmarks"]["cluster.slurm"]
    assert slurm["raw"]["where"].startswith("existing"), "submits to the session's cluster"
    runs = slurm["raw"]["runs"]
    assert all(0 <= r["idle"] <= 1 for r in runs["slurm"])
    assert all(ms > 0 for r in runs["slurm"] + runs["in-process"] for ms in r["start_ms"])
    figures = report["benchmarks"]["cluster.many_workers"]["raw"]["figures"]
    assert set(figures) == {
        f"{worker}|{storage}|{level}"
        for worker in ("hydratune", "plain Optuna")
        for storage in ("PostgreSQL", "gRPC proxy")
        for level in (20,)  # --quick: one level
    }
    # every contender ran its trials: 2 workers x 2 trials each
    assert all(f["n"] >= 4 and f["median"] > 0 for f in figures.values()), figures
    # and each worker's start-up, kept out of them, is reported beside them
    startups = report["benchmarks"]["cluster.many_workers"]["raw"]["startups"]
    assert set(startups) == {
        f"{worker}|{storage}"
        for worker in ("hydratune", "plain Optuna")
        for storage in ("PostgreSQL", "gRPC proxy")
    }
    assert all(f["n"] == 2 and f["min"] > 0 for f in startups.values()), startups

    text = (tmp_path / "RESULTS.md").read_text()
    assert text.startswith("# hydratune cluster benchmarks")
    assert "bench/run.py --cluster --quick" in text and "load average" in text
    assert "idle Slurm slots while trials wait" in text
    assert "`python -m bench.cluster.many_workers --quick`" in text


TIMED = ("sweep/recovery.py:beat ", "sweep/recovery.py:recover ")


@pytest.mark.timeout(400)
def test_a_hydratune_trial_adds_nine_statements_in_fewer_commits_and_three_proxy_calls(
    postgres_url,
):
    """What the many-workers ratios are made of (bench.cluster.traffic): an added storage read
    or write per trial shows here, on a real PostgreSQL and proxy, long before in a timing."""
    from bench.cluster.many_workers import grpc_proxy
    from bench.cluster.traffic import per_trial

    with grpc_proxy(postgres_url) as proxy:
        counts = per_trial(postgres_url, ("statements", "commits"))
        for worker, kinds in per_trial(proxy, ("proxy calls",)).items():
            counts[worker].update(kinds)
    total = {  # less what runs by the clock, every `interval` s, not per trial: the heartbeat
        # and the lost-trial scan (on a loaded machine a trial lasts long enough for either)
        worker: {
            kind: sum(n for origin, n in by_origin.items() if not origin.startswith(TIMED))
            for kind, by_origin in kinds.items()
        }
        for worker, kinds in counts.items()
    }
    ours, plain = total["hydratune"], total["plain Optuna"]
    assert plain["statements"] > 0 and plain["commits"] > 0 and plain["proxy calls"] > 0
    # its creation with an owner mark (+4), its overrides and output dir (+4), the steering
    # count (+1): bench/cluster/many_workers.py WHY_SLOWER. The pruning verdict comes back
    # with the job's result (hydratune/job_verdict.py), not by a read.
    assert ours["statements"] <= plain["statements"] + 9, total
    # its writes in 5 commits (plain Optuna: 11), the steering count in 1 (a rollback there
    # would drop every statement psycopg prepared on the connection)
    assert ours["commits"] <= plain["commits"] - 5, total
    # its overrides and output dir, and the steering record
    assert ours["proxy calls"] <= plain["proxy calls"] + 3, total
