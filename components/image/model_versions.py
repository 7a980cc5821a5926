"""Model versions derived from content, and where models land inside an image.

Azure ML numbered registrations 1, 2, 3...; a number that depends on how often someone ran
`register` cannot be promoted from stack to stack. Here a version is a hash of the model's
files (names and bytes), so the same model has the same version on every machine and a
second `up` with nothing changed registers nothing new.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

VERSION_LENGTH = 12
# Where the scoring server's app lives inside our images, as in Azure ML's images.
APP_ROOT = "/var/azureml-app"
MODELS_ROOT = f"{APP_ROOT}/azureml-models"

_file_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file, remembered per (path, mtime, size) so repeated plans stay cheap."""
    stat = path.stat()
    memo_key = (str(path), stat.st_mtime_ns, stat.st_size)
    digest = _file_digests.get(memo_key)
    if digest is None:
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
        digest = _file_digests[memo_key] = hasher.hexdigest()
    return digest


def tree_files(path: Path) -> list[Path]:
    """The files of a file-or-folder, in a stable order; dotfiles and caches are skipped."""
    if path.is_file():
        return [path]
    files = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        files += [Path(folder) / n for n in sorted(names) if not n.startswith(".") and not n.endswith(".pyc")]
    return files


def tree_digest(path: Path) -> str:
    """sha256 over each file's path (relative to `path`) and content digest."""
    hasher = hashlib.sha256()
    root = path if path.is_dir() else path.parent
    for file in tree_files(path):
        hasher.update(file.relative_to(root).as_posix().encode() + b"\0" + file_digest(file).encode() + b"\n")
    return hasher.hexdigest()


def model_version(path: Path) -> str:
    """The version of the model stored at `path` (a file or a folder)."""
    return tree_digest(path)[:VERSION_LENGTH]


@dataclass(frozen=True)
class PlacedModel:
    """A model as it sits in an image: AZUREML_MODEL_DIR/<name>/<version>/<original name>."""

    name: str
    version: str
    source: Path

    @property
    def folder(self) -> str:
        """Folder inside the image (and inside the build context, under models/)."""
        return f"{self.name}/{self.version}"


def place_models(models: dict[str, Path]) -> list[PlacedModel]:
    """Versions for each served model, sorted by name for a stable build context."""
    return [PlacedModel(name, model_version(path), path) for name, path in sorted(models.items())]


def azureml_model_dir(placed: list[PlacedModel]) -> str:
    """What AZUREML_MODEL_DIR is set to, as Azure ML sets it.

    One model: the folder that holds that model's files (original names kept).
    Several models: the root, with <name>/<version>/ below it.
    """
    if len(placed) == 1:
        return f"{MODELS_ROOT}/{placed[0].folder}"
    return MODELS_ROOT
