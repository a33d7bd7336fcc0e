"""What a sweep leaves in its sweep dir, replaced whole: a write that fails midway (here a
file size limit, as a full disk fails it) leaves the earlier results and best config as they
were."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap

import pytest

from helpers import multirun


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

    def limit() -> None:  # a write past 64 bytes fails with EFBIG (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

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
        preexec_fn=limit,
        # cut short under the limit, a module's bytecode would break every later import of it
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )
    assert done.returncode != 0 and "File too large" in done.stderr, done.stderr
    assert {p.name: p.read_bytes() for p in sweep_dir.glob("*.yaml")} == before
    assert not list(sweep_dir.glob(".*.tmp"))  # no temporary left beside them
