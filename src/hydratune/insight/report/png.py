"""PNG export of the report's figures with kaleido, which drives a Chrome or Chromium
(Debian: ``apt-get install chromium``).

Each PNG says it is the report's: a ``Software`` text chunk (PNG's own field for the program
that wrote it) right after its header, so a later report can prove a figure is its own before
it replaces it, even where the pages it belonged to are gone (a report killed in between).
"""

from __future__ import annotations

import contextlib
import logging
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from hydratune.files import write_atomically

if TYPE_CHECKING:
    import plotly.graph_objects as go

PNG_SIZE = {"width": 1000, "height": 560}
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MARK = b"Software\x00hydratune report"
_HEADER_END = len(_SIGNATURE) + 4 + 4 + 13 + 4  # the signature, then IHDR: length, type, data, CRC


def write_pngs(figures: list[tuple[str, go.Figure]], folder: Path) -> dict[str, Path]:
    """All figures in one browser session (starting Chromium is most of the cost), rendered
    apart and then each put in place whole, marked as the report's."""
    import kaleido

    # ~50 INFO lines per export, a few after it returns (as the browser's temp dirs are
    # cleaned up), in the sweep's log: quiet for the rest of the process. choreographer's errors
    # too: on a loaded machine it logs (at ERROR, with a traceback) a message from the browser
    # that it could not decode and ignored; what fails an export is raised, and the report's
    # notes say so.
    logging.getLogger("kaleido").setLevel(logging.WARNING)
    logging.getLogger("choreographer").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="hydratune-report-") as rendered:
        drawn = {name: Path(rendered) / f"{name}.png" for name, _ in figures}
        specs = [
            {"fig": fig.to_dict(), "path": drawn[name], "opts": {"format": "png", **PNG_SIZE}}
            for name, fig in figures
        ]
        # mathjax=False: no CDN fetch for a library the figures do not use.
        kaleido.write_fig_from_object_sync(specs, kopts={"mathjax": False})
        missing = [name for name, path in drawn.items() if not path.is_file()]
        if missing:
            raise RuntimeError(f"kaleido wrote no PNG for {', '.join(missing)}")
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / f"{name}.png" for name in drawn}
        for name, path in drawn.items():
            write_atomically(paths[name], marked(path.read_bytes()))
    return paths


def marked(png: bytes) -> bytes:
    """``png`` with the report's ``Software`` text chunk after its header."""
    if png[: len(_SIGNATURE)] != _SIGNATURE or png[12:16] != b"IHDR":
        raise RuntimeError("kaleido wrote something that is not a PNG")
    chunk = struct.pack(">I", len(_MARK)) + b"tEXt" + _MARK
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]))
    return png[:_HEADER_END] + chunk + png[_HEADER_END:]


def is_marked(head: str) -> bool:
    """Whether a file's start (as ``files.check_ours`` reads it) is a PNG a report wrote."""
    return head[1:4] == "PNG" and "tEXt" + _MARK.decode() in head


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
