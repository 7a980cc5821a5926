"""Where `modelstack package --out DIR` may write: decided before anything is written.

Refused: the project folder and its parents (the context would be written over the project),
a folder inside what the image is built from (the service's source_directory or a model folder:
the next image would carry its own build context), a path that is a file, a path that cannot be
written, and a folder that already holds files, unless `--force` (then files of the same names
are replaced; links found there are replaced too, never written through).
"""

from __future__ import annotations

import os
from pathlib import Path

from components.errors import ModelstackError

RULE = "--out names a new or empty folder outside the project folder's ancestry (docs/commands.md: modelstack package)"


def out_dir_error(out: Path, project_dir: Path, *, force: bool) -> ModelstackError | None:
    """None when the build context may be written to `out`; else the error to print (exit 2)."""
    try:
        target = out.resolve()
    except (RuntimeError, OSError):
        return ModelstackError(f"{out} is a symlink loop", key="--out", rule=RULE, fix="name another folder")
    project = project_dir.resolve()
    if target == project or target in project.parents:
        what = "the project folder" if target == project else "a parent of the project folder"
        return ModelstackError(
            f"{out} is {what}", key="--out", rule=RULE, fix="name a folder of its own, e.g. --out build/<service>"
        )
    if target.exists() and not target.is_dir():
        return ModelstackError(
            f"{out} is a file, not a folder", key="--out", rule=RULE, fix="name a folder, or remove the file"
        )
    if target.is_dir() and not force and any(target.iterdir()):
        return ModelstackError(
            f"{out} is not empty", key="--out", rule=RULE, fix="name an empty folder, or add --force to write over it"
        )
    existing = next((p for p in (target, *target.parents) if p.exists()), Path("/"))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return ModelstackError(
            f"{out} cannot be written ({existing} is not a writable folder)",
            key="--out",
            rule=RULE,
            fix="name a folder you can write to",
        )
    return None


def write_failed(out: Path, exc: OSError) -> ModelstackError:
    """Writing failed anyway (a read-only file system, a full disk): said, not a traceback."""
    return ModelstackError(
        f"cannot write to {out}: {exc.strerror or exc}",
        key="--out",
        rule=RULE,
        fix="name a folder you can write to, with room for the context",
    )


def out_inside_inputs_error(out: Path, inputs: dict[str, Path]) -> ModelstackError | None:
    """None unless `out` is one of the folders the image is built from (by config key), or
    inside one."""
    try:
        target = out.resolve()
    except (RuntimeError, OSError):
        return None  # out_dir_error has said so
    for key, folder in inputs.items():
        if folder.is_dir() and (target == folder or folder in target.parents):
            return ModelstackError(
                f"{out} is inside {folder.name}, which {key} copies into the image",
                key="--out",
                rule=f"{RULE}; not inside the service's source_directory or models (the next image would carry its own build context)",
                fix="name a folder outside them, e.g. --out build/<service> in the project folder",
            )
    return None
