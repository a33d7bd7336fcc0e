"""The layout shows the design: the training task stands alone, the package is cut into
subpackages with small modules, and private APIs go through one compat package."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "hydratune"
SWEEP_MACHINERY = ("hydratune.sweep", "hydratune.execute")
FIELD_LIBRARIES = ("optuna.", "hydra.", "omegaconf.", "lightning.")


STATEMENTS = ["import hydratune", "import hydratune.app", "import hydratune.training.task"]


def loaded_after_each(statements: list[str]) -> dict[str, set[str]]:
    """The hydratune modules one fresh interpreter has loaded after each of ``statements``, run
    in order (one interpreter: importing torch and Lightning once costs seconds). Loaded modules
    only accumulate, so a module that first appears after a statement was loaded by it."""
    code = "import json, sys\n" + "".join(
        f"{statement}\nprint(json.dumps(sorted(sys.modules)))\n" for statement in statements
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()[-len(statements) :]
    return {
        statement: {m for m in json.loads(line) if m.startswith("hydratune")}
        for statement, line in zip(statements, lines, strict=True)
    }


def loaded_after(statement: str) -> set[str]:
    """The hydratune modules a fresh interpreter has loaded after ``statement``."""
    return loaded_after_each([statement])[statement]


@pytest.mark.cli
def test_the_training_task_and_the_public_api_load_no_sweep_loop_or_launcher():
    for statement, loaded in loaded_after_each(STATEMENTS).items():
        leaked = sorted(m for m in loaded if m.startswith(SWEEP_MACHINERY))
        assert leaked == [], f"{statement} loads {leaked}"


LAUNCHERS = ("hydratune.execute.local", "hydratune.execute.worker")
LAUNCHERS += ("hydratune.execute.submitit_launcher", "hydratune.execute.ray_launcher")


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_training_module_imports_the_sweep_machinery_even_lazily():
    for path in (PACKAGE / "training").rglob("*.py"):
        bad = sorted(n for n in imports_of(path) if n.startswith(SWEEP_MACHINERY))
        assert bad == [], f"{path.relative_to(PACKAGE)} imports {bad}"


@pytest.mark.cli
def test_steering_sits_below_the_sweep_and_insight_and_imports_neither():
    above = ("hydratune.sweep", "hydratune.insight", "hydratune.execute")
    for path in (PACKAGE / "steering").rglob("*.py"):
        bad = sorted(n for n in imports_of(path) if n.startswith(above))
        assert bad == [], f"{path.relative_to(PACKAGE)} imports {bad}"
    leaked = sorted(m for m in loaded_after("import hydratune.steering") if m.startswith(above))
    assert leaked == [], f"import hydratune.steering loads {leaked}"


def test_launcher_knowledge_stays_in_execute():
    outside = [p for p in PACKAGE.rglob("*.py") if p.parent.name != "execute"]
    bad = {
        (str(path.relative_to(PACKAGE)), name)
        for path in outside
        for name in imports_of(path)
        if name.startswith(LAUNCHERS)
    }
    assert sorted(bad) == []


def test_few_top_level_modules_several_subpackages_and_no_module_over_500_lines():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert len(modules) <= 10, modules
    assert {"sweep", "space", "execute", "training", "insight"} <= set(packages), packages
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}


def test_private_apis_of_optuna_hydra_omegaconf_and_lightning_are_used_only_in_compat():
    private = ("_internal", "._pop_waiting_trial_id", "._storage", "._study_id", "._trial_id")
    private += ("._search_space", "._contains", "._get_node", "._set_parent", "._return_value")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "compat":
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(PACKAGE)}: {p}" for p in private if p in text]
        offenders += [
            f"{path.relative_to(PACKAGE)}: {name}"
            for name in imports_of(path) | imported_names(path)
            if name.startswith(FIELD_LIBRARIES)
            and any(part.startswith("_") for part in name.split(".")[1:])
        ]
    assert offenders == []


def imported_names(path: Path) -> set[str]:
    """``module.name`` for every ``from module import name`` (``hydra.core.utils._flush_loggers``
    is as private as a private module)."""
    return {
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def test_the_private_api_check_sees_a_private_name_imported_from_a_public_module():
    names = imported_names(PACKAGE / "compat" / "hydra_api.py")
    assert "hydra.core.utils._flush_loggers" in names  # compat's own use, allowed there only


def test_every_tests_path_named_in_the_source_exists():
    root = PACKAGE.parents[1]
    named = {
        (str(path.relative_to(root)), match.rstrip("."))
        for path in PACKAGE.rglob("*.py")
        for match in re.findall(r"tests/[\w/.]+", path.read_text())
    }
    assert [(source, test) for source, test in sorted(named) if not (root / test).exists()] == []


SUBPACKAGES = sorted(
    p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file() and p.name != "conf"
)


def test_other_packages_import_from_a_subpackage_not_from_its_modules():
    """A subpackage's ``__init__`` (its ``__all__``) is what it offers; ``import a.b.c`` of a
    module for its side effects (registering resolvers) is no use of its names."""
    deep = []
    for path in [*PACKAGE.rglob("*.py"), *PACKAGE.parent.joinpath("hydra_plugins").rglob("*.py")]:
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        own = parts[1] if parts[0] == "hydratune" and len(parts) > 2 else None
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").count(".") >= 2:
                package = node.module.split(".")[1]
                theirs = package in SUBPACKAGES and package != own
                if node.module.startswith("hydratune.") and theirs:
                    deep.append(f"{path.name}: from {node.module}")
    assert deep == []


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_name_a_subpackage_exports_is_found(package):
    module = importlib.import_module(f"hydratune.{package}")
    assert module.__all__, f"hydratune.{package} exports nothing"
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert missing == []


@pytest.mark.cli
def test_importing_a_package_for_one_name_loads_none_of_its_heavy_modules():
    code = (
        "import sys; from hydratune.training import register_live_study; "
        "from hydratune.insight import export_best; "
        "print(sorted(m for m in ('lightning', 'torch', 'optuna.importance') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
