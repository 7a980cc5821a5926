"""Source paths made project paths: relative to Pulumi.yaml's folder, inside the project.

A source's paths are relative to the folder the source file is in (where `az ml` or the
notebook ran). A path that resolves (symlinks followed) outside the project is refused, unless
the user asked for `--copy-outside`: then it is copied into `azureml-import/<service>/` and the
config names the copy, without following links out of the copied folder (`copying`). Nothing is
copied here: the copies are planned and surveyed, and `writer` makes them with the config files,
all or nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from components.errors import ConfigError
from components.importer import copying
from components.importer.result import SourcePath

COPY_ROOT = "azureml-import"
WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
PLACE_RULE = "paths in modelstack's config are relative to Pulumi.yaml's folder and stay inside the project"


@dataclass
class Placer:
    project: Path
    service: str
    copy_outside: bool
    copies: list[tuple[Path, Path]] = field(default_factory=list)  # (source, destination inside the project)
    budget: copying.Budget = field(default_factory=copying.Budget)  # what the copies may still take

    def place(self, path: SourcePath) -> str:
        """The project-relative path for a source path (a copy's, with --copy-outside)."""
        resolved = self._existing(path)
        project = self.project.resolve()
        if resolved == project or project in resolved.parents:
            return resolved.relative_to(project).as_posix()
        if not self.copy_outside:
            raise ConfigError(
                f"'{path.value}' resolves to {resolved}, outside the project {project}",
                key=path.field,
                rule=PLACE_RULE,
                fix=f"move it into the project and correct the path, or pass --copy-outside to copy it into {COPY_ROOT}/{self.service}/",
            )
        destination = project / COPY_ROOT / self.service / resolved.name
        for source, planned in self.copies:
            if source == resolved:
                return planned.relative_to(project).as_posix()
        if destination.exists() or any(planned == destination for _, planned in self.copies):
            raise ConfigError(
                f"{destination.relative_to(project)} already exists",
                key=path.field,
                rule="--copy-outside never overwrites a file of the project",
                fix=f"remove {destination.relative_to(project)}, or move the file into the project yourself",
            )
        copying.survey(resolved, path.field, self.budget)  # links out, loops, fifos, limits: refused now
        self.copies.append((resolved, destination))
        return destination.relative_to(project).as_posix()

    def place_inside(self, path: SourcePath, folder: SourcePath, folder_placed: str) -> str:
        """A path that must lie inside `folder` (entry_script inside source_directory), relative to it."""
        resolved = self._existing(path)
        root = folder.resolved()
        if root not in resolved.parents:
            raise ConfigError(
                f"'{path.value}' resolves to {resolved}, not inside the source directory {root}",
                key=path.field,
                rule="the entry script lies inside the source directory (it is copied into the image with it)",
                fix="move the script into the source directory, or correct the path",
            )
        return resolved.relative_to(root).as_posix()

    def _existing(self, path: SourcePath) -> Path:
        if WINDOWS_PATH.match(path.value) or "\\" in path.value:
            raise ConfigError(
                f"'{path.value}' is a Windows path",
                key=path.field,
                rule=PLACE_RULE,
                fix="copy the files into the project and write the path relative to the source file, with '/'",
            )
        try:
            resolved = path.resolved()
        except (OSError, RuntimeError):
            raise ConfigError(
                f"'{path.value}' is a symlink loop",
                key=path.field,
                rule=PLACE_RULE,
                fix="point the link at a real file",
            ) from None
        if not resolved.exists():
            raise ConfigError(
                f"'{path.value}' does not exist (looked for {resolved})",
                key=path.field,
                rule="the files a source names are read from this machine, relative to the source file's folder",
                fix=f"correct the path, or put the file at {resolved}",
            )
        return resolved
