"""Where a path of the config points: the one home of "a config path resolves inside the project".

Paths in the config are relative to the project folder (where Pulumi.yaml is). Each one must
resolve, symlinks followed, to somewhere inside the project (or inside another folder of the
config, as entry_script inside source_directory): `/`, `../..` or a link to /etc are refused,
and so is a symlink loop. Nothing is read here but the file system's metadata.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from components.config.reading import UnreadableFileError, path_value_error
from components.errors import ConfigError

PATH_RULE = (
    "paths in the config are relative to Pulumi.yaml's folder and resolve (symlinks followed) inside the project"
)


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
    impossible = path_value_error(relative, key)
    if impossible is not None:
        return impossible
    root = Path(root).resolve()
    resolved = _resolve(root, relative)
    if resolved is None:
        return ConfigError(
            f"'{relative}' is a symlink loop",
            key=key,
            rule=PATH_RULE,
            fix="point the link at a real file or folder, or correct the path",
        )
    if root not in resolved.parents:
        where = "the folder itself" if resolved == root else str(resolved)
        return ConfigError(
            f"'{relative}' resolves to {where}, not to something inside {inside}",
            key=key,
            rule=PATH_RULE if inside == "the project" else f"the path is relative to {inside} and stays inside it",
            fix=f"name a file or folder inside {inside} by its relative path (move it there first)",
        )
    return None


FOLDER_LINK_RULE = (
    "a link inside a folder that is copied into the image (a model, source_directory) names a file inside the project"
)
FOLDER_ENTRY_RULE = "a folder that is copied into the image (a model, source_directory) holds only folders, regular files and links to files"
SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a fifo"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def special_kind(path: Path) -> str | None:
    """ "a fifo", "a socket" or "a device" for such an entry (a link is looked at, not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return next((kind for test, kind in SPECIAL_KINDS if test(mode)), None)


def folder_link_error(project_dir: str | Path, folder: Path, key: str) -> ConfigError | None:
    """None when every entry below `folder` is a folder, a regular file or a link to a file
    inside the project.

    Everything below a model folder or source_directory is copied into the image, links followed:
    a link to /etc/passwd or ~/.ssh would ship that file, a broken link or a loop would fail the
    build with a traceback, and a link to a folder would be skipped silently by the copy. A fifo
    would block the copy (and the hash of the folder) forever, a socket or device cannot be
    copied. Each of these is refused here, naming the entry.
    """
    project = Path(project_dir).resolve()
    if not folder.is_dir():
        return None
    for parent, dirs, names in os.walk(folder):
        dirs[:] = sorted(dirs)
        for name in dirs + sorted(names):
            link = Path(parent) / name
            shown = link.relative_to(folder.parent) if folder.parent in link.parents else link
            kind = special_kind(link)
            if kind is not None:
                return UnreadableFileError(
                    f"'{shown}' is {kind}",
                    key=key,
                    rule=FOLDER_ENTRY_RULE,
                    fix="remove it from the folder (or move the folder's files to one of their own)",
                )
            if not link.is_symlink():
                continue
            target = _resolve(link.parent, name)
            problem = None
            if target is None:
                problem = "is a symlink loop"
            elif not target.exists():
                problem = f"is a broken link (to {os.readlink(link)})"
            elif project not in target.parents:
                problem = f"links to {target}, outside the project"
            elif special_kind(target) is not None:
                problem = f"links to {special_kind(target)}"
            elif target.is_dir():
                problem = "links to a folder (the copy into the image does not follow folder links)"
            if problem:
                return UnreadableFileError(
                    f"'{shown}' {problem}",
                    key=key,
                    rule=FOLDER_LINK_RULE,
                    fix="copy the file into the folder instead of linking it, or remove the link",
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
