"""``hydratune migrate``: a hydra-optuna-sweeper 1.3 config rewritten for hydratune, as a diff.

The rewrite is line by line, so comments and layout stay; each change is one of:

- ``override /hydra/sweeper: optuna`` -> ``override /hydra/sweeper: hydratune``;
- ``_target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper`` deleted
  (``hydra/sweeper: hydratune`` sets its own);
- the deprecated ``search_space:`` block -> the equivalent ``params:`` entries;
- a comment after every ``range(...)``: hydratune's range excludes its stop (1.3 included it
  except under grid), so ``range(1, 4)`` is 1, 2, 3;
- a comment after ``storage: null``: in-memory in 1.3, a journal file under ``outputs/`` here
  (rerunning the command resumes the study; ``storage: memory`` keeps the old behaviour).

Example::

    $ hydratune migrate configs/hparams_search/mnist_optuna.yaml
    --- configs/hparams_search/mnist_optuna.yaml (hydra-optuna-sweeper)
    +++ configs/hparams_search/mnist_optuna.yaml (hydratune)
    -  - override /hydra/sweeper: optuna
    +  - override /hydra/sweeper: hydratune
"""

from __future__ import annotations

import difflib
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hydratune.schema import UPSTREAM_TARGET
from hydratune.sweep import search_space_params

_SWEEPER_CHOICE = re.compile(r"^(\s*-?\s*(?:override\s+)?/?hydra/sweeper\s*:\s*)optuna\b")
_UPSTREAM_TARGET = re.compile(
    rf"^\s*_target_\s*:\s*['\"]?{re.escape(UPSTREAM_TARGET)}['\"]?\s*(#.*)?$"
)
_SEARCH_SPACE = re.compile(r"^(\s*)search_space\s*:\s*(#.*)?$")
_PARAMS = re.compile(r"^(\s*)params\s*:\s*(#.*)?$")
_STORAGE_NULL = re.compile(r"^(\s*storage\s*:\s*(?:null|~)?)\s*(#.*)?$")
_RANGE = re.compile(r"^(\s*[^#\s][^#]*:\s*[^#]*\brange\()")
FROM_SEARCH_SPACE = "# hydratune: from search_space; stop = high + step keeps high"
RANGE_NOTE = "# hydratune: range excludes its stop (1.3 included it except with grid)"
STORAGE_NOTE = (
    "# hydratune: null is a journal file under outputs/ (rerun resumes); memory = 1.3's in-memory"
)


@dataclass
class Migration:
    """A config before and after, and what changed in words."""

    path: Path
    old: str
    new: str
    changes: list[str] = field(default_factory=list)

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.old.splitlines(keepends=True),
                self.new.splitlines(keepends=True),
                f"{self.path} (hydra-optuna-sweeper)",
                f"{self.path} (hydratune)",
            )
        )


def migrate_file(path: Path) -> Migration:
    old = Path(path).read_text(encoding="utf-8")
    new, changes = migrate_text(old)
    return Migration(Path(path), old, new, changes)


def migrate_text(text: str) -> tuple[str, list[str]]:
    """``text`` rewritten for hydratune, and the list of changes made."""
    lines = text.splitlines(keepends=True)
    changes: list[str] = []
    lines = _convert_search_space(lines, changes)
    out: list[str] = []
    skip_blank = False
    for line in lines:
        body = line.rstrip("\n")
        end = line[len(body) :]
        if skip_blank and not body.strip():  # no blank line left where the _target_ opened
            skip_blank = False
            continue
        skip_blank = False
        if _SWEEPER_CHOICE.match(body):
            out.append(_SWEEPER_CHOICE.sub(r"\1hydratune", body) + end)
            changes.append("hydra/sweeper: optuna -> hydratune")
        elif _UPSTREAM_TARGET.match(body):
            changes.append("deleted the sweeper's _target_ (hydra/sweeper: hydratune sets it)")
            skip_blank = bool(out) and out[-1].rstrip().endswith(":")
        elif _STORAGE_NULL.match(body) and "hydratune:" not in body:
            out.append(f"{_STORAGE_NULL.match(body).group(1)}  {STORAGE_NOTE}{end}")  # type: ignore[union-attr]
            changes.append("storage: null is now a journal file (comment added)")
        elif _RANGE.match(body) and "hydratune:" not in body:
            code = body.split("#", 1)[0].rstrip()
            out.append(f"{code}  {RANGE_NOTE}{end}")
            changes.append(f"range() excludes its stop: {code.strip()}")
        else:
            out.append(line)
    return "".join(out), changes


def _convert_search_space(lines: list[str], changes: list[str]) -> list[str]:
    """Replace a ``search_space:`` block by ``params:`` entries (into an existing ``params:``
    block at the same level if there is one)."""
    start = next((i for i, line in enumerate(lines) if _SEARCH_SPACE.match(line)), None)
    if start is None:
        return lines
    indent = _SEARCH_SPACE.match(lines[start]).group(1)  # type: ignore[union-attr]
    end = start + 1
    while end < len(lines) and (
        not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > len(indent)
    ):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # blank lines stay after the block
        end -= 1
    block = yaml.safe_load(textwrap.dedent("".join(lines[start:end]))) or {}
    params = search_space_params(block.get("search_space") or {})
    changes.append(f"search_space -> params ({len(params)} parameter(s))")
    rest = lines[:start] + lines[end:]
    existing = next(
        (
            i
            for i, line in enumerate(rest)
            if _PARAMS.match(line) and _PARAMS.match(line).group(1) == indent  # type: ignore[union-attr]
        ),
        None,
    )
    child = indent + "  "
    if existing is not None:
        following = [line for line in rest[existing + 1 :] if line.strip()]
        if following and len(following[0]) - len(following[0].lstrip()) > len(indent):
            child = following[0][: len(following[0]) - len(following[0].lstrip())]
    entries = [
        f"{child}{key}: {expr}" + (f"  {FROM_SEARCH_SPACE}\n" if "range(" in expr else "\n")
        for key, expr in params.items()
    ]
    if existing is not None:
        return rest[: existing + 1] + entries + rest[existing + 1 :]
    return lines[:start] + [f"{indent}params:\n", *entries] + lines[end:]
