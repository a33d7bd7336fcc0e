"""What a subpackage offers other packages: its ``__all__``, each name imported on first use.

A subpackage's ``__init__`` names its public API module by module, as Optuna's do, and other
packages import from the package (``from hydratune.insight import export_best``), never from
its modules. The names are resolved lazily (PEP 562) because the packages' weights differ a
lot: ``hydratune.training`` holds both the trial lookup every task may call and the Lightning
task (seconds of imports), ``hydratune.insight`` both the export a sweep needs and the report
it builds at its end. Importing a package costs nothing until a name is used.

Example (a package's ``__init__.py``)::

    __all__, __getattr__ = exports(__name__, {"export": ["export_best"], "rerun": ["rerun_rows"]})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def exports(
    package: str, names_by_module: Mapping[str, Iterable[str]]
) -> tuple[list[str], Callable[[str], Any]]:
    """``__all__`` and the module ``__getattr__`` of ``package``, whose public names live in
    its modules as ``names_by_module`` lists them (module names relative to the package)."""
    where = {
        name: f"{package}.{module}" for module, names in names_by_module.items() for name in names
    }

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    return sorted(where), __getattr__
