"""Trial and study attribute keys: the on-disk contract of a hydratune study.

The sweeper writes these into Optuna's user attributes; the report, export, rerun, recovery,
the dashboard and other workers read them back, possibly from another version of hydratune on
another host. Renaming one breaks every stored study, so each key is written here once.
"""

from __future__ import annotations

# Trial user attributes
OVERRIDES = "overrides"  # the trial's override lines, as its job got them
OUTPUT_DIR = "output_dir"  # the trial's job dir (Hydra's output dir)
FAIL_REASON = "fail_reason"  # why a FAIL trial failed ("lost: ..." when its process died)
STOPPED_REASON = "stopped_reason"  # why a PRUNED trial was stopped (or a NaN verdict in flight)
PRUNE_OVERRULED = "prune_overruled"  # a stop the Trainer did not obey (min_epochs): COMPLETE
NON_FINITE = "non-finite: "  # prefix of a stopped_reason that is a NaN/inf verdict, not a prune
OWNER = "owner"  # host:pid:boot_id:pid_ns:start:token of its process (older: host:pid)
HEARTBEAT = "heartbeat"  # epoch seconds, renewed while the trial runs
LOST = "lost"  # the trial's process died or was interrupted: retried, not its own failure
RETRY_OF = "retry_of"  # the lost trial whose parameters this trial runs again
RETRIES = "retries"  # how many times these parameters have been retried
ENQUEUED_FROM = "enqueued_from"  # the sweep's enqueue item this trial came from
WARM_START_FROM = "warm_start_from"  # <study>#<number> of the copied trial
TRANSFERRED_FROM = "transferred_from"  # <study>#<number> (or "box #k") a warm_start transfer ran
JOB_ID = "job_id"  # the cluster's id of the trial's job (submitit: the Slurm job id)
JOB_FOLDER = "job_folder"  # the submitit folder of that job (its logs and result)
JOB_CLUSTER = "job_cluster"  # submitit's executor that ran it: slurm or local
MLFLOW_RUN_ID = "mlflow_run_id"  # the trial's MLflow run (a child of the study's parent run)
# Checkpointed schedules (hydratune/schedule): each run of a configuration is one trial.
SEGMENT = "schedule"  # {kind, rung, epochs, budget}: this run's plan (epochs to reach, of budget)
RESUMED_FROM = "resumed_from"  # {trial: N, epoch: E}: continued from N's checkpoint after E epochs
CHECKPOINT = "checkpoint"  # {path, epoch, size, sha256}: the checkpoint this run left at its pause
PAUSED = "paused"  # prefix of the stopped_reason of a run paused at a rung (state PRUNED)

# Fail reasons read back by other modules
SURPLUS = "surplus: other workers had already started the study's n_trials trials"
NO_MEMBER = "not run: the PBT population is full (a new configuration joins only while it fills)"
NOT_RUN = (SURPLUS, NO_MEMBER)  # a FAIL that never ran: it counts toward nothing

# Study user attributes
GRID_QUEUED = "grid_queued"  # every grid point is queued as a waiting trial
TRANSFER = "warm_start_transfer"  # warm_start's transfer: sources, configurations, the guard
SWEEP_SPACE = "sweep_space"  # the sweep's search space and sampler, for `hydratune steer`
STEER_PREFIX = "steer:"  # one steering action per key: steer:<time ns>:<host>:<pid>:<n>
MLFLOW_PARENT_RUN = "mlflow_parent_run"  # the MLflow run id of the whole sweep
RUNS_ELSEWHERE = "runs_elsewhere:"  # runs_elsewhere:<owner>: that sweep ran its trials in workers
AUTO_SAMPLER = "auto_sampler"  # sampler: auto's choice and why (JSON); a resume keeps it

# Trial user attributes written by steering
PRUNE_REQUESTED = "prune_requested"  # why a person asked to stop this running trial

# The environment of a trial's task in the sweeper's own process: its job (a pickled TrialJob), so
# that a process the task starts by running the app's command again (Lightning's ``ddp`` ranks)
# runs that trial, not a new sweep (``execute/relaunch.py``; ``training/distributed.py`` reads it).
JOB_ENV = "HYDRATUNE_JOB"
