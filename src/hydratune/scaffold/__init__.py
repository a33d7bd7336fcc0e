"""``hydratune init DIR``: a minimal project of one's own that trains and sweeps at once.

It shows the bring-your-own-model path: a plain LightningModule and DataModule in the user's
package, their YAML in the user's ``conf/``, found through ``--config-dir conf`` with all of
hydratune's groups (trainer, callbacks, optimizers, sweeps) still available. The project is
the real files under ``project/`` beside this module, copied as they are.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from hydratune.exports import exports

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
    """Write the example project into ``dest``; refuses to overwrite existing files."""
    sources = project_files()
    targets = [dest / name for name in sources]
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise FileExistsError(f"hydratune init would overwrite {', '.join(existing)}")
    for target, source in zip(targets, sources.values(), strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    return targets
