"""Writing an import: the YAML edits (ruamel.yaml's round trip keeps the files' comments, order
and quoting), the unified diff `--dry-run` prints, and the all-or-nothing write.

The write: every new file and every copy goes to a temporary file beside its destination first;
only when all of them are written are they renamed into place. If a rename fails, the files
already renamed get their old text back and the copies are removed, so a failed import leaves
the project byte-identical.
"""

from __future__ import annotations

import difflib
import errno
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from components.config.schema import NAMESPACE
from components.errors import ConfigError
from components.importer import copying


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load(text: str) -> CommentedMap:
    loaded = _yaml().load(text) if text.strip() else None
    return loaded if isinstance(loaded, CommentedMap) else CommentedMap()


def dump(document: CommentedMap) -> str:
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    """Dicts and lists as ruamel's own types (short lists of scalars in flow style, as people write them)."""
    if isinstance(value, dict):
        mapping = CommentedMap()
        for key, item in value.items():
            mapping[key] = _plain(item)
        return mapping
    if isinstance(value, list):
        sequence = CommentedSeq(_plain(v) for v in value)
        if all(not isinstance(v, (dict, list)) for v in value):
            sequence.fa.set_flow_style()
        return sequence
    return value


def _section(parent: CommentedMap, key: str) -> CommentedMap:
    if not isinstance(parent.get(key), CommentedMap):
        parent[key] = CommentedMap()
    return parent[key]


def existing_names(document: CommentedMap, key: str, *, shared: bool) -> set[str]:
    config = document.get("config")
    if not isinstance(config, dict):
        return set()
    section = config.get(f"{NAMESPACE}:{key}")
    if shared and isinstance(section, dict) and "value" in section:
        section = section["value"]
    return set(section) if isinstance(section, dict) else set()


def add_shared(document: CommentedMap, key: str, entries: dict[str, dict]) -> None:
    """Entries under `config: modelstack:<key>: value:` of Pulumi.yaml (replacing one of the same name)."""
    config = _section(document, "config")
    declaration = _section(config, f"{NAMESPACE}:{key}")
    values = _section(declaration, "value")
    for name, entry in entries.items():
        values[name] = _plain(entry)


def add_stack(document: CommentedMap, key: str, entries: dict[str, Any], *, replace: bool = True) -> None:
    """Entries under `config: modelstack:<key>:` of a stack file; a scalar key is set as a whole."""
    config = _section(document, "config")
    if not isinstance(entries, dict) or key == "registry":
        config[f"{NAMESPACE}:{key}"] = _plain(entries)
        return
    section = _section(config, f"{NAMESPACE}:{key}")
    for name, entry in entries.items():
        if replace or name not in section:
            section[name] = _plain(entry)


def diff(old: str, new: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"a/{name}", tofile=f"b/{name}"
        )
    )


def _temporary_beside(destination: Path) -> Path:
    handle, name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".import")
    os.close(handle)
    return Path(name)


def _write_error(exc: OSError) -> ConfigError:
    where = f" ({exc.filename})" if exc.filename else ""
    if isinstance(exc, FileNotFoundError):
        return ConfigError(
            f"could not write the import: {exc.strerror or exc}{where}",
            rule="an import writes all its files or none, into folders of the project that exist",
            fix="create the missing folder of the project (stacks/ holds the stack files), then import again",
        )
    return ConfigError(
        f"could not write the import: {exc.strerror or exc}{where}",
        rule="an import writes all its files or none",
        fix="check the project folder's permissions and free space, then import again",
    )


def write_all(files: dict[Path, tuple[str | None, str]], copies: list[tuple[Path, Path]]) -> None:
    """files: path -> (old text or None for a new file, new text); copies: (source, destination).

    Whatever fails or is interrupted (a refused link found while copying, a full disk, Ctrl-C),
    what was begun is removed before the error goes up."""
    staged: list[tuple[Path, Path]] = []
    made_folders: list[Path] = []
    budget = copying.Budget()
    try:
        for source, destination in copies:
            for folder in reversed([destination.parent, *destination.parent.parents]):
                if not folder.exists():
                    folder.mkdir()
                    made_folders.append(folder)
            temporary = destination.with_name(f".{destination.name}.import")
            if temporary.exists() or temporary.is_symlink():
                raise FileExistsError(errno.EEXIST, "a file is in the way", str(temporary))
            staged.append((temporary, destination))  # removed on failure, however far the copy got
            copying.copy(source, temporary, "--copy-outside", budget)
        for path, (_, text) in files.items():
            temporary = _temporary_beside(path)
            staged.append((temporary, path))
            temporary.write_text(text, encoding="utf-8")
            if path.exists():
                shutil.copymode(path, temporary)
    except OSError as exc:
        _discard([t for t, _ in staged], made_folders)
        raise _write_error(exc) from None
    except BaseException:
        _discard([t for t, _ in staged], made_folders)
        raise
    done: list[Path] = []
    try:
        for temporary, destination in staged:
            os.replace(temporary, destination)
            done.append(destination)
    except BaseException as exc:
        for destination in done:  # put back what was there
            old = files.get(destination, (None, ""))[0] if destination in files else None
            if old is None:
                _remove(destination)
            else:
                destination.write_text(old, encoding="utf-8")
        _discard([t for t, d in staged if d not in done], made_folders)
        if isinstance(exc, OSError):
            raise _write_error(exc) from None
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _discard(paths: list[Path], folders: list[Path]) -> None:
    for path in paths:
        _remove(path)
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            pass


def remove_copies(copies: list[tuple[Path, Path]], project_dir: Path) -> None:
    """Undo copies made by write_all: the files, and the folders left empty up to the project."""
    project = project_dir.resolve()
    for _, destination in copies:
        _remove(destination)
        for folder in destination.parents:
            if folder == project or project not in folder.parents:
                break
            try:
                folder.rmdir()
            except OSError:
                break
