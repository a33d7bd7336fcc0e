"""The schedules study in quick mode (``bench/run.py --studies --quick``): hydratune's schedules
and Ray Tune's ASHA and PBT on the first task (the digits CNN) in one run, each spending the
same epoch budget, Ray Tune's PBT continuing from the Lightning checkpoints it reported; and a
reading of some contenders at another size on the other task, the synthetic MLP (``--seeds``,
``--first-seed``, ``--budget``, ``--contenders``, ``--tasks``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO, run_bench

QUICK_BUDGET, QUICK_EPOCHS, POPULATION = 8, 3, 4  # bench.studies.schedules in --quick


@pytest.mark.bench
@pytest.mark.ray
@pytest.mark.timeout(900)
def test_ray_tune_peers_run_beside_hydratune_schedules_within_the_same_budget(tmp_path):
    report = run_bench(tmp_path, "--studies", "--only", "studies.schedules", timeout=840)
    result = report["benchmarks"]["studies.schedules"]
    assert set(result["raw"]["runs"]) == {"digits CNN"}  # --quick: the first task
    for task, runs in result["raw"]["runs"].items():
        check_task(runs)
        names = [t["name"] for t in result["targets"]]
        assert f"ASHA vs Ray Tune's ({task})" in names
        assert f"PBT vs Ray Tune PBT ({task})" in names
    assert "ray_pbt" in result["markdown"]


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


@pytest.mark.bench
@pytest.mark.timeout(300)
def test_a_reading_of_some_contenders_at_another_size_gives_its_tables_and_no_targets(tmp_path):
    out = tmp_path / "result.json"
    command = [sys.executable, "-m", "bench.studies.schedules", "--quick", "--seeds", "2"]
    command += ["--first-seed", "3"]
    command += ["--budget", "3", "--contenders", "nop,asha", "--tasks", "synthetic MLP"]
    done = subprocess.run(
        [*command, "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=280
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())
    runs = result["raw"]["runs"]
    assert list(runs) == ["synthetic MLP"] and list(runs["synthetic MLP"]) == ["nop", "asha"]
    assert [len(seeds) for seeds in runs["synthetic MLP"].values()] == [2, 2]
    for seeds in runs["synthetic MLP"].values():
        assert all(len(run["curve"]) == 3 for run in seeds)
        # each run in trial order, with its parameters and the epochs it trained
        history = seeds[0]["history"]
        assert all(h["params"] for h in history)
        assert sum(len(h["values"]) for h in history) >= len(seeds[0]["curve"])
    assert result["targets"] == []  # the targets need every contender
    assert [r["seed"] for r in result["raw"]["per_seed"]["synthetic MLP"]] == [3, 4]
