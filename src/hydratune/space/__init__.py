"""Search spaces: Hydra's sweep grammar -> Optuna distributions, conditions, groups, pairs.

``SearchSpace`` is the one authority on which parameters a trial has (``active``) and which
values they can take (``contains``, ``fit``); everything is validated before the first write.
"""

from __future__ import annotations

from hydratune.exports import exports

# what other packages use, imported on first use (hydratune/exports.py)
__all__, __getattr__ = exports(
    __name__,
    {
        "architecture": ["Blocks", "Cell", "check_architecture"],
        "grammar": [
            "SearchSpaceError",
            "bare_key",
            "describe",
            "format_value",
            "make_parser",
            "on_step",
            "parse_line",
        ],
        "group_spaces": ["add_group_spaces"],
        "search_space": ["Condition", "Pair", "SearchSpace", "is_sequence", "parse_search_space"],
    },
)
