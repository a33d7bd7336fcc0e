"""Trial dirs that no trial of the study owns: set aside before the sweep writes next to them.

Trial N writes to ``<sweep dir>/N``. A sweep dir can outlive its study (the journal was
deleted or moved, ``storage`` changed): the new study's trial 0 would then write its files
among the old trial 0's. Numbered dirs with no trial of that number in the study are moved
to ``<sweep dir>.before-<time>`` with a warning, so every trial dir holds one trial's files.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import optuna

log = logging.getLogger(__name__)


def set_aside_foreign_dirs(study: optuna.Study, sweep_dir: Path) -> Path | None:
    """Move numbered dirs of ``sweep_dir`` that no trial of ``study`` owns; where, or None."""
    if not sweep_dir.is_dir():
        return None
    # Listed before the trials are read: a dir another worker creates for its trial N meanwhile
    # exists only after trial N does, so it is never taken for a foreign one.
    numbered = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    if not numbered:
        return None
    numbers = {t.number for t in study.get_trials(deepcopy=False)}
    foreign = sorted((p for p in numbered if int(p.name) not in numbers), key=lambda p: int(p.name))
    if not foreign:
        return None
    aside = sweep_dir.with_name(f"{sweep_dir.name}.before-{time.strftime('%Y%m%d-%H%M%S')}")
    aside.mkdir(parents=True, exist_ok=True)
    for path in foreign:
        path.rename(aside / path.name)
    log.warning(
        "%s held %d trial dir(s) (%s) that no trial of study '%s' owns (an earlier study or "
        "journal): moved to %s, so new trials do not mix their files with them",
        sweep_dir,
        len(foreign),
        ", ".join(p.name for p in foreign[:5]) + (", ..." if len(foreign) > 5 else ""),
        study.study_name,
        aside,
    )
    return aside
