"""A study's report: one offline HTML page, PNG figures and a Markdown summary.

``sections`` decides what the study shows; ``render_html``, ``render_markdown`` and ``png``
lay it out. Example::

    >>> study = optuna.load_study(study_name="mlp_digits", storage=open_storage(url))
    >>> files = write_report(study, Path("outputs/sweeps/mlp_digits/report"), url)
    >>> files.html       # report.html: plotly.js embedded, opens without a network
    >>> files.markdown   # report.md: best trial, importances, top trials, links to PNGs

Without a Chrome or Chromium for kaleido the PNGs are skipped with a note; the HTML is
complete either way.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from hydratune.files import NO_ROOM, check_ours, os_reason, write_atomically
from hydratune.insight.report.model import TITLE, objectives_of
from hydratune.insight.report.png import is_marked, loggers_at, write_pngs
from hydratune.insight.report.render_html import html_page
from hydratune.insight.report.render_markdown import markdown_page, markdown_table
from hydratune.insight.report.sections import build_sections
from hydratune.insight.report.trials import header_rows, rank_trials

__all__ = ["ReportFiles", "markdown_table", "rank_trials", "write_report"]

log = logging.getLogger(__name__)

HTML_FILE = "report.html"
MARKDOWN_FILE = "report.md"
FIGURES_DIR = "figures"


@dataclass
class ReportFiles:
    """What ``write_report`` wrote, and the sections it left out with the reason."""

    html: Path
    markdown: Path
    plots: list[str] = field(default_factory=list)  # figure names, in page order
    pngs: dict[str, Path] = field(default_factory=dict)  # figure name -> PNG (empty: none)
    notes: dict[str, str] = field(default_factory=dict)  # section key -> why it was skipped


def write_report(
    study: optuna.Study,
    out_dir: Path,
    storage_url: str | None = None,
    *,
    metric_names: Sequence[str] | None = None,
    png: bool = True,
    top_k: int = 10,
) -> ReportFiles:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` for ``study`` into ``out_dir``.

    ``metric_names`` label the objectives (default: the study's metric names, else
    "objective"); ``png=False`` skips the PNGs (the slow part: a headless browser renders
    them). ``top_k`` complete trials are listed best first; pruned and failed trials are
    listed with their reasons.
    """
    require_plotly()
    out_dir = Path(out_dir)
    objectives = objectives_of(study, metric_names)
    # Optuna's own log lines (e.g. "no intermediate values") give way to the report's notes.
    with warnings.catch_warnings(), loggers_at(logging.ERROR, "optuna"):
        # Experimental-API and "not enough trials" warnings: the report states what it skipped.
        warnings.simplefilter("ignore")
        trials = study.get_trials(deepcopy=False)
        sections = build_sections(study, trials, objectives, top_k)

    files = ReportFiles(html=out_dir / HTML_FILE, markdown=out_dir / MARKDOWN_FILE)
    figures = [(name, fig) for s in sections for name, fig in s.figures]
    files.plots = [name for name, _ in figures]
    files.notes = {s.key: s.note for s in sections if s.note}
    _check_ours(files, [out_dir / FIGURES_DIR / f"{name}.png" for name in files.plots if png])
    out_dir.mkdir(parents=True, exist_ok=True)
    if png and figures:
        try:
            files.pngs = write_pngs(figures, out_dir / FIGURES_DIR)
        except Exception as error:  # no Chrome for kaleido, or it crashed: the HTML still stands
            files.notes["png"] = (
                f"PNG figures skipped: no room to write them ({os_reason(error)})"
                if isinstance(error, OSError) and error.errno in NO_ROOM
                else f"PNG figures skipped: {type(error).__name__}: {error}. kaleido needs Chrome "
                "or Chromium (Debian: apt-get install chromium); the HTML report is complete."
            )
            log.warning("%s", files.notes["png"])
    header = header_rows(study, trials, objectives, storage_url)
    write_atomically(files.html, html_page(study, header, sections, files.notes))
    write_atomically(
        files.markdown,
        markdown_page(study, header, sections, files.notes, files.pngs, out_dir, HTML_FILE),
    )
    return files


_BY = "hydratune report"
_INSTEAD = "Move it, or write the report elsewhere (hydratune report --out DIR)"


def _check_ours(files: ReportFiles, pngs: list[Path]) -> None:
    """A report replaces only an earlier report: a ``report.md`` or ``figures/history.png`` of
    the user's in ``--out`` is kept. A PNG is the report's only when it carries its mark: an
    earlier report's pages beside it prove nothing, since a ``--no-png`` report writes its
    pages next to whatever figures are there."""
    check_ours(files.markdown, lambda head: head.startswith(f"# {TITLE}"), _BY, _INSTEAD)
    check_ours(files.html, lambda head: f"<title>{TITLE}" in head, _BY, _INSTEAD)
    for path in pngs:
        check_ours(path, is_marked, _BY, _INSTEAD)


def require_plotly() -> None:
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise ImportError(
            "the report needs plotly and kaleido: pip install 'hydratune[report]'"
        ) from None
