"""`make bench-quick` runs every benchmark at small sizes and writes the full report.

Only checks that the benchmarks run and report; never their timings (shared/BENCHMARKS.md).
One test per benchmark (``bench/run.py --quick --only <name>``), so pytest-xdist can share them
out, each in its own process under run.py as in ``make bench-quick``. They start no common
service, except that tracking logs to this session's MLflow server (starting its own was most
of its quick run), so it runs among the ``mlflow`` tests.
"""

from __future__ import annotations

import pytest
from bench.run import BENCHMARKS
from bench.tracking import MLFLOW_URL

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


@pytest.fixture
def section(request, monkeypatch):
    """The section; tracking logs to this session's MLflow server (starting its own took
    half of its quick run)."""
    if request.param == "tracking":
        monkeypatch.setenv(MLFLOW_URL, request.getfixturevalue("mlflow_server").url)
    return request.param


@pytest.mark.bench
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "section",
    [pytest.param(n, marks=pytest.mark.mlflow) if n == "tracking" else n for n in SECTIONS],
    indirect=True,
)
def test_bench_quick_writes_a_report_and_json_for_each_section(tmp_path, section):
    report = run_bench(tmp_path, "--only", section, timeout=840)
    assert report["quick"] is True
    assert list(report["benchmarks"]) == [section]
    result = report["benchmarks"][section]
    assert result["markdown"] and result["targets"], section
    machine = report["machine"]
    assert machine["nproc"] >= 1 and machine["cpu_model"]
    assert {"optuna", "hydra-core", "lightning", "torch"} <= set(machine["versions"])
    if section == "overhead":
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
    if section == "efficiency":  # not a timing: the twin draws what hydratune's configs draw
        twin = next(t for t in result["targets"] if t["name"] == "efficiency = plain Optuna")
        assert twin["met"], twin

    text = (tmp_path / "RESULTS.md").read_text()
    assert "bench/run.py --only" in text and "--quick" in text and "## Machine" in text
    assert text.index("## Targets") < text.index("## Machine"), "the targets table leads"
    assert f"## {result['title']}" in text
