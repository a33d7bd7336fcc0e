"""What a ``warm_start`` transfer brought from earlier studies, and whether the guard fell back
(``hydratune.sweep.transfer``; the record is read defensively: another version may have
written it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.trial import FrozenTrial

from hydratune.attrs import TRANSFER, TRANSFERRED_FROM
from hydratune.insight.report.model import Section, TableData
from hydratune.insight.report.trials import number_text

TRIALS_HEAD = ["trial", "from", "state", "value"]


def transfer_section(attrs: Mapping[str, Any], trials: list[FrozenTrial]) -> Section | None:
    """The transfer's settings and verdict, and each transferred trial; None without one."""
    record = attrs.get(TRANSFER)
    if not isinstance(record, Mapping):
        return None
    section = Section("transfer", "Warm start: transfer from earlier studies")
    sources = ", ".join(map(str, record.get("sources") or [])) or "none found"
    storage = record.get("storage")  # absent (an older record) or None: the sweep's own
    summary = [
        ["mode", str(record.get("mode", ""))],
        ["sources", f"{sources} (in {storage})" if storage else sources],
        ["configurations planned", str(len(record.get("candidates") or []))],
        ["at most", f"{record.get('max_trials', '')} trial(s)"],
    ]
    if record.get("prior_trials"):  # ``transfer: prior``: the sources' trials the sampler saw
        controls = ", ".join(f"#{n}" for n in record.get("controls") or []) or "none"
        until = record.get("prior_until")
        shown = f"{record['prior_trials']} (before trial #{until}; drawn without them: {controls})"
        summary.append(["source trials shown to the sampler", shown])
    summary.append(["guard", str(record.get("fallback") or "did not fall back")])
    section.tables.append(TableData(None, ["", ""], summary))
    rows = [
        [f"#{t.number}", str(t.user_attrs[TRANSFERRED_FROM]), t.state.name.lower()]
        + [number_text(t.value) if t.values else ""]
        for t in trials
        if TRANSFERRED_FROM in t.user_attrs
    ]
    if rows:
        section.tables.append(TableData("Transferred trials", TRIALS_HEAD, rows))
    return section
