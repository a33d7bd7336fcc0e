"""Jobs in the sweeper's own process (``execute.local.InProcessLauncher``): a launcher builds the
trial's config where the job runs, and a config that cannot be built is the trial's failure."""

from __future__ import annotations

from hydra.types import HydraContext

from helpers import TEST_CONF, composed
from hydratune.execute.local import InProcessLauncher


def test_a_trial_whose_overrides_do_not_apply_fails_and_its_task_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = []
    with composed(TEST_CONF, "quadratic") as (factory, loader, _):
        launcher = InProcessLauncher(factory, HydraContext(loader, callbacks=None), ran.append)
        result = launcher.submit(0, ["+x=1"]).result()  # x exists: Hydra refuses to add it
    assert ran == []
    assert "already at 'x'" in str(result.error)
    assert not result.lost and result.output_dir is None
