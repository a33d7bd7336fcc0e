"""Research studies: one-off questions answered with measurements, not regression checks.

``pruning`` (does any Optuna pruner save 2x compute on the digits CNN?), ``pruning_variants``
(the same under another budget, space or recipe) and ``peers`` (hydratune against
hydra-optuna-sweeper 1.3 in its own virtualenv). ``python bench/run.py --studies`` (``make
bench-studies``) runs ``pruning`` and ``peers`` and writes ``bench/studies/RESULTS.md``;
``FINDINGS.md`` beside this file keeps what they found.
"""
