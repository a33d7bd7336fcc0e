"""A process a trial's task starts with the app's command runs that trial (``execute.relaunch``):
the job config travels in the environment while the trial runs, and only then."""

from __future__ import annotations

import os

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from helpers import TEST_CONF, composed
from hydratune.attrs import JOB_ENV
from hydratune.execute.job import job_output_dir
from hydratune.execute.relaunch import job_in_environment, relaunched_job


def test_the_job_is_in_the_environment_only_while_it_runs_and_reads_back_typed(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(JOB_ENV, raising=False)
    with composed(TEST_CONF, "quadratic") as (factory, _, _):
        config = factory.make(["x=1.5"], job_num=4)
        # a sweep dir that resolves differently in another process, as Hydra's default does
        config.hydra.sweep.dir = "multirun/${now:%H-%M-%S-%f}"
        config.hydra.mode = RunMode.MULTIRUN  # as the command line sets it
        expected_dir = job_output_dir(config)
        assert relaunched_job() is None
        with job_in_environment(config, expected_dir):
            job = relaunched_job()
        assert JOB_ENV not in os.environ
    assert job is not None
    assert job.x == 1.5 and job.hydra.job.num == 4
    assert job.hydra.mode == RunMode.MULTIRUN  # Hydra's types kept: the job finds its trial
    assert job_output_dir(job) == expected_dir  # the same trial dir in the other process
    HydraConfig.instance().cfg = None
