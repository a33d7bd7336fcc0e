"""hydratune's benchmarks: ``python bench/run.py`` runs them all and writes ``bench/RESULTS.md``.

Regression benchmarks, one module each (``overhead``, ``parallel``, ``end_to_end`` with
memory, ``efficiency``, ``steering``), each runnable alone (``python -m bench.overhead
--quick``); research studies live in ``bench/studies/``, the cluster benchmarks (Slurm, many
workers on PostgreSQL) in ``bench/cluster/``. ``common`` holds the timing, interleaving and
report helpers they share. ``objectives`` and ``plain_loop`` import nothing but the standard
library and Optuna, so the stock-sweeper peer study can use them from its own virtualenv.
"""
