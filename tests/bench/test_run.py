"""``bench/run.py --only``: a RESULTS.md section spliced in by hand, which results.json does not
hold, survives the rewrite; the sections the run writes are not doubled."""

from __future__ import annotations

from bench.run import hand_sections

PREVIOUS = """# studies

## Targets

| a | row |

## Machine

- 2 CPUs

## Schedules

old figures

## Architecture (issue 26)

spliced by hand
"""
WRITTEN = """# studies

## Targets

## Machine

## Schedules

new figures
"""


def test_an_only_run_keeps_the_sections_it_does_not_write():
    kept = hand_sections(PREVIOUS, WRITTEN)
    assert kept == "\n## Architecture (issue 26)\n\nspliced by hand\n"
    assert "old figures" not in kept and "## Targets" not in kept
