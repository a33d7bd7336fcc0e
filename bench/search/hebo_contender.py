"""HEBO as a contender: its own venv, driven through ``hebo_runner.py`` in a subprocess (this
module is not named ``hebo``: the runner, run as a script, would import it for the package).

HEBO 0.3.6 pins numpy<1.25 and scipy<=1.12, which clash with ours, so it gets its own venv
(``make bench-search`` builds it as ``.venv-hebo``; ``HYDRATUNE_HEBO_PYTHON`` names another
interpreter) and speaks JSON lines with this side, which evaluates the problem. Seconds per
suggestion are its ask and tell round trips, HEBO's start (imports, about 3 s) left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

RUNNER = Path(__file__).with_name("hebo_runner.py")
VENV_HINT = "make bench-search builds it (Makefile: .venv-hebo)"


def python() -> Path:
    """The HEBO venv's interpreter: ``$HYDRATUNE_HEBO_PYTHON``, else the repository's
    ``.venv-hebo``."""
    default = Path(__file__).resolve().parents[2] / ".venv-hebo" / "bin" / "python"
    return Path(os.environ.get("HYDRATUNE_HEBO_PYTHON", default))


def missing() -> str | None:
    """Why HEBO cannot run here, or None."""
    if not python().exists():
        return f"not run: its venv ({python()}) is missing; {VENV_HINT}"
    return None


def design_space(space: dict[str, Any]) -> list[dict[str, Any]]:
    """Optuna distributions as HEBO's DesignSpace parameters (log scales as its ``pow``
    kinds; categories by index, as strings)."""
    out = []
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            out.append(
                {"name": name, "type": "cat", "categories": [str(i) for i in range(len(d.choices))]}
            )
        elif isinstance(d, (FloatDistribution, IntDistribution)) and d.step in (None, 1):
            integer = isinstance(d, IntDistribution)
            kind = ("pow_int" if integer else "pow") if d.log else ("int" if integer else "num")
            out.append({"name": name, "type": kind, "lb": d.low, "ub": d.high})
        else:
            raise ValueError(f"{name}: HEBO's runner takes no stepped parameter ({d})")
    return out


def _value(d: Any, raw: Any) -> Any:
    if isinstance(d, CategoricalDistribution):
        return d.choices[int(raw)]
    return min(max(raw, d.low), d.high)  # 10**log10(x) can land a hair outside the bounds


def run(space: dict[str, Any], evaluate: Any, budget: int, seed: int) -> tuple[list, list]:
    """(values, seconds per suggestion) of one HEBO run with its defaults and ``seed``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # HEBO's venv imports its own numpy, never ours
    proc = subprocess.Popen(
        [str(python()), str(RUNNER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )

    def call(message: dict[str, Any]) -> dict[str, Any]:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"HEBO's runner ended (exit {proc.wait()}): see its stderr")
        return json.loads(line)

    try:
        call({"space": design_space(space), "seed": seed})
        values, seconds = [], []
        for _ in range(budget):
            start = time.perf_counter()
            raw = call({"ask": True})["params"]
            spent = time.perf_counter() - start
            value = evaluate({n: _value(d, raw[n]) for n, d in space.items()})
            start = time.perf_counter()
            call({"tell": value})
            seconds.append(spent + time.perf_counter() - start)
            values.append(value)
    finally:
        proc.stdin.close()
        proc.wait()
    return values, seconds
