"""``hydratune migrate``: a hydra-optuna-sweeper config rewritten for hydratune, as a diff.

It reads configs written for 1.3 (released) and for main (1.4.0.dev): they differ in what a
``range`` means (1.3 included its stop except with grid; main excludes it, as hydratune does),
so a ``range`` line is commented only for a 1.3 config. The version is told from the file
(``search_space`` or ``motpe``: 1.3; ``nsgaiii``, ``gp``, ``qmc`` or a sampler option only
main has: main), else from ``--from``; a file with ranges and no sign is refused until told.

The rewrite is line by line, so comments (but those inside a ``search_space:`` block, which is
replaced), layout and line endings (CRLF) stay; each change is one of:

- ``override /hydra/sweeper: optuna`` -> ``override /hydra/sweeper: hydratune``;
- ``_target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper`` deleted
  (``hydra/sweeper: hydratune`` sets its own);
- the deprecated ``search_space:`` block of the sweeper (``hydra.sweeper``, or the file's top
  level when it is a ``hydra/sweeper`` config) -> the equivalent ``params:`` entries; a
  ``search_space`` key anywhere else is the user's and stays;
- in a ``hydra/sweeper`` config of the user's, its ``- optuna`` default -> ``- hydratune``;
- (1.3 only) a comment after every ``range(...)``: hydratune's range excludes its stop (1.3
  included it except under grid), so ``range(1, 4)`` is 1, 2, 3;
- a comment after ``storage: null``: in-memory in 1.3, a journal file under ``outputs/`` here
  (rerunning the command resumes the study; ``storage: memory`` keeps the old behaviour).

A note goes after the line's own comment (``x: range(1, 4)  # mine  # hydratune: ...``): the
user's line stays as it was, still one YAML comment, and a second run sees the note and adds
none.

Example::

    $ hydratune migrate configs/hparams_search/mnist_optuna.yaml
    --- configs/hparams_search/mnist_optuna.yaml (hydra-optuna-sweeper)
    +++ configs/hparams_search/mnist_optuna.yaml (hydratune)
    -  - override /hydra/sweeper: optuna
    +  - override /hydra/sweeper: hydratune

A file is rewritten only once it is proved to be such a config (text, YAML, a sweeper config)
and the result is proved to load as the same config apart from the intended changes; then it
is replaced atomically (a temporary file beside it, ``os.replace``), so a full disk or any
refusal leaves it byte for byte as it was.
"""

from __future__ import annotations

import copy
import difflib
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hydratune.errors import StudyConfigError
from hydratune.files import write_atomically
from hydratune.schema import UPSTREAM_TARGET
from hydratune.sweep import both_set, search_space_params

_SWEEPER_CHOICE = re.compile(
    r"^(\s*-?\s*(?:override\s+)?/?hydra/sweeper\s*:\s*)(['\"]?)optuna\2(?=\s*(#|$))"
)
_SWEEPER_KEY = re.compile(r"^(override\s+)?/?hydra/sweeper$")
_SAMPLER_KEY = re.compile(r"^(override\s+)?/?hydra/sweeper/sampler$")
_MOTPE_CHOICE = re.compile(
    r"^(\s*-?\s*(?:override\s+)?/?hydra/sweeper/sampler\s*:\s*)(['\"]?)motpe\2(?=\s*(#|$))"
)
MOTPE_NOTE = "# hydratune: was motpe (Optuna's TPE takes several objectives since 3.0)"
_UPSTREAM_TARGET = re.compile(
    rf"^\s*_target_\s*:\s*['\"]?{re.escape(UPSTREAM_TARGET)}['\"]?\s*(#.*)?$"
)
_SEARCH_SPACE = re.compile(r"^(\s*)search_space\s*:\s*(#.*)?$")
_OPTUNA_DEFAULT = re.compile(r"^(\s*-\s*)(['\"]?)optuna\2(?=\s*(#|$))")  # a sweeper config's
_KEY_LINE = re.compile(r"^\s*([^\s#'\"-][^:#]*?)\s*:\s*(#.*)?$")  # a key that opens a mapping
_STORAGE_NULL = re.compile(r"^\s*storage\s*:\s*(null|~)?\s*(#.*)?$")
_RANGE = re.compile(r"^(\s*[^#\s][^#]*:\s*[^#]*\brange\()")
FROM_SEARCH_SPACE = "# hydratune: from search_space; stop = one step past the last value <= high"
RANGE_NOTE = "# hydratune: range excludes its stop (1.3 included it except with grid)"
VERSIONS = ("1.3", "1.4")
# What only one version's configs can hold (hydra-optuna-sweeper's config.py, 1.3 and main)
_ONLY_13 = re.compile(
    r"^\s*(search_space\s*:|-?\s*(override\s+)?/?hydra/sweeper/sampler\s*:\s*motpe\b)"
)
_ONLY_14 = re.compile(
    r"^\s*(-?\s*(override\s+)?/?hydra/sweeper/sampler\s*:\s*(nsgaiii|gp|qmc)\b"
    r"|(constant_liar|reference_points|dividing_parameter|mutation|popsize|with_margin|lr_adapt)\s*:"
    r"|_target_\s*:\s*optuna\.samplers\.(NSGAIIISampler|GPSampler|QMCSampler))"
)
STORAGE_NOTE = (
    "# hydratune: null is a journal file beside the sweep dirs (rerun resumes); memory = 1.3's "
    "in-memory"
)


