"""Cluster benchmarks (issue 16): they need services the regression benchmarks do not.

``slurm`` (trials as submitit jobs on a Slurm cluster, 2 slots: idle share of the slots and the
per-trial start cost against the in-process launcher) and ``many_workers`` (8 worker processes
on one PostgreSQL study at ~200 and ~5000 trials, direct and through the gRPC proxy, against
plain Optuna workers). Both start their service from ``tests/services.py`` (root, Debian's
``slurm-wlm``/``munge`` and PostgreSQL, as ``make test`` installs them).
``python bench/run.py --cluster`` (``make bench-cluster``) runs both and writes
``bench/cluster/RESULTS.md``; each also runs alone (``python -m bench.cluster.slurm --quick``).
"""
