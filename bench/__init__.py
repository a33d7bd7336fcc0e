"""hydratune's benchmarks: ``python bench/run.py`` runs them all and writes ``bench/RESULTS.md``.

One module per benchmark (``overhead``, ``peers``, ``pruning``, ``parallel``, ``end_to_end``,
``efficiency``), each runnable alone (``python -m bench.overhead --quick``); ``common`` holds
the timing, interleaving and report helpers they share. ``objectives`` and ``plain_loop``
import nothing but the standard library and Optuna, so the stock-sweeper peer can use them
from its own virtualenv.
"""
