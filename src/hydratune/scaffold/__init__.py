"""``hydratune init DIR``: a minimal project of one's own that trains and sweeps at once.

It shows the bring-your-own-model path: a plain LightningModule and DataModule in the user's
package, their YAML in the user's ``conf/``, found through ``--config-dir conf`` with all of
hydratune's groups (trainer, callbacks, optimizers, sweeps) still available. The project is
the real files under ``project/`` beside this module, copied as they are.
"""

from __future__ import annotations

import contextlib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from hydratune.exports import exports
from hydratune.files import write_atomically

# what other packages use, imported on first use (hydratune/exports.py)
_elsewhere, __getattr__ = exports(__name__, {"migrate": ["VERSIONS", "migrate_file", "write"]})
__all__ = ["create_project", *_elsewhere]

PROJECT = files(__name__) / "project"


def project_files(root: Traversable = PROJECT, prefix: str = "") -> dict[str, Traversable]:
    """The template's files by their path inside the new project (``conf/model/tiny.yaml``)."""
    found: dict[str, Traversable] = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(project_files(entry, f"{name}/"))
        else:
            found[name] = entry
    return found


def create_project(dest: Path) -> list[Path]:
    """Write the example project into ``dest``; refuses to overwrite existing files. A write
    that fails (a full disk) takes back the files and directories it created, so the same
    command can run again."""
    sources = project_files()
    targets = [dest / name for name in sources]
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise FileExistsError(f"hydratune init would overwrite {', '.join(existing)}")
    new_dirs = {d for t in targets for d in t.parents if not d.exists()}
    written: list[Path] = []
    try:
        for target, source in zip(targets, sources.values(), strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, source.read_text())
            written.append(target)
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        for directory in sorted(new_dirs, key=lambda d: -len(d.parts)):  # deepest first
            with contextlib.suppress(OSError):  # empty by now, unless another hand wrote there
                directory.rmdir()
        raise
    return targets
