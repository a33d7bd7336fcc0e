"""Every private API of Optuna, Hydra, OmegaConf and Lightning hydratune relies on, in one place.

Each is wrapped in this package (a module per library) and nowhere else, and
``tests/test_compat.py`` calls each one, so an upgrade that removes or changes one fails that
test with the API's name instead of breaking a sweep in the middle. The list is also in
docs/development.md ("Private APIs relied on"). Callers use ``compat.<name>``; the modules
import their library lazily, so the Hydra plugin module can import this one cheaply.
"""

from hydratune.compat.hydra_api import (
    BASIC_LAUNCHER_TARGET,
    admit_null_in_hydra_choice,
    apply_overrides,
    configure_logging,
    flush_loggers,
    hydra_choice,
    hydra_plugin_alias,
    job_error,
    locate,
    overrides_dirname,
)
from hydratune.compat.lightning_api import (
    checkpoint_epochs,
    relaunches_command,
)
from hydratune.compat.omegaconf_api import (
    copy_without,
    dict_child,
    hydra_node_view,
    insert_node,
    omegaconf_str_representer,
    own_flag,
    pickled_without,
    plain_container,
    plain_interpolated,
    plain_resolved_container,
    set_values,
)
from hydratune.compat.optuna_api import (
    ask,
    cached_storage,
    claim_study_user_attr,
    distribution_contains,
    grid_of,
    grpc_proxy_client,
    grpc_proxy_server,
    one_write,
    pop_waiting_trial,
    rdb_storage,
    rdb_user_attr_count,
    set_user_attrs,
    storage_of,
    stored_trial_user_attrs,
    study_user_attrs,
    tell,
    trial_by_number,
    trial_id,
    trials_view,
)

__all__ = [
    "BASIC_LAUNCHER_TARGET",
    "admit_null_in_hydra_choice",
    "apply_overrides",
    "ask",
    "cached_storage",
    "checkpoint_epochs",
    "claim_study_user_attr",
    "configure_logging",
    "copy_without",
    "dict_child",
    "distribution_contains",
    "flush_loggers",
    "grid_of",
    "grpc_proxy_client",
    "grpc_proxy_server",
    "hydra_choice",
    "hydra_node_view",
    "hydra_plugin_alias",
    "insert_node",
    "job_error",
    "locate",
    "omegaconf_str_representer",
    "one_write",
    "overrides_dirname",
    "own_flag",
    "pickled_without",
    "plain_container",
    "plain_interpolated",
    "plain_resolved_container",
    "pop_waiting_trial",
    "rdb_storage",
    "rdb_user_attr_count",
    "relaunches_command",
    "set_user_attrs",
    "set_values",
    "storage_of",
    "stored_trial_user_attrs",
    "study_user_attrs",
    "tell",
    "trial_by_number",
    "trial_id",
    "trials_view",
]
