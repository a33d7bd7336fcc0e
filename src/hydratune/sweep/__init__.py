"""The sweeper: plan -> open study -> loop (ask -> launch -> tell) -> results.

``sweeper.StudySweep`` is what ``hydra/sweeper: hydratune`` runs; the plugin in
``hydra_plugins/hydratune_sweeper`` only hands it Hydra's context.
"""
