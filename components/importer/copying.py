"""Copying a source from outside the project (`--copy-outside`), without following links out of it.

A copied folder holds its own files only. Inside it:

- a regular file or folder is copied as it is;
- a symlink is copied as what it points to only when that stays inside the folder (a file, or a
  folder that is not one of the link's own parents);
- a link out of the folder, a dangling link, a link loop, a device, a fifo or a socket refuses the
  import, naming the path: nothing is followed or read through it.

The whole import copies at most `MAX_FILES` files and `MAX_BYTES` bytes, and folders at most
`MAX_DEPTH` deep; more refuses it naming the limit. `survey` walks a source before anything is
written (the plan refuses there); `copy` walks it again while writing, with the same rules, and
opens every file without following a link and without blocking, so a file replaced in between by
a link or a fifo is refused too.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from components.errors import ConfigError

MAX_FILES = 10_000
MAX_BYTES = 4 * 1024**3
MAX_DEPTH = 64
CHUNK = 1024 * 1024

LINK_RULE = (
    "--copy-outside copies a folder's own files: a link is copied as its target only when that stays "
    "inside the folder; links out of it, dangling links, link loops, devices, fifos and sockets are refused"
)


def _limit_rule() -> str:
    return (
        f"--copy-outside copies at most {MAX_FILES:,} files and {_size(MAX_BYTES)} per import, "
        f"in folders at most {MAX_DEPTH} deep"
    )


def _size(count: int) -> str:
    return f"{count / 1024**3:g} GiB" if count >= 1024**3 else f"{count:,} bytes"


LIMIT_FIX = "copy the files the service needs into the project yourself and name them there"


@dataclass(frozen=True)
class Item:
    relative: PurePosixPath  # inside the copy; "." is the source itself
    real: Path  # what is read: no link left in it
    is_dir: bool
    size: int
    mode: int


@dataclass
class Budget:
    """What one import may still copy (every source of it shares one budget)."""

    files: int = 0
    bytes: int = 0

    def take(self, size: int, where: str, key: str) -> None:
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES:
            raise ConfigError(
                f"more than {MAX_FILES:,} files to copy (at {where})",
                key=key,
                rule=_limit_rule(),
                fix=LIMIT_FIX,
            )
        if self.bytes > MAX_BYTES:
            raise ConfigError(
                f"more than {_size(MAX_BYTES)} to copy (at {where})",
                key=key,
                rule=_limit_rule(),
                fix=LIMIT_FIX,
            )


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file or folder"


def _refuse(detail: str, key: str) -> ConfigError:
    return ConfigError(
        detail,
        key=key,
        rule=LINK_RULE,
        fix="replace it by the file itself, or remove it from the folder, then import again",
    )


def walk(source: Path, key: str) -> Iterator[Item]:
    """Everything a copy of `source` (already resolved, no link in it) holds, refused as the module says."""
    try:
        top = os.lstat(source)
    except OSError as exc:
        raise _refuse(f"{source} cannot be read: {exc.strerror or exc}", key) from None
    if stat.S_ISREG(top.st_mode):
        yield Item(PurePosixPath("."), source, False, top.st_size, top.st_mode)
        return
    if not stat.S_ISDIR(top.st_mode):
        raise _refuse(f"{source} is {_kind(top.st_mode)}", key)
    yield Item(PurePosixPath("."), source, True, 0, top.st_mode)
    yield from _folder(source, source, PurePosixPath("."), (source,), key)


def _folder(root: Path, real: Path, relative: PurePosixPath, parents: tuple[Path, ...], key: str) -> Iterator[Item]:
    if len(parents) > MAX_DEPTH:
        raise ConfigError(
            f"{root / relative} is more than {MAX_DEPTH} folders deep",
            key=key,
            rule=_limit_rule(),
            fix=LIMIT_FIX,
        )
    try:
        names = sorted(entry.name for entry in os.scandir(real))
    except OSError as exc:
        raise _refuse(f"{root / relative} cannot be read: {exc.strerror or exc}", key) from None
    for name in names:
        path, inside = real / name, relative / name
        shown = root / inside
        try:
            info = os.lstat(path)
        except OSError as exc:
            raise _refuse(f"{shown} cannot be read: {exc.strerror or exc}", key) from None
        target = path
        if stat.S_ISLNK(info.st_mode):
            try:
                target = path.resolve(strict=True)
            except RuntimeError:  # Python 3.11's symlink loop
                raise _refuse(f"{shown} is a symlink loop", key) from None
            except OSError as exc:
                what = "a symlink loop" if exc.errno == errno.ELOOP else f"a dangling link ({os.readlink(path)})"
                raise _refuse(f"{shown} is {what}", key) from None
            if target != root and root not in target.parents:
                raise _refuse(f"{shown} links to {target}, outside the folder {root}", key)
            info = os.stat(target)
            if stat.S_ISDIR(info.st_mode) and (target in parents or target == real):
                raise _refuse(f"{shown} is a symlink loop (it links to its own folder {target})", key)
        if stat.S_ISDIR(info.st_mode):
            yield Item(inside, target, True, 0, info.st_mode)
            yield from _folder(root, target, inside, (*parents, target), key)
        elif stat.S_ISREG(info.st_mode):
            yield Item(inside, target, False, info.st_size, info.st_mode)
        else:
            raise _refuse(f"{shown} is {_kind(info.st_mode)}", key)


def survey(source: Path, key: str, budget: Budget) -> None:
    """Refuse, before anything is written, a source that `copy` would refuse."""
    for item in walk(source, key):
        if not item.is_dir:
            budget.take(item.size, str(source / item.relative), key)


def copy(source: Path, destination: Path, key: str, budget: Budget) -> None:
    """Copy `source` to `destination` (which must not exist) by the rules above; the caller
    removes `destination` when this raises."""
    folders: list[tuple[Path, int]] = []
    for item in walk(source, key):
        target = destination if str(item.relative) == "." else destination / item.relative
        if item.is_dir:
            target.mkdir(mode=0o700)
            folders.append((target, item.mode))
        else:
            _copy_file(item, target, source, key, budget)
    for folder, mode in reversed(folders):  # deepest first, once their files are in
        os.chmod(folder, stat.S_IMODE(mode) & 0o777 | 0o700)


def _copy_file(item: Item, target: Path, source: Path, key: str, budget: Budget) -> None:
    where = source / item.relative
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(item.real, flags)
    except OSError as exc:
        raise _refuse(f"{where} cannot be opened without following a link: {exc.strerror or exc}", key) from None
    with os.fdopen(descriptor, "rb") as reading:
        opened = os.fstat(reading.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise _refuse(f"{where} is {_kind(opened.st_mode)}", key)
        budget.take(0, str(where), key)
        with open(target, "xb") as writing:
            while chunk := reading.read(CHUNK):
                budget.bytes += len(chunk)
                if budget.bytes > MAX_BYTES:
                    budget.take(0, str(where), key)  # raises, naming the limit
                writing.write(chunk)
    os.chmod(target, stat.S_IMODE(opened.st_mode) & 0o777)
