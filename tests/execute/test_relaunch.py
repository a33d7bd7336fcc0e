"""A process a trial's task starts with the app's command runs that trial (``execute.relaunch``):
the trial's job travels in the environment while the trial runs, and only then."""

from __future__ import annotations

import os

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from helpers import TEST_CONF, composed
from hydratune.attrs import JOB_ENV
from hydratune.execute.job import job_output_dir
from hydratune.execute.relaunch import job_in_environment, relaunched_job
from hydratune.execute.trial_config import TrialConfigFactory
from hydratune.space.grammar import make_parser


def test_the_job_is_in_the_environment_only_while_it_runs_and_reads_back_typed(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(JOB_ENV, raising=False)
    with composed(TEST_CONF, "quadratic") as (_, loader, master):
        # the mode, an enum, as the sweeper sets it in every job's config
        updates = {"hydra.mode": RunMode.MULTIRUN}
        factory = TrialConfigFactory(loader, master, make_parser(loader), hydra_updates=updates)
        trial_job = factory.job(["x=1.5"], job_num=4)
        config = trial_job.build()
        # the dir this process gave the trial travels with it: Hydra's default sweep dir
        # (${now:...}) would resolve to another time in another process
        expected_dir = job_output_dir(config) + "-" + str(os.getpid())
        assert relaunched_job() is None
        with job_in_environment(trial_job, expected_dir):
            job = relaunched_job()
        assert JOB_ENV not in os.environ
    assert job is not None
    assert job.x == 1.5 and job.hydra.job.num == 4
    assert job.hydra.mode == RunMode.MULTIRUN  # Hydra's types kept: the job finds its trial
    assert job_output_dir(job) == expected_dir  # the same trial dir in the other process
    HydraConfig.instance().cfg = None
