"""The sweeper: plan -> open study -> loop (ask -> launch -> tell) -> results.

``sweeper.StudySweep`` is what ``hydra/sweeper: hydratune`` runs; the plugin in
``hydra_plugins/hydratune_sweeper`` only hands it Hydra's context.
"""

from __future__ import annotations

from hydratune.exports import exports

# what other packages use, imported on first use (hydratune/exports.py)
__all__, __getattr__ = exports(
    __name__,
    {
        "loop": ["LoopSummary"],
        "results": ["recorded_app"],
        "settings": ["is_safe_study_name"],
        "sweeper": ["StudySweep"],
        "upstream": ["both_set", "search_space_params"],
    },
)
