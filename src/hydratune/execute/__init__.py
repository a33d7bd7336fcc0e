"""One job = one trial: trial configs, Hydra's job contract, and the launchers that run jobs
(in the sweeper's process, in local worker processes, on Ray)."""

from __future__ import annotations

from hydratune.exports import exports

# what other packages use, imported on first use (hydratune/exports.py)
__all__, __getattr__ = exports(
    __name__,
    {
        "interrupts": ["exit_status", "interrupt_handlers", "raise_if_received", "received"],
        "job": ["JobResult"],
        "launcher": ["Launcher"],
        "relaunch": ["relaunched_job", "run_relaunched_job"],
        "select": ["LaunchPlan", "plan_launch", "settle_orphaned_job"],
        "trial_config": ["TrialConfigFactory"],
    },
)
