"""Shared fixtures; the plain helpers they use live in ``helpers.py``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from helpers import multirun

optuna.logging.set_verbosity(optuna.logging.WARNING)


# Under pytest-xdist (``-n 2 --dist loadgroup``), the tests of each service run on one worker,
# which starts that service once (a second Slurm cluster or Ray runtime would compete for the
# same two cores); the other tests are shared out one by one. The benchmarks (``bench``) share
# no service: each quick run is its own test, so both workers take them.
SERVICE_MARKERS = ("postgres", "chromium", "ray", "slurm", "mlflow")


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook: see _join_group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # a test that takes its service down runs last, so no other test waits for a restart
    items.sort(key=lambda item: item.get_closest_marker("stops_its_service") is not None)
    for item in items:
        for name in SERVICE_MARKERS:
            if item.get_closest_marker(name) is not None:
                item.add_marker(pytest.mark.xdist_group(name))
                break
    if config.getoption("loadgroup", default=False):  # set in pytest-xdist's workers
        for item in items:
            names = sorted({str(m.args[0]) for m in item.iter_markers("xdist_group")})
            if names:
                _join_group(item, "_".join(names))


def _join_group(item: pytest.Item, group: str) -> None:
    """What pytest-xdist's loadgroup does to tell its scheduler a test's group: ``@group`` at
    the end of the node id. Its workers write the id pytest 8 kept in ``_nodeid``; pytest 9
    keeps it in ``_id`` (a ``NodeId``), so with pytest 9 no test was grouped and each service
    started on both workers (pytest-dev/pytest-xdist#1386, fix pending in #1388). Done here
    for either, once: never on an id that already names its group."""
    nodeid = item.nodeid
    if nodeid.rfind("@") > nodeid.rfind("]"):
        return  # pytest-xdist did it (pytest 8, or a release with the fix)
    if hasattr(item, "_id"):
        item._id = type(item._id).parse(f"{nodeid}@{group}")
    else:
        item._nodeid = f"{nodeid}@{group}"


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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 for this test session."""
    from services import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[dict[str, str]]:
    """A real single-node Slurm cluster for this test session; Slurm's commands (and so
    submitit) reach it through ``SLURM_CONF``, set for the session."""
    import os

    from services import slurm_cluster

    with slurm_cluster() as env:
        old = os.environ.get("SLURM_CONF")
        os.environ.update(env)
        try:
            yield env
        finally:
            if old is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = old


@pytest.fixture(scope="session")
def _mlflow_service():
    from services import mlflow_server

    with mlflow_server() as server:
        yield server


@pytest.fixture
def mlflow_server(_mlflow_service):
    """A real MLflow tracking server on 127.0.0.1, one per test session (see services.py);
    started again if a test stopped it."""
    if not _mlflow_service.running:
        _mlflow_service.start()
    return _mlflow_service
