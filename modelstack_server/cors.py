"""CORS, in two layers, each as its origin had it:

- modelstack's (MODELSTACK_CORS_ORIGINS, in this server and in azmlinfsrv_front.py): preflights are
  answered here (204) for configured origins and refused (403) for others; responses to a
  configured origin carry Access-Control-Allow-Origin unless the entry script set its own.
- azmlinfsrv's (AML_CORS_ORIGINS, flask-cors on its routes with methods GET and POST): the
  application's own routes add the headers flask-cors adds.
"""

from __future__ import annotations

import re

PREFLIGHT_MAX_AGE_SECONDS = 600
ALLOWED_METHODS = "GET, POST, OPTIONS"
DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type"
_HEADER_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")


def origin_allowed(origins: tuple[str, ...], origin: str | None) -> bool:
    """Whether `origin` is one of modelstack's configured origins ("*": any)."""
    if not origin:
        return False
    return "*" in origins or origin.rstrip("/") in origins


def allow_origin_value(origins: tuple[str, ...], origin: str) -> str:
    return "*" if "*" in origins else origin


def is_preflight(method: str, origin: str | None, requested_method: str | None) -> bool:
    return method == "OPTIONS" and bool(origin) and bool(requested_method)


def preflight_headers(allow_origin: str, requested_headers: str | None) -> list[tuple[str, str]]:
    """The answer to a preflight from an allowed origin (204, no body)."""
    requested = (requested_headers or "").strip()
    allowed_headers = requested if requested and _HEADER_LIST.match(requested) else DEFAULT_ALLOWED_HEADERS
    return [
        ("Access-Control-Allow-Origin", allow_origin),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Methods", ALLOWED_METHODS),
        ("Access-Control-Allow-Headers", allowed_headers),
        ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE_SECONDS)),
    ]


def add_missing(headers: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`extra` appended, except names the response already has (an entry script's own CORS)."""
    present = {name.lower() for name, _ in headers}
    return headers + [(name, value) for name, value in extra if name.lower() not in present]


class AmlCors:
    """flask-cors as azmlinfsrv configures it: origins from AML_CORS_ORIGINS, methods GET, POST."""

    def __init__(self, origins: tuple[str, ...]):
        self.origins = origins

    def __bool__(self) -> bool:
        return bool(self.origins)

    def _allow_origin(self, origin: str | None) -> str | None:
        if not origin:
            return None
        if "*" in self.origins:
            return "*"
        return origin if origin in self.origins else None

    def headers(
        self,
        method: str,
        origin: str | None,
        requested_method: str | None,
        requested_headers: str | None,
        present: set[str],
    ) -> list[tuple[str, str]]:
        """What flask-cors adds to a response of azmlinfsrv's routes (names already present win)."""
        if not self.origins or "access-control-allow-origin" in present:
            return []
        allow = self._allow_origin(origin)
        extra: list[tuple[str, str]] = []
        if allow is not None:
            extra.append(("Access-Control-Allow-Origin", allow))
            # a preflight for a method flask-cors allows also gets the methods and headers
            if method == "OPTIONS" and requested_method and requested_method.upper() in ("GET", "POST"):
                if requested_headers:
                    extra.append(
                        (
                            "Access-Control-Allow-Headers",
                            ", ".join(h.strip() for h in requested_headers.split(",") if h.strip()),
                        )
                    )
                extra.append(("Access-Control-Allow-Methods", "GET, POST"))
            extra += self._vary(present)
        return extra

    def _vary(self, present: set[str]) -> list[tuple[str, str]]:
        if "*" in self.origins or "vary" in present:
            return []
        return [("Vary", "Origin")]
