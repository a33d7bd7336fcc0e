"""Shared fixtures: run a real Hydra multirun of a synthetic objective in this process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

import hydratune

TEST_CONF = Path(__file__).parent / "conf"
REPO = Path(__file__).parents[1]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def quadratic(cfg: DictConfig) -> float:
    """Known optimum 0 at x=1, y=-2, kind=b; ``fail_when_x_above`` makes chosen trials raise.

    With ``curve_steps`` > 0 it also reports a learning curve falling to that value, and stops
    when the sweep's pruner says so between two steps.
    """
    if cfg.fail_when_x_above is not None and cfg.x > cfg.fail_when_x_above:
        raise RuntimeError(f"x={cfg.x} is too large")
    value = float(cfg.shape.scale * (cfg.x - 1) ** 2 + (cfg.y + 2) ** 2 + (cfg.kind != "b"))
    for step in range(cfg.curve_steps):
        hydratune.report(value * (1 + 1 / (step + 1)), step)
        # asked between steps only: after the last one there is no work left to save
        if step < cfg.curve_steps - 1 and hydratune.should_prune():
            raise optuna.TrialPruned(f"step {step}")
    return value


def multirun(
    overrides: list[str],
    task: Callable[[DictConfig], Any] = quadratic,
    config_name: str = "quadratic",
    config_dir: Path = TEST_CONF,
) -> Any:
    """``app -m *overrides`` in this process, the way the command line runs it."""
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        try:
            return hydra.multirun(
                config_name=config_name,
                task_function=task,
                overrides=overrides,
                with_log_configuration=False,
            )
        finally:
            GlobalHydra.instance().clear()


@pytest.fixture
def sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run sweeps of the synthetic objective with ``tmp_path`` as the working directory."""
    monkeypatch.chdir(tmp_path)
    return multirun


@pytest.fixture(autouse=True)
def _drop_job_log_handlers():
    """Hydra's job logging adds handlers on this test's captured streams; later tests must not
    write to them once pytest has closed them."""
    yield
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if type(h).__module__.startswith("_pytest")]


def load(study_name: str, cwd: Path) -> optuna.Study:
    """The study a sweep stored in the default journal file under ``cwd``."""
    from hydratune.study import open_storage, storage_url

    return optuna.load_study(study_name=study_name, storage=open_storage(storage_url(None, cwd)))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 for this test session."""
    from services import postgres_server

    with postgres_server() as url:
        yield url
