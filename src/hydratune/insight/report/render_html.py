"""The report as one self-contained HTML page (plotly.js inlined once: works offline)."""

from __future__ import annotations

import html

import optuna

from hydratune.insight.report.model import TITLE
from hydratune.insight.report.sections import Section


def _html_table(head: list[str] | None, rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head or [])
    thead = f"<thead><tr>{cells}</tr></thead>" if head else ""
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table>{thead}<tbody>{body}</tbody></table>"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.note { background: #fff6d6; border-left: 4px solid #e0b000; padding: 0.5em 1em; }
.figure { margin: 1em 0 2em; }
nav a { margin-right: 1em; }
"""


def html_page(
    study: optuna.Study,
    header: list[tuple[str, str]],
    sections: list[Section],
    notes: dict[str, str],
) -> str:
    title = f"{TITLE}{study.study_name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _html_table(None, [[k, v] for k, v in header]),
        "<nav>"
        + "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
        + "</nav>",
    ]
    if "png" in notes:
        parts.append(f'<p class="note">{html.escape(notes["png"])}</p>')
    first = True
    for section in sections:
        parts.append(f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>')
        if section.note:
            parts.append(f'<p class="note">Skipped: {html.escape(section.note)}</p>')
        for name, fig in section.figures:
            # plotly.js once, inlined: the page works offline and stays one file.
            div = fig.to_html(
                full_html=False,
                include_plotlyjs=first,
                div_id=f"plot-{name}",
                config={"displaylogo": False, "responsive": True},
            )
            parts.append(f'<div class="figure" data-figure="{name}">{div}</div>')
            first = False
        for table in section.tables:
            if table.title:
                parts.append(f"<h3>{html.escape(table.title)}</h3>")
            parts.append(_html_table(table.head, table.rows))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
