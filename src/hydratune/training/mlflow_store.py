"""Where MLflow runs go, and how long a request to a tracking server may take.

Shared by the training side (``logger=mlflow``) and the sweeper (``insight/tracking.py``), so
both reach the same store; free of Lightning, so a sweep of any app imports none of it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The local store when neither a setting nor MLFLOW_TRACKING_URI names a server: a SQLite file
# that `mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db` opens (MLflow 3 refuses
# its old ./mlruns file store unless told otherwise), artifacts in a folder beside it.
LOCAL_STORE = "outputs/mlflow.db"
LOCAL_ARTIFACTS = "outputs/mlartifacts"

# MLflow's HTTP defaults (120 s timeout, 7 retries with exponential backoff) stall a call to a
# dead server for 4 minutes (measured: 245 s); these bound it to seconds. User settings win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


def prepare_mlflow(uri: str) -> None:
    """Before the first request: bound how long one MLflow request may wait on an unreachable
    server, stop MLflow printing "View run at <tracking URI>" links (the URI may hold a
    password), and make the local store's folder."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Meanwhile no other process opens a local SQLite store first: MLflow creates its tables
    at a client's first request, and two sweeps starting together on a new store raced (one
    met "table experiments already exists" and tracked nothing). A lock file beside it."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    with open(f"{uri.removeprefix('sqlite:///')}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def tracking_target(uri: str | None, root: str | Path) -> tuple[str, str | None]:
    """The tracking URI (the setting, else ``MLFLOW_TRACKING_URI``, else the local store under
    ``root/outputs``) and, for the local store, where new experiments keep their artifacts."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return str(uri), None
    root = Path(root).resolve()
    return f"sqlite:///{root / LOCAL_STORE}", (root / LOCAL_ARTIFACTS).as_uri()