@dataclass
class Migration:
    """A config before and after, and what changed in words."""

    path: Path
    old: str
    new: str
    changes: list[str] = field(default_factory=list)
    version: str | None = None  # the hydra-optuna-sweeper version the file was written for

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.old.splitlines(keepends=True),
                self.new.splitlines(keepends=True),
                f"{self.path} (hydra-optuna-sweeper)",
                f"{self.path} (hydratune)",
            )
        )


class MigrationError(StudyConfigError):
    """A file ``hydratune migrate`` will not rewrite; the file is left as it was."""


def migrate_file(path: Path, version: str | None = None) -> Migration:
    """The migration of the config at ``path`` (nothing written: see ``write``)."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        old = raw.decode("utf-8")
    except UnicodeDecodeError:
        old = None
    if old is None or "\x00" in old:
        raise MigrationError(f"{path} is not a text file; give the YAML config to migrate")
    before = _load(old, f"{path} is not YAML Hydra can load")
    defaults = before.get("defaults") if isinstance(before, dict) else None
    if defaults is not None and not isinstance(defaults, list):  # Hydra refuses it too
        raise MigrationError(
            f"{path} is not a Hydra config (defaults must be a list, not "
            f"{type(defaults).__name__}); nothing to migrate"
        )
    if not _is_sweeper_config(before):
        raise MigrationError(
            f"{path} is not a hydra-optuna-sweeper config (no hydra/sweeper choice, no "
            "hydra.sweeper block); nothing to migrate"
        )
    version = version or detect_version(old)
    intended = _intended(copy.deepcopy(before), sweeper=_sweeper_path(before))
    new, changes = migrate_text(old, version)
    if new != old:
        _check(path, intended, _load(new, f"{path}: the rewrite would not load as YAML"))
    return Migration(path, old, new, changes, version)


def write(migration: Migration) -> None:
    """Replace the file with the migrated text atomically: written and synced beside it, then
    ``os.replace``d; any failure (a full disk) removes the temporary file and leaves the
    original untouched."""
    path = migration.path
    try:
        write_atomically(path, migration.new, sync=True)
    except OSError as error:
        raise MigrationError(
            f"cannot write {path}: {error.strerror or error}; the file is unchanged"
        ) from None


def detect_version(text: str) -> str | None:
    """``1.3`` or ``1.4`` from what only that version's configs hold, else None."""
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    old, new = any(_ONLY_13.match(x) for x in lines), any(_ONLY_14.match(x) for x in lines)
    if old and new:
        raise MigrationError(
            "the file mixes hydra-optuna-sweeper 1.3 keys (search_space, motpe) with main's "
            "(nsgaiii, gp, qmc, constant_liar, ...); fix it for one version, then migrate"
        )
    return "1.3" if old else "1.4" if new else None


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, but a key twice in one mapping is an error, as OmegaConf (and
    so Hydra) makes it: PyYAML keeps the last one, so a file that Hydra cannot load would pass
    as the same config."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                if (key.tag, key.value) in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"found duplicate key {key.value}", key.start_mark
                    )
                seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep=deep)


