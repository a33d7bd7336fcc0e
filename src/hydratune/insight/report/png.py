"""PNG export of the report's figures with kaleido, which drives a Chrome or Chromium
(Debian: ``apt-get install chromium``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

PNG_SIZE = {"width": 1000, "height": 560}


def write_pngs(figures: list[tuple[str, go.Figure]], folder: Path) -> dict[str, Path]:
    """All figures in one browser session (starting Chromium is most of the cost)."""
    import kaleido

    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.png" for name, _ in figures}
    specs = [
        {"fig": fig.to_dict(), "path": paths[name], "opts": {"format": "png", **PNG_SIZE}}
        for name, fig in figures
    ]
    # ~50 INFO lines per export, a few after it returns (as the browser's temp dirs are
    # cleaned up), in the sweep's log: quiet for the rest of the process.
    for name in ("kaleido", "choreographer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # mathjax=False: no CDN fetch for a library the figures do not use.
    kaleido.write_fig_from_object_sync(specs, kopts={"mathjax": False})
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise RuntimeError(f"kaleido wrote no PNG for {', '.join(missing)}")
    return paths


@contextlib.contextmanager
def loggers_at(level: int, *names: str) -> Iterator[None]:
    """The named loggers at ``level`` meanwhile; their own levels restored afterwards."""
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, old in zip(loggers, before, strict=True):
            logger.setLevel(old)
