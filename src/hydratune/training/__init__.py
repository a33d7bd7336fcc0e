"""The training task: Lightning, objective tracking, the pruning callback, data and models.

It imports nothing from ``hydratune.sweep`` or ``hydratune.execute``: a plain ``hydratune`` run
is just training, and a job reaches its trial only through the study storage
(``current_trial``).
"""
