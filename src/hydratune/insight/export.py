"""The best trial as an experiment config: ``hydratune experiment=<study>_best`` reruns it.

A trial's ``.hydra/config.yaml`` is its whole composed config, but merging it on top of the
app's defaults is not enough: a merge can add and change keys, never remove them, so a trial
that ran with ``callbacks=none`` would get the default callbacks back. The experiment file
therefore also picks every config group the trial picked (``override /callbacks: none``, from
``.hydra/hydra.yaml``'s ``runtime.choices``), so composition starts from the same group
configs, and then sets the values those groups do not give (``set_by_trial``): a group
chosen on the command line beside the experiment (``trainer=gpu``) still applies. Groups whose
config is a ``_global_`` package (``sweep``, ``debug``) only set values and pick other groups;
both are already written out, so they are left at their defaults. Interpolations stay unresolved
(``${hydra:runtime.output_dir}``), so the rerun writes to its own run directory.

Example::

    >>> export_best(study, Path("outputs/sweeps/mlp_digits"),
    ...             Path("conf/experiment/mlp_digits_best.yaml"))
    $ hydratune experiment=mlp_digits_best
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from optuna.trial import FrozenTrial, TrialState

from hydratune.attrs import OUTPUT_DIR, OVERRIDES
from hydratune.files import check_ours, os_reason, write_atomically
from hydratune.insight.composition import config_dirs, group_overrides, set_by_trial, source_dir
from hydratune.schedule import from_scratch, values_changed
from hydratune.steering import best_trials, failed_by_hand

HYDRA_DIR = ".hydra"


class ExportError(ValueError):
    """The trial cannot be exported (no complete trial, no saved config, ambiguous best)."""


def export_best(
    study: optuna.Study,
    sweep_dir: Path,
    target: Path,
    *,
    trial: FrozenTrial | int | None = None,
    app: str = "hydratune",
) -> Path:
    """Write the best trial (or ``trial``) of ``study`` as an experiment config at ``target``.

    ``target`` is usually ``<config dir>/experiment/<study>_best.yaml``; the experiment's name
    is the file's stem. A multi-objective study has no single best trial: pass ``trial`` (one
    of ``steering.best_trials``). A trial failed by hand is never the best. ``app``: the
    command of the app that swept (``python src/train.py``), which the header's command runs.
    Returns ``target``.
    """
    target = Path(target)
    check_target(target)
    _check_folder(target)
    chosen = _chosen_trial(study, trial)
    _, config, hydra = rerun_config(chosen, Path(sweep_dir))
    _check_ours(target)  # both refusals before any work (the header runs git)
    if hydra is not None:
        _check_not_shadowed(hydra, target)
    group = target.parent.name  # the group the experiment itself belongs to
    overrides, later_groups = (
        group_overrides(hydra, skip_group=group) if hydra is not None else ([], [])
    )
    cwd = Path(hydra.runtime.cwd) if hydra is not None else Path.cwd()
    # Hydra's options before the overrides, so that a user can append overrides of their own
    # (argparse takes the overrides once: `a=1 --config-dir conf b=2` is an error)
    options: list[str] = []
    if hydra is not None and not _searched_by(hydra, target.parent.parent):
        _check_one_config_dir(hydra, target)
        options = ["--config-dir", str(_relative_to(target.parent.parent, cwd))]
    # a group the app's defaults list lacks is added (+best=x); `best=x` would fail to compose
    added = "+" if hydra is not None and group not in hydra.runtime.choices else ""
    values, deleted = set_by_trial(config, hydra, overrides, later_groups, chosen)
    arguments = [*options, f"{added}{group}={target.stem}", *later_groups, *deleted]
    note = values_changed(chosen, study.get_trials(deepcopy=False))
    text = _header(study, chosen, cwd, rerun_command(arguments, app), note)
    text += _body(overrides, values)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, text)
    return target


def default_target(
    study: optuna.Study,
    sweep_dir: Path,
    trial: FrozenTrial | int | None = None,
    group: str = "experiment",
) -> Path:
    """``<the user's config dir>/experiment/<study>_best.yaml``: the ``--config-dir`` the trial
    was composed with, else its primary config dir unless that lies in an installed package
    (hydratune's own ``conf/``, site-packages), else ``conf/`` under the directory it ran in,
    else (in hydratune's own checkout, whose ``conf/`` is the package's) ``<sweep dir>/conf``.
    An export never adds files to an installed package: every project would find them there,
    ahead of its own export of the same name."""
    move = moved_from(Path(sweep_dir))
    trial_dir = trial_dir_of(_chosen_trial(study, trial), Path(sweep_dir), move)
    hydra_file = trial_dir / HYDRA_DIR / "hydra.yaml"
    root = Path("conf")
    if hydra_file.is_file():
        runtime = hydra_node(hydra_file, move).runtime
        root = Path(runtime.get("cwd") or ".") / "conf"
        sources = runtime.get("config_sources", [])
        dirs = [
            Path(s.path)
            for provider in ("command-line", "main")
            for s in sources
            if s.get("provider") == provider and s.get("schema") == "file" and s.get("path")
        ]
        user_dirs = [d for d in dirs if not in_installed_package(d)]
        if user_dirs:
            root = user_dirs[0]
    if in_installed_package(root):
        root = Path(sweep_dir) / "conf"
    return root / group / f"{study.study_name}_best.yaml"


RERUN_LINE = "# Rerun it (same seed, same value): "
FROM_SCRATCH_LINE = "# Train its last values from scratch: "  # PBT changed them on the way
EXPORTED_BY = "exported by hydratune."


def _check_ours(target: Path) -> None:
    """An export replaces only an earlier export: a file of the user's at that path is kept."""
    instead = "Move it, or export to another file (hydratune export --to PATH)"
    check_ours(target, _exported, "hydratune export", instead)


def _check_folder(target: Path) -> None:
    """A file where the export's folder would be (``notes.txt/x.yaml``) is refused before any
    work, saying so; ``mkdir`` would only say "File exists"."""
    for folder in target.parents:
        if folder.exists():
            if not folder.is_dir():
                raise ExportError(f"{folder} is not a directory")
            return


def _exported(head: str) -> bool:
    """Whether a file starts as an export does: its header's second line names the exporter."""
    lines = head.splitlines()
    return len(lines) >= 2 and lines[1].endswith(EXPORTED_BY)


def exported_trial(target: Path) -> tuple[str, int] | None:
    """The study and trial number an export at ``target`` names in its header; None where no
    export of hydratune's is (no file, a file of the user's)."""
    try:
        with Path(target).open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(2048)
    except OSError:
        return None
    lines = head.splitlines()
    found = _EXPORTED_LINE.fullmatch(lines[1]) if _exported(head) else None
    return (found["study"], int(found["trial"])) if found else None


_EXPORTED_LINE = re.compile(
    rf"# Trial #(?P<trial>\d+) of study '(?P<study>.*)', {re.escape(EXPORTED_BY)}"
)


def _check_not_shadowed(hydra: DictConfig, target: Path) -> None:
    """An export's command must run the export: Hydra takes the first ``<group>/<name>.yaml``
    along its search path, and a ``--config-dir`` comes after the app's own config dirs."""
    sources = list(hydra.runtime.get("config_sources", []))
    dirs = [source_dir(source) for source in sources]
    searched = [d.resolve() if d is not None else None for d in dirs]
    providers = [source.get("provider") for source in sources]
    root = target.parent.parent.resolve()
    if root in searched:
        end = searched.index(root)
    else:  # the rerun command adds it as --config-dir, which Hydra puts before "schema"
        end = providers.index("schema") if "schema" in providers else len(sources)
    relative = Path(target.parent.name) / f"{target.stem}.yaml"
    for directory in dirs[:end]:
        if directory is not None and (directory / relative).is_file():
            raise ExportError(
                f"{directory / relative} would be run instead of {target} (Hydra searches "
                f"{directory} first); nothing was written. Export under another name "
                "(hydratune export --to PATH) or remove that file"
            )


def _check_one_config_dir(hydra: DictConfig, target: Path) -> None:
    """The rerun command's ``--config-dir`` is the export's: Hydra takes one, so a sweep that
    needed its own (``hydratune --config-dir conf``) can be exported only into that one."""
    told = [d for d in config_dirs(hydra) if d not in config_dirs(hydra, told=False)]
    root = target.parent.parent.resolve()
    if told and all(d.resolve() != root for d in told):
        inside = told[0] / target.parent.name / target.name
        raise ExportError(
            f"{target} would need --config-dir {target.parent.parent} besides the sweep's own "
            f"--config-dir {told[0]}, and Hydra takes one; export into the sweep's "
            f"(hydratune export --to {inside})"
        )


def rerun_command(arguments: Sequence[str], app: str = "hydratune") -> str:
    """The command line that runs a saved config again: ``app`` with ``arguments``, each quoted
    for a POSIX shell (a sweep dir may hold spaces). Every rerun command hydratune prints or
    writes is built here: the exported experiment's header, ``optimization_results.yaml``."""
    return " ".join([app, *(shlex.quote(str(a)) for a in arguments)])


def running_app() -> str:
    """How this process's app was started, as a command: ``python train.py`` for a script,
    ``python -m pkg`` for a package's ``__main__``, else the console script; ``hydratune``
    when nothing in ``sys.argv`` says (``python -c``, an embedding program)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is None or program.name.startswith("-"):
        return "hydratune"
    if program.name == "__main__.py":
        return f"python -m {program.parent.name}"
    return f"python {shlex.quote(str(program))}" if program.suffix == ".py" else program.name


def check_target(target: Path) -> None:
    """``ExportError`` unless ``target`` is a file Hydra can select: ``<group>/<name>.yaml``,
    whose ``<group>=<name>`` Hydra's override grammar reads back as that group and name."""
    if target.suffix != ".yaml" or target.stem in ("", ".") or target.parent.name in ("", ".."):
        raise ExportError(
            f"{target} is not a config Hydra can select: write the experiment as "
            "<config dir>/<group>/<name>.yaml (conf/experiment/best.yaml runs as experiment=best)"
        )
    selection = f"{target.parent.name}={target.stem}"
    misread = _misread(target.parent.name, target.stem)
    if misread is not None:
        raise ExportError(
            f"{target} cannot be selected on Hydra's command line: {selection} {misread}. "
            "Name the folder and file with letters, digits, _ and - (conf/experiment/best_v2.yaml "
            "runs as experiment=best_v2)"
        )


def _misread(group: str, name: str) -> str | None:
    """How Hydra's override grammar misreads ``group=name`` (None: as that group and name)."""
    try:
        override = OverridesParser.create().parse_override(f"{group}={name}")
    except HydraException:
        return "does not parse"
    if override.is_sweep_override():
        return "is a sweep"
    if override.key_or_group != group or override.package is not None:
        return f"selects group '{override.key_or_group}'"
    value = override.value()
    if not isinstance(value, str) or value != name:
        return f"gives the value {value!r}"
    if "${" in name:  # Hydra resolves a choice's interpolation before it loads the config
        return "is an interpolation"
    return None


def experiment_command(target: Path) -> str:
    """The command that runs an exported experiment, as its header says."""
    for line in Path(target).read_text(encoding="utf-8").splitlines():
        for start in (RERUN_LINE, FROM_SCRATCH_LINE):
            if line.startswith(start):
                return line[len(start) :]
    return f"hydratune {target.parent.name}={target.stem}"


def _searched_by(hydra: DictConfig, config_dir: Path) -> bool:
    """Whether the app that ran the trial finds configs in ``config_dir`` without being told
    (a ``--config-dir`` the trial's command line gave must be given again)."""
    wanted = Path(config_dir).resolve()
    return any(d.resolve() == wanted for d in config_dirs(hydra, told=False))


def _relative_to(path: Path, cwd: Path) -> Path:
    """``path`` relative to where the sweep ran (``conf``) when it lies below it: the command
    stays short and runs in a copy of the project; else absolute."""
    try:
        return path.resolve().relative_to(cwd.resolve())
    except ValueError:
        return path.resolve()


def in_installed_package(path: Path) -> bool:
    """Whether ``path`` is inside hydratune's own package or a site-packages directory."""
    import hydratune

    resolved = Path(path).resolve()
    package = Path(hydratune.__file__).resolve().parent
    conf = (package / "conf").resolve()  # a link to the repository's conf/ in a checkout
    inside = any(resolved == p or p in resolved.parents for p in (package, conf))
    return inside or bool({"site-packages", "dist-packages"} & set(resolved.parts))


def rerun_config(trial: FrozenTrial, sweep_dir: Path) -> tuple[Path, DictConfig, DictConfig | None]:
    """What reruns ``trial``: its job dir, its saved ``.hydra/config.yaml`` (a scheduled run's
    as its configuration trained from scratch: ``schedule.from_scratch``) and the job's
    ``hydra`` node (None if not saved). The best config, the export and ``rerun`` all take it."""
    move = moved_from(Path(sweep_dir))
    trial_dir = trial_dir_of(trial, Path(sweep_dir), move)
    config = read_config(trial_dir / HYDRA_DIR / "config.yaml")
    hydra_path = trial_dir / HYDRA_DIR / "hydra.yaml"
    hydra = hydra_node(hydra_path, move) if hydra_path.is_file() else None
    return trial_dir, from_scratch(config, hydra, Path(sweep_dir)), hydra


def read_config(path: Path) -> DictConfig:
    """The mapping saved as YAML at ``path``; ``ExportError`` naming the file and what is wrong
    with it, on one line, when it cannot be read (cut short by a kill, saved in another
    encoding, not a mapping): the commands that read it say so instead of a traceback."""
    try:
        config = OmegaConf.load(path)
    except UnicodeDecodeError as error:
        raise ExportError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    except yaml.MarkedYAMLError as error:
        where = f" at line {error.problem_mark.line + 1}" if error.problem_mark else ""
        raise ExportError(f"{path} is not valid YAML: {error.problem}{where}") from None
    except (yaml.YAMLError, OmegaConfBaseException) as error:
        raise ExportError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    except OSError as error:
        raise ExportError(f"cannot read {os_reason(error)}") from None
    if not isinstance(config, DictConfig):
        raise ExportError(f"{path} holds a {type(config).__name__}, not a mapping of keys")
    return config


def hydra_node(path: Path, move: Move | None = None) -> DictConfig:
    """The ``hydra`` node of a job's saved ``.hydra/hydra.yaml`` (``read_config``'s errors;
    one without ``hydra.runtime``, which says how the job was composed, is one too), its
    directories where they are now if the project has moved since (``move``)."""
    hydra = read_config(path).get("hydra")
    if not isinstance(hydra, DictConfig) or not isinstance(hydra.get("runtime"), DictConfig):
        raise ExportError(f"{path} has no hydra.runtime: it is not a job's saved hydra.yaml")
    if move is not None:
        runtime = hydra.runtime
        for key in ("cwd", "output_dir"):
            if runtime.get(key):
                runtime[key] = str(move.now(runtime[key]))
        for source in runtime.get("config_sources", []):
            if source.get("schema") == "file" and source.get("path"):
                source.path = str(move.now(source.path))
    return hydra


@dataclass(frozen=True)
class Move:
    """A project copied or moved since its trials ran (``cp -a project copy``): the paths a
    trial recorded under ``old`` are under ``new`` now."""

    old: Path
    new: Path

    def now(self, recorded: str | Path) -> Path:
        path = Path(recorded)
        return self.new / path.relative_to(self.old) if path.is_relative_to(self.old) else path


def moved_from(sweep_dir: Path) -> Move | None:
    """How the project holding ``sweep_dir`` moved since its trials ran, read from one of its
    trial dirs: where it is against where its ``hydra.yaml`` says it ran (what the two paths
    share at their end is the part inside the project). None when it has not moved."""
    hydra_file = next(Path(sweep_dir).glob(f"*/{HYDRA_DIR}/hydra.yaml"), None)
    if hydra_file is None:
        return None
    try:
        recorded = hydra_node(hydra_file).runtime.get("output_dir")
    except ExportError:
        return None
    old, new = Path(str(recorded or "")), hydra_file.parent.parent.resolve()
    if not old.is_absolute() or old == new:
        return None
    while old.name == new.name and old.parent != old and new.parent != new:
        old, new = old.parent, new.parent
    return Move(old, new)


def trial_dir_of(trial: FrozenTrial, sweep_dir: Path, move: Move | None) -> Path:
    """The trial's job directory: its ``output_dir`` attribute (where it is now when the
    project was copied or moved since: ``move``, ``moved_from(sweep_dir)``), else
    ``<sweep dir>/<number>``. A copy never reads the original's."""
    recorded = trial.user_attrs.get(OUTPUT_DIR)
    candidates = [
        move.now(recorded) if move and recorded else recorded,
        Path(sweep_dir) / str(trial.number),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / HYDRA_DIR / "config.yaml").is_file():
            return Path(candidate)
    raise ExportError(
        f"trial #{trial.number}: no saved config; looked for .hydra/config.yaml in "
        f"{', '.join(str(c) for c in candidates if c)}"
    )


def _chosen_trial(study: optuna.Study, trial: FrozenTrial | int | None) -> FrozenTrial:
    if isinstance(trial, FrozenTrial):
        return trial
    if isinstance(trial, int):
        found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
        if not found or found[0].state != TrialState.COMPLETE:
            raise ExportError(f"study '{study.study_name}' has no complete trial #{trial}")
        reason = failed_by_hand(study).get(trial)
        if reason is not None:  # a person said its value does not count: never a best to rerun
            raise ExportError(
                f"trial #{trial} of study '{study.study_name}' was failed by hand ({reason}); "
                "export another trial"
            )
        return found[0]
    best = best_trials(study)
    if not best:
        by_hand = " that was not failed by hand" if failed_by_hand(study) else ""
        raise ExportError(f"study '{study.study_name}' has no complete trial to export{by_hand}")
    if len(study.directions) > 1:
        front = ", ".join(f"#{t.number}" for t in best)
        raise ExportError(
            f"study '{study.study_name}' has {len(study.directions)} objectives and no single "
            f"best trial; choose one of the Pareto front: {front}"
        )
    return best[0]


def _header(
    study: optuna.Study, trial: FrozenTrial, cwd: Path, command: str, note: str | None
) -> str:
    values = ", ".join(f"{v:.6g}" for v in trial.values)
    commit = git_commit(cwd)
    lines = [
        "# @package _global_",
        f"# Trial #{trial.number} of study '{study.study_name}', {EXPORTED_BY}",
        f"{RERUN_LINE if note is None else FROM_SCRATCH_LINE}{command}",
        *([f"# {note}"] if note else []),
        f"# study: {study.study_name}   trial: #{trial.number}   value: {values}",
        f"# overrides: {' '.join(trial.user_attrs.get(OVERRIDES) or [])}",
        f"# finished: {_when(trial.datetime_complete)}   exported: {_when(dt.datetime.now())}",
    ]
    if commit:
        lines.append(f"# git commit: {commit}")
    return "\n".join(lines) + "\n"


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "?"


def _body(overrides: list[dict[str, str | None]], values: DictConfig | dict[str, Any]) -> str:
    defaults = yaml.safe_dump({"defaults": [*overrides, "_self_"]}, sort_keys=False)
    return defaults + ("\n" + OmegaConf.to_yaml(values) if values else "")


def git_commit(directory: Path) -> str | None:
    """The commit checked out in ``directory`` (``git rev-parse HEAD``), or None."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None
