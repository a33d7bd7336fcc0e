"""What an installed hydratune costs a Hydra app that does not sweep: Hydra imports every
module under ``hydra_plugins`` in every run, so hydratune's plugin module is paid by every
``python train.py`` in an environment where hydratune is installed.

    .venv/bin/python -m bench.plugin_import            # 30 interleaved starts per contender
    .venv/bin/python -m bench.plugin_import --quick    # 1: checks it runs

Contenders, interleaved in fresh processes: a plain ``@hydra.main`` app (one config value, the
default logging and output dir) started with hydratune's plugins on ``sys.path`` ("installed"),
and the same app with every ``sys.path`` entry that holds ``hydra_plugins/hydratune_sweeper``
removed before Hydra is imported ("not installed"). Each figure is the wall time of the whole
process, as a user waits for it; the cost is the median of the paired differences. Each
"installed" start also records whether Optuna or ``hydratune.sweep`` was loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, interleave, md_table, module_main, progress, target

APP = """
import hydra
from omegaconf import OmegaConf


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg) -> None:
    OmegaConf.to_yaml(cfg)


if __name__ == "__main__":
    main()
"""

# Runs the app as ``python app.py`` would, after removing hydratune's plugins from sys.path
# when asked; then says which of the modules in question the run loaded.
RUNNER = textwrap.dedent(
    """
    import json, os, runpy, sys
    app, installed = sys.argv[1], sys.argv[2] == "installed"
    if not installed:
        sys.path[:] = [
            p for p in sys.path
            if not os.path.isdir(os.path.join(p or ".", "hydra_plugins", "hydratune_sweeper"))
        ]
    sys.argv = [app]
    runpy.run_path(app, run_name="__main__")
    loaded = sorted(
        m for m in sys.modules
        if m in ("optuna", "hydratune", "hydratune.sweep") or m.startswith("hydra_plugins.")
    )
    print("LOADED " + json.dumps(loaded))
    """
)

PLUGIN = "hydra_plugins.hydratune_sweeper.hydratune_sweeper"


def _start(app: Path, installed: bool) -> dict[str, Any]:
    begin = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, str(app), "installed" if installed else "not installed"],
        cwd=app.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - begin
    line = next(x for x in out.stdout.splitlines() if x.startswith("LOADED "))
    return {"ms": seconds * 1e3, "loaded": json.loads(line.removeprefix("LOADED "))}


def run(quick: bool) -> dict[str, Any]:
    reps = 1 if quick else 30
    with tempfile.TemporaryDirectory(prefix="hydratune-bench-plugin-") as tmp:
        app = Path(tmp) / "app.py"
        app.write_text(APP)
        results = interleave(
            {"installed": lambda: _start(app, True), "not installed": lambda: _start(app, False)},
            reps,
            "plain @hydra.main app",
        )
    with_ms = [r["ms"] for r in results["installed"]]
    without_ms = [r["ms"] for r in results["not installed"]]
    cost = Figure.of([a - b for a, b in zip(with_ms, without_ms, strict=True)])
    loaded = results["installed"][0]["loaded"]
    if PLUGIN not in loaded or any(PLUGIN in r["loaded"] for r in results["not installed"]):
        raise RuntimeError(f"the contenders did not differ by hydratune's plugin: {loaded}")
    leaked = sorted(
        {m for r in results["installed"] for m in r["loaded"]} & {"optuna", "hydratune.sweep"}
    )
    progress(f"plugin cost {cost.text(1, ' ms')}; loaded with the plugin: {leaked or 'neither'}")
    table = md_table(
        ["contender", "app start, ms (median, min-max)"],
        [
            ["hydratune installed", Figure.of(with_ms).text(1)],
            ["hydratune not installed", Figure.of(without_ms).text(1)],
            ["**difference** (paired)", cost.text(1)],
        ],
    )
    markdown = "\n".join(
        [
            f"A plain `@hydra.main` app started {reps} times per contender, interleaved, each"
            ' in a fresh process (wall time of the whole process). "Not installed": the same'
            " interpreter with hydratune's `hydra_plugins` folders removed from `sys.path`.",
            "",
            table,
            "",
            f"Modules loaded by the app's run with hydratune installed: {', '.join(loaded)}."
            f" Optuna or `hydratune.sweep` loaded: {', '.join(leaked) or 'neither'}.",
        ]
    )
    return {
        "markdown": markdown,
        "targets": [
            target(
                "plugin import: a plain Hydra app's start, hydratune installed vs not",
                "<= +60 ms, loads neither optuna nor hydratune.sweep",
                f"{cost.text(1, ' ms')}; loads {', '.join(leaked) or 'neither'}",
                cost.median <= 60 and not leaked,
                "" if cost.median <= 60 and not leaked else "see the table",
            )
        ],
        "raw": {"installed": results["installed"], "not installed": results["not installed"]},
    }


if __name__ == "__main__":
    module_main("Plugin import: what an installed hydratune costs every Hydra app", run)