def _load(text: str, what: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: nothing is executed
    except yaml.YAMLError as error:
        first = str(error).strip().splitlines()[0]
        raise MigrationError(f"{what} ({first}); the file is unchanged") from None


def _sweeper_path(data: Any) -> str | None:
    """Where the file keeps the sweeper's settings: ``hydra.sweeper.``, ``""`` for a config
    that is one (a ``hydra/sweeper`` group option, or one packaged there), else None."""
    if not isinstance(data, dict):
        return None
    hydra = data.get("hydra")
    if isinstance(hydra, dict) and isinstance(hydra.get("sweeper"), dict):
        return "hydra.sweeper."
    packaged = any(k in data for k in ("sampler", "search_space", "params")) and (
        "n_trials" in data or "direction" in data
    )
    return "" if packaged else None


def _is_sweeper_config(data: Any) -> bool:
    """A Hydra config that selects a sweeper or sets ``hydra.sweeper`` (or is one, packaged)."""
    if not isinstance(data, dict):
        return False
    for item in data.get("defaults") or []:
        if isinstance(item, dict) and any(_SWEEPER_KEY.match(str(k)) for k in item):
            return True
    hydra = data.get("hydra")
    if isinstance(hydra, dict) and isinstance(hydra.get("sweeper"), dict):
        return True
    return any(k in data for k in ("sampler", "search_space", "params")) and (
        "n_trials" in data or "direction" in data
    )


def _check(path: Path, intended: Any, after: Any) -> None:
    """The rewrite loads as the original config with exactly the intended changes."""
    if after != intended:
        raise MigrationError(
            f"{path}: the line-by-line rewrite would change more than intended (YAML this "
            "migration cannot edit safely: an anchor, a multi-line value, a '#' in a string?); "
            "the file is unchanged: make the changes listed in the README by hand"
        )


def _intended(data: Any, where: str = "", sweeper: str | None = None) -> Any:
    """``data`` (a loaded config, at key path ``where``) with the changes migrate means to make,
    and no others. ``sweeper``: the key path of the sweeper's settings (``_sweeper_path``);
    only its ``search_space`` is converted, and one beside ``params`` is refused (1.3 searched
    ``params`` alone: ``sweep.upstream.both_set``)."""
    if isinstance(data, list):
        items = [_intended(item, f"{where}{i}.", sweeper) for i, item in enumerate(data)]
        if where == "defaults." and sweeper == "":  # a hydra/sweeper config extending optuna
            items = ["hydratune" if item == "optuna" else item for item in items]
        return items
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        if _SWEEPER_KEY.match(str(key)) and value == "optuna":
            value = "hydratune"
        if _SAMPLER_KEY.match(str(key)) and value == "motpe":
            value = "tpe"
        out[key] = _intended(value, f"{where}{key}.", sweeper)
    if out.get("_target_") == UPSTREAM_TARGET:
        del out["_target_"]
    if where == sweeper and isinstance(out.get("search_space"), dict):
        if out.get("params") is not None:
            raise MigrationError(f"{both_set(where)}, then migrate; the file is unchanged")
        out["params"] = search_space_params(out.pop("search_space"))
    return out


def migrate_text(text: str, version: str | None = None) -> tuple[str, list[str]]:
    """``text`` rewritten for hydratune, and the list of changes made. ``version``: the
    hydra-optuna-sweeper version it was written for (default: told from the text)."""
    version = version or detect_version(text)
    sweeper = _sweeper_path(_load(text, "the file is not YAML"))
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if "\r\n" in text else "\n"
    changes: list[str] = []
    lines = _convert_search_space(lines, changes, newline, sweeper)
    out: list[str] = []
    skip_blank = False
    for line in lines:
        body = line.rstrip("\r\n")
        end = line[len(body) :]
        if skip_blank and not body.strip():  # no blank line left where the _target_ opened
            skip_blank = False
            continue
        skip_blank = False
        if _SWEEPER_CHOICE.match(body):
            out.append(_SWEEPER_CHOICE.sub(r"\1\2hydratune\2", body) + end)
            changes.append("hydra/sweeper: optuna -> hydratune")
        elif _MOTPE_CHOICE.match(body):  # removed in Optuna 4: a config naming it cannot compose
            tpe = _MOTPE_CHOICE.sub(r"\1\2tpe\2", body).rstrip()
            out.append(f"{tpe}  {MOTPE_NOTE}{end}")
            changes.append("hydra/sweeper/sampler: motpe -> tpe (MOTPESampler was folded into TPE)")
        elif sweeper == "" and _OPTUNA_DEFAULT.match(body):
            out.append(_OPTUNA_DEFAULT.sub(r"\1\2hydratune\2", body) + end)
            changes.append("defaults: - optuna -> - hydratune (this hydra/sweeper config's base)")
        elif _UPSTREAM_TARGET.match(body):
            changes.append("deleted the sweeper's _target_ (hydra/sweeper: hydratune sets it)")
            skip_blank = bool(out) and out[-1].rstrip().endswith(":")
        elif _STORAGE_NULL.match(body) and "hydratune:" not in body:
            out.append(f"{body.rstrip()}  {STORAGE_NOTE}{end}")  # the user's comment stays
            changes.append("storage: null is now a journal file (comment added)")
        elif _RANGE.match(body) and "hydratune:" not in body and version != "1.4":
            if version is None:
                raise MigrationError(
                    f"cannot tell whether this config was written for hydra-optuna-sweeper 1.3 "
                    f"(range includes its stop) or main/1.4 (excludes it, as hydratune does): "
                    f"{body.strip()}; rerun with --from 1.3 or --from 1.4"
                )
            out.append(f"{body.rstrip()}  {RANGE_NOTE}{end}")  # the user's comment stays
            changes.append(f"range() excludes its stop: {body[: _comment_start(body)].strip()}")
        else:
            out.append(line)
    return "".join(out), changes


def _comment_start(line: str) -> int:
    """Where a YAML comment starts on ``line`` (its length if none): a ``#`` after a blank,
    outside quotes."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return len(line)


def _key_path(lines: list[str], index: int) -> str | None:
    """The dotted path (``hydra.sweeper.``) of the mapping whose key is on line ``index``, read
    from the indentation of the key lines above it; None inside a list or a flow mapping."""
    indent, path = len(lines[index]) - len(lines[index].lstrip()), []
    for line in reversed(lines[:index]):
        body = line[: _comment_start(line)].rstrip()
        own = len(body) - len(body.lstrip())
        if not body.strip() or own >= indent:
            continue
        key = _KEY_LINE.match(body)
        if key is None:
            return None
        path.insert(0, key.group(1))
        indent = own
        if not own:
            break
    return "".join(f"{k}." for k in path)


def _convert_search_space(
    lines: list[str], changes: list[str], newline: str, sweeper: str | None
) -> list[str]:
    """Replace the sweeper's ``search_space:`` block (at key path ``sweeper``) by ``params:``
    entries (one beside a ``params:`` block was refused: ``_intended``)."""
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if _SEARCH_SPACE.match(line) and sweeper is not None and _key_path(lines, i) == sweeper
        ),
        None,
    )
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
    block = _load(textwrap.dedent("".join(lines[start:end])), "search_space: block") or {}
    params = search_space_params(block.get("search_space") or {})
    changes.append(f"search_space -> params ({len(params)} parameter(s))")
    child = indent + "  "
    entries = [
        f"{child}{key}: {expr}" + (f"  {FROM_SEARCH_SPACE}" if "range(" in expr else "") + newline
        for key, expr in params.items()
    ]
    return lines[:start] + [f"{indent}params:{newline}", *entries] + lines[end:]
