"""A stack's checkpoint in the local file backend, looked at before the engine reads it.

The engine reads `.pulumi/stacks/<project>/<stack>.json` whole, whatever it is: a fifo blocks it,
`/dev/zero` or a file of gigabytes takes its memory, and a file it cannot read fails the command
with the engine's raw error. Every command that reaches a stack (`drift`, `promote`, `token`,
`logs`) calls `check_checkpoint` first, through `components.commands.engine.select_stack`: the
file is read within the bounds of `components.config.reading` (a regular file of at most
`MAX_CHECKPOINT_BYTES`, UTF-8 JSON at most `MAX_CHECKPOINT_DEPTH` deep, not a link out of the
backend's folder) and its shape checked as far as the engine's own reading goes (a checkpoint of a
version the engine reads, its resources a list of objects). A stack with no checkpoint yet is left
to the engine, which says the stack does not exist. Other backends bound what they hand over
themselves (components/state/backend.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from components.config import reading
from components.errors import ModelstackError

MAX_CHECKPOINT_BYTES = reading.MAX_DOCUMENT_BYTES
MAX_CHECKPOINT_DEPTH = 256  # a Kubernetes object's outputs nest a few dozen levels; the engine's own JSON has no limit
# The checkpoint versions the pinned engine reads (it refuses 5 and above: "unsupported checkpoint version").
VERSIONS = range(1, 5)
RULE = (
    "a stack's state in a file backend is its checkpoint .pulumi/stacks/<project>/<stack>.json: a regular file "
    f"(no fifo, device or link out of the backend's folder) of at most {MAX_CHECKPOINT_BYTES:,} bytes, "
    f"UTF-8 JSON nested at most {MAX_CHECKPOINT_DEPTH} levels, of checkpoint version 1-{VERSIONS[-1]}"
)


def file_backend_root(url: str, environ: Mapping[str, str]) -> Path | None:
    """The folder of a file:// backend URL, None for another kind of backend."""
    if not url.startswith("file://"):
        return None
    path = unquote(url[len("file://") :]).split("?", 1)[0]
    if path.startswith("~"):
        path = str(Path(environ.get("HOME") or "~").expanduser()) + path[1:]
    return Path(path) if path.startswith("/") else None


def project_name(project_dir: Path) -> str | None:
    """Pulumi.yaml's `name:` under the project's one rule (components.config.load.project_name);
    None when it has no usable one (loading the config names that error)."""
    from components.config.load import project_name as checked_name

    try:
        return checked_name(project_dir)
    except (OSError, ModelstackError):
        return None


def checkpoint_paths(root: Path, project: str | None, stack: str) -> list[Path]:
    """Where the engine keeps the stack's checkpoint: the project-scoped layout, and the legacy one."""
    folders = [root / ".pulumi" / "stacks" / project] if project else []
    folders.append(root / ".pulumi" / "stacks")
    return [folder / f"{stack}{suffix}" for folder in folders for suffix in (".json", ".json.gz")]


def _error(stack: str, path: Path, detail: str) -> ModelstackError:
    backup = path.with_name(path.name + ".bak") if not path.name.endswith(".gz") else None
    restore = f"restore it from the engine's backup {backup.name} beside it if that one is sound, or " if backup else ""
    return ModelstackError(
        f"the state of stack {stack} cannot be read: {detail}",
        key=str(path),
        rule=RULE,
        fix=f"{restore}put back the stack's last good state (`pulumi stack import --stack {stack} --file GOOD.json`)",
    )


def check_checkpoint(project_dir: Path, stack: str, backend_url: str, environ: Mapping[str, str]) -> None:
    """Raise a ModelstackError naming the file, the rule and the fix for a checkpoint the engine
    must not be handed; return for a sound one, a missing one, or a backend other than file://."""
    root = file_backend_root(backend_url, environ)
    if root is None or "/" in stack or stack in (".", "..") or not stack:
        return
    for path in checkpoint_paths(root, project_name(project_dir), stack):
        if not os.path.lexists(path):
            continue
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                raise _error(stack, path, f"{path.name} is a dangling link or a link loop") from None
            home = root.resolve()
            if home not in target.parents:
                raise _error(stack, path, f"{path.name} links to {target}, outside the backend's folder {home}")
        if path.name.endswith(".gz"):
            text = _gunzipped(stack, path)
        else:
            try:
                text = reading.read_text(path, limit=MAX_CHECKPOINT_BYTES, rule=RULE, error=ModelstackError)
            except FileNotFoundError:
                continue
            except ModelstackError as failed:
                raise _error(stack, path, failed.detail) from None
        _check_shape(stack, path, text)


def _gunzipped(stack: str, path: Path) -> str:
    import zlib

    try:
        info = os.stat(path)
        if not os.path.isfile(path):
            raise _error(stack, path, f"{path.name} is not a regular file")
        if info.st_size > MAX_CHECKPOINT_BYTES:
            raise _error(stack, path, f"{path.name} is {info.st_size:,} bytes")
        with open(path, "rb") as handle:
            compressed = handle.read(MAX_CHECKPOINT_BYTES + 1)
    except OSError as failed:
        raise _error(stack, path, f"{path.name} cannot be read: {failed.strerror or failed}") from None
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflate.decompress(compressed, MAX_CHECKPOINT_BYTES + 1)
    except zlib.error:
        raise _error(stack, path, f"{path.name} is not gzip data") from None
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise _error(stack, path, f"{path.name} holds over {MAX_CHECKPOINT_BYTES:,} bytes once uncompressed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(stack, path, f"{path.name} is not UTF-8 text once uncompressed") from None


def _check_shape(stack: str, path: Path, text: str) -> None:
    try:
        document: Any = reading.parse_json(
            text, path.name, rule=RULE, fix="", error=ModelstackError, max_depth=MAX_CHECKPOINT_DEPTH
        )
    except ModelstackError as failed:
        raise _error(stack, path, failed.detail) from None
    if not isinstance(document, dict):
        raise _error(stack, path, f"{path.name} holds a JSON {type(document).__name__}, not a checkpoint object")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _error(stack, path, f'{path.name} has no checkpoint version ("version" is {_shown(version)})')
    if version not in VERSIONS:
        newer = " (written by a newer Pulumi than the project's engine)" if version > VERSIONS[-1] else ""
        raise _error(stack, path, f"{path.name} is checkpoint version {version}{newer}")
    checkpoint = document.get("checkpoint")
    if not isinstance(checkpoint, dict):
        raise _error(stack, path, f'"checkpoint" in {path.name} is {_shown(checkpoint)}, not an object')
    latest = checkpoint.get("latest")
    if latest is None:
        return
    if not isinstance(latest, dict):
        raise _error(stack, path, f'"checkpoint.latest" in {path.name} is {_shown(latest)}, not an object')
    resources = latest.get("resources")
    if resources is not None and (
        not isinstance(resources, list) or not all(isinstance(resource, dict) for resource in resources)
    ):
        raise _error(stack, path, f'"checkpoint.latest.resources" in {path.name} is not a list of objects')


def _shown(value: Any) -> str:
    if value is None:
        return "missing"
    return f"a {type(value).__name__}" if isinstance(value, (dict, list, str)) else repr(value)
