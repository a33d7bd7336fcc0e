"""The report as Markdown: header, notes, PNG figures by relative link, and tables.

Cells are escaped for Markdown, so text from a study (parameter values, failure reasons)
stays text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from hydratune.insight.report.sections import Section


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; ``|`` and newlines in cells are escaped."""

    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
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
    lines = [f"# hydratune report: {study.study_name}", ""]
    lines += [f"- **{k}**: {v}" for k, v in header]
    lines += ["", f"Interactive figures: [{html_file}]({html_file})", ""]
    if "png" in notes:
        lines += [f"> {notes['png']}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.note:
            lines += [f"> Skipped: {section.note}", ""]
        for name, _ in section.figures:
            if name in pngs:
                rel = pngs[name].relative_to(here).as_posix()
                lines += [f"![{name}]({rel})", ""]
        for table in section.tables:
            if table.title:
                lines += [f"### {table.title}", ""]
            lines += [markdown_table(table.head, table.rows)]
    return "\n".join(lines)
