"""What a study tells a person after (or while) it runs: report, export of the best config,
and reruns of the top trials with several seeds."""

from __future__ import annotations

from hydratune.exports import exports

# what other packages use, imported on first use (hydratune/exports.py)
__all__, __getattr__ = exports(
    __name__,
    {
        "export": [
            "ExportError",
            "check_target",
            "default_target",
            "experiment_command",
            "export_best",
            "exported_trial",
            "read_config",
            "rerun_command",
            "rerun_config",
            "running_app",
        ],
        "report": ["write_report"],
        "rerun": ["RERUN_HEADER", "RESULTS_FILE", "rerun_rows", "rerun_top_trials"],
        "tracking": [
            "SweepTracker",
            "TrackingSettings",
            "describe_space",
            "stock_logger_updates",
            "tracking_settings",
        ],
    },
)
