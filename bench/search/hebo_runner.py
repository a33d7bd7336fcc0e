"""HEBO's ask/tell loop in HEBO's own venv (its pins clash with ours), spoken over JSON lines.

Run by ``hebo_contender.py`` as ``<hebo venv>/bin/python hebo_runner.py``; it imports only the
standard library and HEBO's stack. Protocol, one JSON object a line: the first line in is
``{"space": [...], "seed": s}`` (each parameter as HEBO's DesignSpace reads it: name, type,
lb/ub or categories), answered by ``{"ready": true}`` once HEBO is built; then ``{"ask": true}``
is answered by ``{"params": {...}}`` and ``{"tell": value}`` by ``{}``, until stdin closes.
HEBO runs with its defaults (GP surrogate, MACE acquisition, 1 + d Sobol points to start); the
seed goes to its Sobol scrambling and to numpy's and torch's global generators, which its
model fit and NSGA-II search draw from.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # anything HEBO or its stack prints stays off the protocol
    import numpy as np
    import torch
    from hebo.design_space.design_space import DesignSpace
    from hebo.optimizers.hebo import HEBO
    from pymoo.config import Config

    Config.warnings["not_compiled"] = False  # pymoo 0.6.0 built without its C parts: slower
    torch.set_num_threads(1)
    header = json.loads(sys.stdin.readline())
    seed = header["seed"]
    np.random.seed(seed)
    torch.manual_seed(seed)
    space = DesignSpace().parse(header["space"])
    opt = HEBO(space, scramble_seed=seed)
    kinds = {p["name"]: p["type"] for p in header["space"]}

    def send(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    send({"ready": True})
    asked = None
    for line in sys.stdin:
        message = json.loads(line)
        if "ask" in message:
            asked = opt.suggest(n_suggestions=1)
            row = asked.iloc[0]
            send({"params": {n: _plain(row[n], kinds[n]) for n in asked.columns}})
        else:
            opt.observe(asked, np.array([[float(message["tell"])]]))
            send({})


def _plain(value: object, kind: str) -> object:
    """A DataFrame cell as JSON: ints for integer kinds, the category's string, else a float."""
    if kind == "cat":
        return str(value)
    return int(value) if kind in ("int", "pow_int") else float(value)


if __name__ == "__main__":
    main()
