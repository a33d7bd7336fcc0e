"""Search spaces: Hydra's sweep grammar -> Optuna distributions, conditions, groups, pairs.

``SearchSpace`` is the one authority on which parameters a trial has (``active``) and which
values they can take (``contains``, ``fit``); everything is validated before the first write.
"""
