"""Where a path of the config points: the one home of "a config path resolves inside the project".

Paths in the config are relative to the project folder (where Pulumi.yaml is). Each one must
resolve, symlinks followed, to somewhere inside the project (or inside another folder of the
config, as entry_script inside source_directory): `/`, `../..` or a link to /etc are refused,
and so is a symlink loop. Nothing is read here but the file system's metadata.
"""

from __future__ import annotations

import os
from pathlib import Path

from components.errors import ConfigError

PATH_RULE = "paths in the config are relative to Pulumi.yaml's folder and resolve (symlinks followed) inside the project"


def resolve_path(project_dir: str | Path, relative: str) -> Path:
    """The path a config value names, symlinks followed; callers ask `path_error` first."""
    return (Path(project_dir) / relative).resolve()


def _resolve(root: Path, relative: str) -> Path | None:
    """`relative` under `root`, symlinks followed; None for a symlink loop."""
    try:
        return (root / relative).resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError for a loop, later ones OSError
        return None


def path_error(root: str | Path, relative: str, key: str, *, inside: str = "the project") -> ConfigError | None:
    """None when `relative` resolves inside `root`; else the error naming the key, rule and fix."""
    root = Path(root).resolve()
    resolved = _resolve(root, relative)
    if resolved is None:
        return ConfigError(f"'{relative}' is a symlink loop", key=key, rule=PATH_RULE, fix="point the link at a real file or folder, or correct the path")
    if root not in resolved.parents:
        where = "the folder itself" if resolved == root else str(resolved)
        return ConfigError(
            f"'{relative}' resolves to {where}, not to something inside {inside}",
            key=key,
            rule=PATH_RULE if inside == "the project" else f"the path is relative to {inside} and stays inside it",
            fix=f"name a file or folder inside {inside} by its relative path (move it there first)",
        )
    return None


def has_content(path: Path) -> bool:
    """A non-empty file, or a folder holding one somewhere below it (stops at the first)."""
    if path.is_file():
        return path.stat().st_size > 0
    for folder, _, names in os.walk(path):
        for name in names:
            file = Path(folder) / name
            try:
                if file.is_file() and file.stat().st_size > 0:
                    return True
            except OSError:
                continue
    return False
