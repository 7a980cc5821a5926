"""Key auth: `Authorization: Bearer <key>` against the primary and the secondary key, from
environment variables or from a folder (a mounted Kubernetes Secret) looked at again at most
once a second, so keys rotate without a restart and without downtime (either key works)."""

from __future__ import annotations

import hmac
import logging
import math
import os
import time

from .bounded_files import FileRefused, read_bounded
from .contract import KEY_FILES

logger = logging.getLogger("azmlinfsrv")

KEYS_RECHECK_SECONDS = 1.0
MISSING_KEY_MESSAGE = "a valid key is required: send Authorization: Bearer <primary or secondary key>"
WRONG_KEY_MESSAGE = "the key is not valid"
CHALLENGE = 'Bearer realm="modelstack"'


class KeySource:
    def __init__(
        self,
        primary: str = "",
        secondary: str = "",
        folder: str | None = None,
        clock=time.monotonic,
        files: tuple[str, ...] = KEY_FILES,
    ):
        self._static = tuple(k.encode() for k in (primary, secondary) if k)
        self._folder = folder
        self._files = files
        self._clock = clock
        self._checked_at = -math.inf
        self._stamp: tuple = ()
        self._from_folder: tuple[bytes, ...] = ()

    def keys(self) -> tuple[bytes, ...]:
        if self._folder is None:
            return self._static
        now = self._clock()
        if now - self._checked_at >= KEYS_RECHECK_SECONDS:
            self._checked_at = now
            self._reload_if_changed(self._folder)
        return self._from_folder

    def _reload_if_changed(self, folder: str) -> None:
        stamp: list[tuple[str, int | None, int | None, int | None]] = []
        for name in self._files:
            try:
                info = os.stat(os.path.join(folder, name))
                stamp.append((name, info.st_mtime_ns, info.st_size, info.st_ino))
            except OSError:
                stamp.append((name, None, None, None))
        if tuple(stamp) == self._stamp:
            return
        self._stamp = tuple(stamp)
        found = []
        for name in self._files:
            try:
                value = read_bounded(os.path.join(folder, name)).strip()  # a Secret's file may end with a newline
            except FileRefused as error:  # never blocks, never read whole: the key counts as absent
                logger.error(f"key file not used: {error}")
                continue
            except OSError:
                continue
            if value:
                found.append(value)
        self._from_folder = tuple(found)

    def matches(self, presented: bytes) -> bool:
        """Constant time: every key is compared, whatever matched first."""
        matched = False
        for key in self.keys():
            matched |= hmac.compare_digest(presented, key)
        return matched and bool(presented)


def bearer_token(authorization: bytes | None) -> bytes | None:
    """None: no header; b"": a header that is not a bearer token; else the token."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return b""
    return token.strip()


def refusal(authorization: bytes | None, keys: KeySource) -> tuple[str, str] | None:
    """(message, WWW-Authenticate) when the request may not pass; None when its key is good."""
    token = bearer_token(authorization)
    if token and keys.matches(token):
        return None
    if token is None:
        return MISSING_KEY_MESSAGE, CHALLENGE
    return WRONG_KEY_MESSAGE, CHALLENGE + (', error="invalid_token"' if token else "")
