"""``hydra.sweeper.trial_timeout``: a trial that hangs is stopped and fails with its reason, in
every launcher, and the sweep goes on to its other trials."""

from __future__ import annotations

import os

import pytest
from optuna.trial import TrialState

from helpers import REPO, load, start_quadratic_app
from hydratune.attrs import FAIL_REASON

TESTS = str(REPO / "tests")
LAUNCHERS = {
    "in-process": [],
    "local workers": ["hydra.sweeper.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
    "ray": [
        "hydra/launcher=hydratune_ray",
        "+hydra.launcher.init={num_cpus: 2, include_dashboard: false}",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    [pytest.param(name, marks=pytest.mark.ray) if name == "ray" else name for name in LAUNCHERS],
)
def test_a_hung_trial_is_stopped_at_trial_timeout_and_the_sweep_goes_on(tmp_path, launcher):
    sweep = start_quadratic_app(
        tmp_path,
        *LAUNCHERS[launcher],
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.trial_timeout=2",
        "hydra.sweeper.max_failure_rate=0.5",
        hang_at=1,  # trial 1 sleeps for 600 s
        # jobs in other processes unpickle the app's task, which imports the tests' helpers
        env={"PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])},
    )
    out, _ = sweep.communicate(timeout=300)  # far less than the hang: the limit ended it
    assert sweep.returncode == 0, out
    trials = load("quadratic", tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    reason = trials[1].user_attrs[FAIL_REASON]
    assert "stopped after hydra.sweeper.trial_timeout=2 s" in reason
    assert "trial #1 failed: TrialTimeoutError: stopped after" in out


def test_trial_timeout_must_be_positive_seconds(sweep):
    from hydratune.errors import StudyConfigError

    with pytest.raises(StudyConfigError, match="hydra.sweeper.trial_timeout=0.0: expected"):
        sweep(["hydra.sweeper.trial_timeout=0"])
