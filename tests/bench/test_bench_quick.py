"""`make bench-quick` runs every benchmark at small sizes and writes the full report.

Only checks that the benchmarks run and report; never their timings (shared/BENCHMARKS.md).
One test per benchmark (``bench/run.py --quick --only <name>``), so pytest-xdist can share them
out: they start no common service, and each runs in its own process under run.py as in
``make bench-quick``.
"""

from __future__ import annotations

import pytest
from bench.run import BENCHMARKS

from helpers import run_bench

SECTIONS = [
    "plugin_import",
    "overhead",
    "parallel",
    "end_to_end",
    "efficiency",
    "steering",
    "failure_aware",
    "tracking",
    "serve",
]


def test_bench_quick_runs_every_section_in_this_order():
    assert BENCHMARKS == SECTIONS  # what `bench/run.py --quick` runs when no --only is given


STORES = ("journal", "memory")  # bench.overhead.STORAGES


@pytest.mark.bench
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", SECTIONS)
def test_bench_quick_writes_a_report_and_json_for_each_section(tmp_path, name):
    report = run_bench(tmp_path, "--only", name, timeout=840)
    assert report["quick"] is True
    assert list(report["benchmarks"]) == [name]
    result = report["benchmarks"][name]
    assert result["markdown"] and result["targets"], name
    machine = report["machine"]
    assert machine["nproc"] >= 1 and machine["cpu_model"]
    assert {"optuna", "hydra-core", "lightning", "torch"} <= set(machine["versions"])
    if name == "overhead":
        timestamps = result["raw"]["runs"]["hydratune"][0]
        assert {"asked_ms", "started_ms", "finished_ms", "told_ms"} <= set(timestamps)
        collected = result["raw"]["collections"]  # garbage collections per contender
        assert set(collected) == {f"{w} {s}" for w in ("hydratune", "plain") for s in STORES}
        assert collected["hydratune memory"]["gen0"]["median"] > 0  # a trial's job allocates
        assert "Python's garbage collections" in result["markdown"]
        # TPE's own time, timed inside both contenders: its share of the difference
        for figure in result["raw"]["figures"].values():
            assert figure["tpe_hydratune_ms"]["median"] > 0 < figure["tpe_plain_ms"]["median"]
        assert "Optuna's TPE drawing each trial's values" in result["markdown"]
    if name == "efficiency":  # not a timing: the twin draws what hydratune's sampler configs draw
        twin = next(t for t in result["targets"] if t["name"] == "efficiency = plain Optuna")
        assert twin["met"], twin

    text = (tmp_path / "RESULTS.md").read_text()
    assert "bench/run.py --only" in text and "--quick" in text and "## Machine" in text
    assert text.index("## Targets") < text.index("## Machine"), "the targets table leads"
    assert f"## {result['title']}" in text
