"""The config schemas: generated from Optuna's signatures, found by Hydra as YAML files rendered
from them without importing Optuna, and ``hydra/sweeper: optuna`` taken over only where
hydra-optuna-sweeper is absent."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

from hydratune.optuna_classes import PRUNERS, SAMPLERS, SUPPLIED
from hydratune.schema import PRUNER_OPTIONS, SAMPLER_OPTIONS, SCHEDULER_OPTIONS
from hydratune.schema.generate import OPTION_DEFAULTS, TARGET, YAML_ROOT, render, yaml_files


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
    """In a fresh interpreter, as an app run sees them: the options of ``hydra/sweeper`` and
    its groups, and the modules loaded."""
    code = (
        "import json, sys\n"
        "from hydra import initialize\n"
        "from hydra.core.global_hydra import GlobalHydra\n"
        "initialize(version_base=None)\n"
        "options = GlobalHydra.instance().config_loader().get_group_options\n"
        "groups = ['hydra/sweeper', *(f'hydra/sweeper/{g}' for g in "
        "('sampler', 'pruner', 'scheduler'))]\n"
        "print(json.dumps({'options': {g: options(g) for g in groups},"
        " 'modules': sorted(sys.modules)}))\n"
    )
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout)


def test_hydra_finds_every_schema_without_loading_optuna_or_the_sweeper():
    seen = _registered()
    assert {"hydratune", "optuna"} <= set(seen["options"]["hydra/sweeper"])
    assert set(seen["options"]["hydra/sweeper/sampler"]) == SAMPLER_OPTIONS.keys()
    assert set(seen["options"]["hydra/sweeper/pruner"]) == PRUNER_OPTIONS.keys()
    assert set(seen["options"]["hydra/sweeper/scheduler"]) == SCHEDULER_OPTIONS.keys()
    loaded = [m for m in seen["modules"] if m.split(".")[0] == "optuna"]
    loaded += [m for m in seen["modules"] if m.startswith(("hydratune.sweep", "hydratune.exec"))]
    loaded += [m for m in seen["modules"] if m == "hydratune.schema.optuna_options"]
    assert loaded == []


def test_the_yaml_options_are_what_the_schema_dataclasses_render():
    # fails after an edit of a schema dataclass until `python -m hydratune.schema.generate`
    files = yaml_files()
    assert set(YAML_ROOT.rglob("*.yaml")) == set(files)
    for path, text in files.items():
        assert path.read_text() == text, f"{path} is stale: run python -m hydratune.schema.generate"


def test_hydra_sweeper_optuna_is_left_to_hydra_optuna_sweeper_where_it_is_installed(tmp_path):
    upstream = tmp_path / "hydra_plugins" / "hydra_optuna_sweeper"
    upstream.mkdir(parents=True)
    (upstream / "__init__.py").write_text("")
    assert "optuna" not in _registered(tmp_path)["options"]["hydra/sweeper"]
