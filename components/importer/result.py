"""What an import produces, whatever its source: models, one service, the service's stack
settings, and a report saying where each source field went (or why it was dropped).

Values are already in modelstack's key space (`cpu_cores`, `entry_script`...), except paths,
which are still as the source wrote them, with the folder they are relative to (`SourcePath`):
`placing` turns them into project-relative paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.errors import ConfigError


@dataclass(frozen=True)
class SourcePath:
    """A path as a source file wrote it, and the folder it is relative to."""

    value: str
    base: Path
    field: str  # the source field it came from, for errors

    def resolved(self) -> Path:
        return (self.base / self.value).resolve() if not Path(self.value).is_absolute() else Path(self.value).resolve()


@dataclass
class Finding:
    """One source field: where it went in modelstack's config, or why it was dropped."""

    source: str  # e.g. "deploymentconfig.json: autoScaler.minReplicas"
    went: str | None  # a modelstack key, or None when dropped
    note: str = ""
    at: int | None = None  # the field's line in its file, when it came from one
    origin: str = ""  # for a value the import changed after reading it: the source field it came from

    def line(self) -> str:
        where = f" [line {self.at}]" if self.at is not None else ""
        where += f" [from {self.origin}]" if self.origin else ""
        if self.went is None:
            return f"{self.source}: dropped ({self.note}){where}"
        return f"{self.source} -> {self.went}" + (f" ({self.note})" if self.note else "") + where


@dataclass
class ImportedModel:
    name: str
    path: SourcePath | None  # None: the source names the model but not its files
    values: dict[str, Any] = field(default_factory=dict)  # framework, tags, description...
    origin: str = ""  # the source field naming it


@dataclass
class Imported:
    """One service and what it serves, as read from the sources."""

    service: str | None = None
    service_field: str = ""  # where the name came from
    models: list[ImportedModel] = field(default_factory=list)
    served: list[str] = field(default_factory=list)  # model names the service serves
    entry_script: SourcePath | None = None
    source_directory: SourcePath | None = None
    environment: dict[str, Any] = field(default_factory=dict)  # values may be SourcePaths
    shared: dict[str, Any] = field(default_factory=dict)  # description, tags
    target: str | None = None
    platform: str | None = None  # v2: "managed" or "kubernetes" (decides nothing alone: the stack's clusters do)
    compute: str | None = None
    compute_field: str = ""
    deploy: dict[str, Any] = field(default_factory=dict)  # values may be SourcePaths
    versions: list[dict[str, Any]] = field(default_factory=list)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    registry: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # "file: field" -> its line, for the report

    def went(self, source: str, key: str, note: str = "") -> None:
        self.findings.append(Finding(source, key, note))

    def dropped(self, source: str, why: str) -> None:
        self.findings.append(Finding(source, None, why))


def refused(source: str, problem: str, *, rule: str, fix: str) -> ConfigError:
    """The error for a source field modelstack cannot take as it is."""
    return ConfigError(problem, key=source, rule=rule, fix=fix)


IMPORT_RULE = "modelstack import maps every field of the source to a modelstack key, or refuses it by name"
