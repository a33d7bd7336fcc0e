"""`make bench-quick` runs every benchmark at small sizes and writes the full report.

Only checks that the benchmarks run and report; never their timings (shared/BENCHMARKS.md).
"""

from __future__ import annotations

import pytest

from helpers import run_bench

pytestmark = pytest.mark.bench

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


@pytest.mark.timeout(900)
def test_bench_quick_writes_a_report_and_json_with_every_section(tmp_path):
    report = run_bench(tmp_path, timeout=840)
    assert report["quick"] is True
    assert list(report["benchmarks"]) == SECTIONS
    for name, result in report["benchmarks"].items():
        assert result["markdown"] and result["targets"], name
    machine = report["machine"]
    assert machine["nproc"] >= 1 and machine["cpu_model"]
    assert {"optuna", "hydra-core", "lightning", "torch"} <= set(machine["versions"])
    timestamps = report["benchmarks"]["overhead"]["raw"]["runs"]["hydratune"][0]
    assert {"asked_ms", "started_ms", "finished_ms", "told_ms"} <= set(timestamps)

    text = (tmp_path / "RESULTS.md").read_text()
    assert "bench/run.py --quick" in text and "## Machine" in text
    assert text.index("## Targets") < text.index("## Machine"), "the targets table leads"
    for result in report["benchmarks"].values():
        assert f"## {result['title']}" in text
