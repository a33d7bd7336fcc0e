"""What a sweep leaves in its sweep dir, replaced whole: a write that fails midway (here a
file size limit, as a full disk fails it) leaves the earlier results and best config as they
were."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from helpers import multirun, small_disk, sweep_on_a_small_disk


@pytest.mark.cli
def test_results_that_cannot_be_written_whole_leave_the_earlier_ones_as_they_were(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    multirun(["hydra.sweeper.n_trials=3"])
    sweep_dir = tmp_path / "sweeps" / "quadratic"
    before = {p.name: p.read_bytes() for p in sweep_dir.glob("*.yaml")}
    assert {"optimization_results.yaml", "best_config.yaml"} <= set(before)
    assert all(len(text) > 64 for text in before.values())

    write_again = textwrap.dedent(
        f"""
        import optuna
        from pathlib import Path
        from hydratune.storage import open_storage, storage_url
        from hydratune.sweep.results import write_results
        url = storage_url(None, Path("."))
        study = optuna.load_study(study_name="quadratic", storage=open_storage(url))
        write_results(study, Path({str(sweep_dir)!r}), url)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", write_again],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        **small_disk(64),  # a write past 64 bytes fails
    )
    assert done.returncode != 0 and "File too large" in done.stderr, done.stderr
    assert {p.name: p.read_bytes() for p in sweep_dir.glob("*.yaml")} == before
    assert not list(sweep_dir.glob(".*.tmp"))  # no temporary left beside them


@pytest.mark.cli
def test_a_sweep_whose_files_the_disk_cannot_hold_ends_in_one_line_naming_the_file(tmp_path):
    done = sweep_on_a_small_disk(tmp_path, 4_000, "hydra.sweeper.n_trials=3")
    multirun_yaml = tmp_path / "sweeps" / "quadratic" / "multirun.yaml"  # the first over 4 kB
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    said = f"cannot write {multirun_yaml}: File too large. The study keeps every trial it recorded"
    assert said in done.stderr
    assert not multirun_yaml.exists() and not list(multirun_yaml.parent.glob(".*.tmp"))
