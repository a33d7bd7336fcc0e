"""The architecture a sweep searched (``hydra.sweeper.blocks`` / ``cells``): the value against
depth, and which edge operations the best trials chose.

"Which ops win" is read as in NAS-Bench-201 analyses: the share of edges taking each
operation among the best quarter of trials against its share among all trials; an operation
the good trials pick more often than the sampler offered it is one that helps.
"""

from __future__ import annotations

import statistics
from collections import Counter

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from hydratune.insight.report.model import Objective, Section, TableData
from hydratune.insight.report.trials import number_text
from hydratune.space import Blocks, Cell
from hydratune.steering import recorded_space

DEPTH_HEAD = ["depth", "trials", "best", "median"]
OPS_HEAD = ["operation", "share of edges, best quarter", "share of edges, all trials", "best"]


def architecture_section(
    attrs: dict, complete: list[FrozenTrial], objectives: list[Objective]
) -> Section | None:
    """One table per searched architecture; None for a sweep that searched none."""
    recorded = recorded_space(attrs)
    if recorded is None or not recorded.space.architectures or not complete:
        return None
    objective = objectives[0]
    maximize = objective.direction == StudyDirection.MAXIMIZE
    ranked = sorted(complete, key=lambda t: t.values[0], reverse=maximize)
    section = Section("architecture", "Architecture")
    for key, arch in recorded.space.architectures.items():
        if isinstance(arch, Blocks):
            section.tables.append(_depth_table(key, arch, ranked, objective.name))
        elif isinstance(arch, Cell):
            section.tables.append(_ops_table(key, arch, ranked, objective.name))
    return section


def _depth_table(key: str, blocks: Blocks, ranked: list[FrozenTrial], name: str) -> TableData:
    by_depth: dict[int, list[float]] = {}
    for trial in ranked:  # best first: a depth's first value is its best
        if blocks.depth in trial.params:
            by_depth.setdefault(int(trial.params[blocks.depth]), []).append(trial.values[0])
    rows = [
        [str(d), str(len(v)), number_text(v[0]), number_text(statistics.median(v))]
        for d, v in sorted(by_depth.items())
    ]
    return TableData(f"{key}: {name} against the number of blocks", DEPTH_HEAD, rows)


def _ops_table(key: str, cell: Cell, ranked: list[FrozenTrial], name: str) -> TableData:
    names = [cell.param(e) for e in cell.edges]
    picks = [[t.params[n] for n in names if n in t.params] for t in ranked]
    top = picks[: max(1, len(picks) // 4)]
    every, best_quarter = Counter(o for p in picks for o in p), Counter(o for p in top for o in p)
    best = {}
    for trial, chosen in zip(ranked, picks, strict=True):
        for op in chosen:
            best.setdefault(op, trial.values[0])
    rows = [
        [
            str(op),
            f"{best_quarter[op] / max(1, sum(best_quarter.values())):.0%}",
            f"{every[op] / max(1, sum(every.values())):.0%}",
            number_text(best[op]),
        ]
        for op in sorted(every, key=lambda o: -best_quarter[o] / max(1, every[o]))
    ]
    return TableData(f"{key}: which operations the best trials chose ({name})", OPS_HEAD, rows)
