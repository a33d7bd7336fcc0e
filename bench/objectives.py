"""Closed-form objectives the benchmarks optimise: pure Python, no dependency.

Imported by the hydratune tasks (``bench.tasks``), the plain Optuna loops (``bench.plain_loop``)
and the stock-sweeper app that runs in its own virtualenv (``bench.studies.peer_app``), so every
contender scores exactly the same function.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

BRANIN_MIN = 0.397887357729739
HARTMANN6_MIN = -3.322368011391339

# Hartmann 6-D (Dixon & Szegö): global minimum -3.32237 at
# (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573), on [0, 1]^6.
_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
_H6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)

# The search spaces, as (key, low, high) floats; bench/conf/closed_form.yaml holds the keys.
SPACES: dict[str, list[tuple[str, float, float]]] = {
    "branin": [("x1", -5.0, 10.0), ("x2", 0.0, 15.0)],
    "hartmann6": [(f"x{i}", 0.0, 1.0) for i in range(1, 7)],
}
OPTIMA = {"branin": BRANIN_MIN, "hartmann6": HARTMANN6_MIN}


def noop_value(x: float, y: int, kind: str) -> float:
    """The 'null' objective of the overhead benchmarks: free to compute, optimum 0."""
    return float((x - 1) ** 2 + (y + 2) ** 2 + (kind != "b"))


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(x: Sequence[float]) -> float:
    total = 0.0
    for alpha, a_row, p_row in zip(_H6_ALPHA, _H6_A, _H6_P, strict=True):
        inner = sum(a * (xi - p) ** 2 for a, xi, p in zip(a_row, x, p_row, strict=True))
        total += alpha * math.exp(-inner)
    return -total


def closed_form(function: str, params: dict[str, float]) -> float:
    """``branin`` or ``hartmann6`` at the point named by ``params`` (keys from ``SPACES``)."""
    point = [params[key] for key, _, _ in SPACES[function]]
    return branin(*point) if function == "branin" else hartmann6(point)


# --- simulated learning curves -------------------------------------------------------------
CURVE_NOISE = 0.005
# The best curves end at 0.05 (+ noise); about 5% of the space gets below the target of 0.06.
CURVE_TARGET = 0.06


def learning_curve(lr_exp: float, dropout: float, epoch: int, seed: int) -> float:
    """Validation loss after ``epoch`` (0-based) of a simulated run with learning rate
    ``10**lr_exp``: an exponential decay from 2.3 to a final loss that is best at lr 10^-2.5 and
    dropout 0.15. A high rate converges fast to a worse loss, a low one slowly to a good one,
    so early and final rankings differ (as in real training) and naive early stopping can be
    wrong. Gaussian noise (sd ``CURVE_NOISE``) is fixed by (seed, parameters, epoch)."""
    final = 0.05 + 0.4 * (lr_exp + 2.5) ** 2 + 0.8 * (dropout - 0.15) ** 2
    rate = 0.6 * 10 ** (0.5 * (lr_exp + 2.5))
    noise = random.Random(f"{seed}:{lr_exp!r}:{dropout!r}:{epoch}").gauss(0.0, CURVE_NOISE)
    return final + (2.3 - final) * math.exp(-rate * (epoch + 1)) + noise
