"""The schedules study in quick mode (``bench/run.py --studies --quick``): hydratune's schedules
and Ray Tune's ASHA and PBT on each task (the digits CNN, the synthetic MLP) in one run, each
spending the same epoch budget, Ray Tune's PBT continuing from the Lightning checkpoints it
reported."""

from __future__ import annotations

import pytest

from helpers import run_bench

QUICK_BUDGET, QUICK_EPOCHS, POPULATION = 12, 3, 8  # bench.studies.schedules in --quick


@pytest.mark.bench
@pytest.mark.ray
@pytest.mark.timeout(900)
def test_ray_tune_peers_run_beside_hydratune_schedules_within_the_same_budget(tmp_path):
    report = run_bench(tmp_path, "--studies", "--only", "studies.schedules", timeout=840)
    result = report["benchmarks"]["studies.schedules"]
    assert set(result["raw"]["runs"]) == {"digits CNN", "synthetic MLP"}
    for task, runs in result["raw"]["runs"].items():
        check_task(runs)
        names = [t["name"] for t in result["targets"]]
        assert f"ASHA vs Ray Tune's ({task})" in names
        assert f"PBT vs Ray Tune PBT ({task})" in names
    assert "ray_pbt" in result["markdown"]
    assert "**Synthetic MLP**" in result["markdown"]


def check_task(runs: dict) -> None:
    assert {"nop", "asha", "pbt", "pb2", "ray_asha", "ray_pbt"} <= set(runs)
    for name in ("ray_asha", "ray_pbt"):
        (run,) = runs[name]  # one seed in --quick
        assert run["error"] is None, run["error"]
        # every reported epoch counted, the experiment stopped once the budget was spent
        assert len(run["curve"]) == QUICK_BUDGET <= run["epochs"] <= QUICK_BUDGET + 1
        assert sum(map(len, run["run_epochs"])) == run["epochs"]
    (asha,) = runs["ray_asha"]
    assert asha["pruned"] >= 1  # ASHA stopped a trial at its first rung
    assert all(epochs[0] == 1 for epochs in asha["run_epochs"])  # Ray's ASHA never continues
    (pbt,) = runs["ray_pbt"]
    continued = pbt["run_epochs"][POPULATION:]
    assert continued and pbt["exploits"] >= 1
    # each continuation resumed from a checkpoint: it trains on from where one was taken
    assert all(epochs[0] > 1 for epochs in continued)
    assert max(e for epochs in pbt["run_epochs"] for e in epochs) <= QUICK_EPOCHS
