"""hydra-optuna-sweeper's example apps as task functions (sphere, multi-objective, custom
search space), for tests/sweep/test_optuna_sweeper_compat.py (1.3) and
test_optuna_sweeper_main_compat.py (main, 1.4.0.dev): the same apps in both versions."""

from __future__ import annotations

from omegaconf import DictConfig
from optuna.trial import Trial


def sphere(cfg: DictConfig) -> float:
    if cfg.get("error", False):  # main's example/sphere.py (1.3's read cfg.error)
        raise RuntimeError("cfg.error is True")
    return float(cfg.x**2 + cfg.y**2)


def binh_and_korn(cfg: DictConfig) -> tuple[float, float]:
    x, y = cfg.x, cfg.y
    return 4 * x**2 + 4 * y**2, (x - 5) ** 2 + (y - 5) ** 2


def multi_dimensional_sphere(cfg: DictConfig) -> float:
    return float(cfg.w**2 + cfg.x**2 + cfg.y**2 + cfg.z**2)


def configure(cfg: DictConfig, trial: Trial) -> None:
    x_value = trial.params["x"]
    trial.suggest_float(
        "z", x_value - cfg.max_z_difference_from_x, x_value + cfg.max_z_difference_from_x
    )
    trial.suggest_float("+w", 0.0, 1.0)  # note +w here, not w as w is a new parameter
