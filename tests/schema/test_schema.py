"""The config schemas: generated from Optuna's signatures, registered without importing Optuna,
and ``hydra/sweeper: optuna`` taken over only where hydra-optuna-sweeper is absent."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

from hydratune.optuna_classes import PRUNERS, SAMPLERS, SUPPLIED
from hydratune.schema import PRUNER_OPTIONS, SAMPLER_OPTIONS
from hydratune.schema.generate import OPTION_DEFAULTS, TARGET, render


def test_the_generated_options_module_is_what_the_installed_optuna_generates():
    # fails after an Optuna upgrade or an edit of OPTION_DEFAULTS until the module is regenerated
    assert TARGET.read_text() == render(), "run: python -m hydratune.schema.generate"


def test_every_optuna_argument_is_a_field_with_optunas_default_or_the_pinned_one():
    for table, classes in ((SAMPLER_OPTIONS, SAMPLERS), (PRUNER_OPTIONS, PRUNERS)):
        assert table.keys() - {"auto"} == classes.keys()  # auto: hydratune's, resolved by it
        for name, cls in classes.items():
            fields = {f.name: f.default for f in dataclasses.fields(table[name])}
            assert fields.pop("_target_").endswith(f".{cls.__name__}")
            params = {
                n: p.default
                for n, p in inspect.signature(cls.__init__).parameters.items()
                if n not in SUPPLIED and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            }
            assert fields.keys() == params.keys(), name
            for arg, default in {**params, **OPTION_DEFAULTS.get(cls, {})}.items():
                if isinstance(default, (str, int, float, bool)):
                    assert fields[arg] == default, (name, arg)


def _registered(extra_path: Path | None = None) -> dict:
    """Import the plugin module in a fresh interpreter: what it registered and loaded."""
    code = (
        "import json, sys\n"
        "import hydra_plugins.hydratune_sweeper.hydratune_sweeper\n"
        "from hydra.core.config_store import ConfigStore\n"
        "repo = ConfigStore.instance().repo['hydra']['sweeper']\n"
        "print(json.dumps({'sweepers': sorted(k for k in repo if k.endswith('.yaml')),"
        " 'modules': sorted(sys.modules)}))\n"
    )
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout)


def test_the_plugin_module_registers_the_schemas_without_loading_optuna_or_the_sweeper():
    seen = _registered()
    assert {"hydratune.yaml", "optuna.yaml"} <= set(seen["sweepers"])
    loaded = [m for m in seen["modules"] if m.split(".")[0] == "optuna"]
    loaded += [m for m in seen["modules"] if m.startswith(("hydratune.sweep", "hydratune.exec"))]
    assert loaded == []


def test_hydra_sweeper_optuna_is_left_to_hydra_optuna_sweeper_where_it_is_installed(tmp_path):
    upstream = tmp_path / "hydra_plugins" / "hydra_optuna_sweeper"
    upstream.mkdir(parents=True)
    (upstream / "__init__.py").write_text("")
    assert "optuna.yaml" not in _registered(tmp_path)["sweepers"]
