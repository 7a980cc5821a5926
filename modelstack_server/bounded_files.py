"""Reading a small file a platform mounts (a key or token signing key from a Kubernetes Secret)
without letting the file decide what the read costs: only a regular file is read (a fifo, a
device such as /dev/zero, a socket or a folder is refused without blocking: the file is opened
non-blocking), and at most `limit` bytes of it (a larger file is refused, never read whole).

The server is copied alone into images, so this is its own small rule, the same as the CLI's
(components/config/reading.py: regular files only, a size cap)."""

from __future__ import annotations

import os
import stat

MAX_SECRET_FILE_BYTES = 64 * 1024  # a key or a signing key is a few hundred bytes at most


class FileRefused(Exception):
    """The file is not what may be read: the message names the file and the rule."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bounded(path: str, limit: int = MAX_SECRET_FILE_BYTES) -> bytes:
    """The file's bytes; FileRefused when it is not a regular file or holds more than `limit`
    bytes; OSError when it cannot be opened (missing, unreadable)."""
    # O_NONBLOCK: opening a fifo no one writes to returns at once instead of waiting for a writer.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{path} is {_kind(info.st_mode)}; it must be a regular file")
        if info.st_size > limit:
            raise FileRefused(f"{path} is {info.st_size} bytes long; it must be at most {limit} bytes")
        parts = []
        size = 0
        while size <= limit:  # a file that grows while it is read is still read bounded
            part = os.read(descriptor, limit + 1 - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
        if size > limit:
            raise FileRefused(f"{path} is over {limit} bytes long; it must be at most {limit} bytes")
        return b"".join(parts)
    finally:
        os.close(descriptor)
