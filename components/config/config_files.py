"""The files a stack's configuration names inside the project (requirements, conda and steps
files, PEM certificates and keys): the one check that such a file is inside the project, exists,
and reads within the bounds of `components.config.reading`, and the one way the program reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from components.config import reading
from components.config.paths import path_error, resolve_path
from components.errors import ConfigError


def file_errors(
    project_dir: str | Path,
    relative: str | None,
    key: str,
    what: str,
    content_errors: Callable[[str, str], list[ConfigError]] | None = None,
) -> list[ConfigError]:
    """The problems of the file a key names (none when unset): outside the project, missing, not a
    small UTF-8 regular file, or (with `content_errors`) what its text breaks."""
    if relative is None:
        return []
    outside = path_error(project_dir, relative, key)
    if outside:
        return [outside]
    path = resolve_path(project_dir, relative)
    if not path.exists():
        return [
            ConfigError(
                f"{what} '{relative}' does not exist",
                key=key,
                rule=f"the {what} is a file inside the project (paths are relative to Pulumi.yaml's folder)",
                fix=f"create {relative}, or correct the path",
            )
        ]
    try:
        text = reading.read_config_file(path, key=key, what=f"the {what}")
    except ConfigError as error:
        return [error]
    return content_errors(text, key) if content_errors else []


def read_project_file(project_dir: str | Path, relative: str, key: str, what: str) -> str:
    """The text of a file the config names (its rules have passed), read within bounds."""
    return reading.read_config_file(Path(project_dir) / relative, key=key, what=f"the {what}")
