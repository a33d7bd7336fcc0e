"""The report as Markdown: header, notes, PNG figures by relative link, and tables.

Text from a study (parameter values, failure reasons, the study name) is escaped for Markdown
and for the HTML that Markdown passes through (``<script>``, ``<img onerror=...>``), so it stays
text wherever the file is rendered.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import optuna

from hydratune.insight.report.model import TITLE
from hydratune.insight.report.sections import Section


def md_text(text: Any) -> str:
    """``text`` as inline Markdown: HTML (``<``, ``>``, ``&``), ``|`` and newlines escaped."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; every cell is text (see ``md_text``)."""
    lines = ["| " + " | ".join(md_text(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_page(
    study: optuna.Study,
    header: list[tuple[str, str]],
    sections: list[Section],
    notes: dict[str, str],
    pngs: dict[str, Path],
    here: Path,
    html_file: str,
) -> str:
    """The page: figures link to ``pngs`` relative to ``here`` (the Markdown file's folder)."""
    lines = [f"# {TITLE}{md_text(study.study_name)}", ""]
    lines += [f"- **{md_text(k)}**: {md_text(v)}" for k, v in header]
    lines += ["", f"Interactive figures: [{html_file}]({html_file})", ""]
    if "png" in notes:
        lines += [f"> {md_text(notes['png'])}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.note:
            lines += [f"> Skipped: {md_text(section.note)}", ""]
        for name, _ in section.figures:
            if name in pngs:
                rel = pngs[name].relative_to(here).as_posix()
                lines += [f"![{name}]({rel})", ""]
        for table in section.tables:
            if table.title:
                lines += [f"### {md_text(table.title)}", ""]
            lines += [markdown_table(table.head, table.rows)]
    return "\n".join(lines)
