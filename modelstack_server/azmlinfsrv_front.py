"""modelstack's front of the Azure ML scoring server: key auth, CORS and a body size limit.

azureml-inference-server-http does no authentication (in Azure a front end did), so every
modelstack image starts the server through this module instead of `azmlinfsrv`. `main()` runs
the server exactly as `azmlinfsrv` does (same arguments, same gunicorn, same workers), with
one difference: the WSGI app gunicorn loads is wrapped in `ScoringFront`. One process tree,
no proxy in between, and every Azure ML entry script runs unchanged.

What `ScoringFront` does, in this order:
- `GET /` and `HEAD /` (the health probe) pass without a key;
- a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here
  for the configured origins and refused (403) for any other; with no origins configured and
  auth off it passes to the app, as Azure ML's server would;
- with auth on, every other request needs `Authorization: Bearer <key>`, compared in constant
  time with the primary and the secondary key (either works, so keys rotate without downtime);
  401 otherwise;
- a body larger than the limit is refused (413) before the app reads it;
- responses to a configured origin carry Access-Control-Allow-Origin.

Configuration is the environment only; keys are secrets the platform injects, never baked in:
  MODELSTACK_AUTH_ENABLED      "true" requires a key on every route but the health probe
  MODELSTACK_PRIMARY_KEY       the keys, as (secure) environment variables (ACI), or
  MODELSTACK_SECONDARY_KEY
  MODELSTACK_KEYS_DIR          a folder holding files primary_key and secondary_key (a mounted
                               Kubernetes Secret); re-read when they change, no restart needed
  MODELSTACK_CORS_ORIGINS      comma-separated origins allowed to call from a browser ("*": any)
  MODELSTACK_MAX_REQUEST_BYTES largest accepted body, default 104857600 (100 MiB)
  MODELSTACK_TLS_CERT          PEM certificate and key: serve HTTPS (ACI with ssl_enabled)
  MODELSTACK_TLS_KEY

This file is rendered into the image by templates/Dockerfile.j2 and is standard library only
(gunicorn and the scoring server are imported by `main`). It contains no Jinja markers.
"""

from __future__ import annotations

import hmac
import io
import json
import math
import os
import re
import sys
import tempfile
import time

AUTH_ENABLED_ENV = "MODELSTACK_AUTH_ENABLED"
PRIMARY_KEY_ENV = "MODELSTACK_PRIMARY_KEY"
SECONDARY_KEY_ENV = "MODELSTACK_SECONDARY_KEY"
KEYS_DIR_ENV = "MODELSTACK_KEYS_DIR"
TOKEN_AUTH_ENABLED_ENV = "MODELSTACK_TOKEN_AUTH_ENABLED"
CORS_ORIGINS_ENV = "MODELSTACK_CORS_ORIGINS"
MAX_REQUEST_BYTES_ENV = "MODELSTACK_MAX_REQUEST_BYTES"
TLS_CERT_ENV = "MODELSTACK_TLS_CERT"
TLS_KEY_ENV = "MODELSTACK_TLS_KEY"
KEY_FILES = ("primary_key", "secondary_key")

DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024
PREFLIGHT_MAX_AGE_SECONDS = 600
ALLOWED_METHODS = "GET, POST, OPTIONS"
# How often a keys folder is looked at again (a rotated Secret shows up within a minute anyway).
KEYS_RECHECK_SECONDS = 1.0
HEALTH_PATHS = ("/",)
_HEADER_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")


class FrontConfigError(Exception):
    """The environment asks for something that cannot work (auth on and no key at all)."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class KeySource:
    """The keys requests are checked against: from environment variables, or from a folder
    (a mounted Secret) that is looked at again at most once a second."""

    def __init__(self, primary: str = "", secondary: str = "", folder: str | None = None, clock=time.monotonic):
        self._static = tuple(k.encode() for k in (primary, secondary) if k)
        self._folder = folder
        self._clock = clock
        self._checked_at = -math.inf
        self._stamp: tuple = ()
        self._from_folder: tuple[bytes, ...] = ()

    @classmethod
    def from_environ(cls, environ) -> "KeySource":
        return cls(environ.get(PRIMARY_KEY_ENV, ""), environ.get(SECONDARY_KEY_ENV, ""), environ.get(KEYS_DIR_ENV) or None)

    def keys(self) -> tuple[bytes, ...]:
        if self._folder is None:
            return self._static
        now = self._clock()
        if now - self._checked_at >= KEYS_RECHECK_SECONDS:
            self._checked_at = now
            self._reload_if_changed()
        return self._from_folder

    def _reload_if_changed(self) -> None:
        stamp = []
        for name in KEY_FILES:
            try:
                info = os.stat(os.path.join(self._folder, name))
                stamp.append((name, info.st_mtime_ns, info.st_size, info.st_ino))
            except OSError:
                stamp.append((name, None))
        if tuple(stamp) == self._stamp:
            return
        self._stamp = tuple(stamp)
        keys = []
        for name in KEY_FILES:
            try:
                with open(os.path.join(self._folder, name), "rb") as handle:
                    value = handle.read().strip()
            except OSError:
                continue
            if value:
                keys.append(value)
        self._from_folder = tuple(keys)

    def matches(self, presented: bytes) -> bool:
        """Constant time: every key is compared, whatever matched first."""
        matched = False
        for key in self.keys():
            matched |= hmac.compare_digest(presented, key)
        return matched and bool(presented)


class FrontSettings:
    """What the front enforces, read from the environment once at start."""

    def __init__(self, *, auth_enabled: bool, keys: KeySource, cors_origins: tuple[str, ...] = (), max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES):
        self.auth_enabled = auth_enabled
        self.keys = keys
        self.cors_origins = cors_origins
        self.max_request_bytes = max_request_bytes

    @classmethod
    def from_environ(cls, environ) -> "FrontSettings":
        if _truthy(environ.get(TOKEN_AUTH_ENABLED_ENV)):
            # Fail closed: serving without the auth that was asked for would open the service.
            raise FrontConfigError(f"{TOKEN_AUTH_ENABLED_ENV} is true, but token auth is verified by modelstack's scoring server only; this image runs azmlinfsrv (scoring_server: azmlinfsrv), whose front checks keys")
        auth_enabled = _truthy(environ.get(AUTH_ENABLED_ENV))
        keys = KeySource.from_environ(environ)
        if auth_enabled and environ.get(KEYS_DIR_ENV) is None and not keys.keys():
            raise FrontConfigError(f"{AUTH_ENABLED_ENV} is true but neither {PRIMARY_KEY_ENV}, {SECONDARY_KEY_ENV} nor {KEYS_DIR_ENV} is set")
        origins = tuple(o.strip().rstrip("/") for o in (environ.get(CORS_ORIGINS_ENV) or "").split(",") if o.strip())
        raw_limit = environ.get(MAX_REQUEST_BYTES_ENV) or str(DEFAULT_MAX_REQUEST_BYTES)
        try:
            limit = int(raw_limit)
        except ValueError:
            raise FrontConfigError(f"{MAX_REQUEST_BYTES_ENV} is {raw_limit!r}, not a whole number of bytes") from None
        if limit <= 0:
            raise FrontConfigError(f"{MAX_REQUEST_BYTES_ENV} is {limit}; it must be positive")
        return cls(auth_enabled=auth_enabled, keys=keys, cors_origins=origins, max_request_bytes=limit)

    def origin_allowed(self, origin: str | None) -> bool:
        return bool(origin) and ("*" in self.cors_origins or origin.rstrip("/") in self.cors_origins)

    def allow_origin_value(self, origin: str) -> str:
        return "*" if "*" in self.cors_origins else origin


def _json_response(start_response, status: str, message: str, headers: list[tuple[str, str]] = ()) -> list[bytes]:
    body = json.dumps({"message": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers])
    return [body]


def _bearer_token(environ) -> bytes | None:
    header = environ.get("HTTP_AUTHORIZATION")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return b""
    return token.strip().encode()


class ScoringFront:
    """WSGI middleware around the scoring server's Flask app (see the module docstring)."""

    def __init__(self, app, settings: FrontSettings):
        self.app = app
        self.settings = settings

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO") or "/"
        origin = environ.get("HTTP_ORIGIN")
        settings = self.settings
        cors_headers = []
        if settings.origin_allowed(origin):
            cors_headers = [("Access-Control-Allow-Origin", settings.allow_origin_value(origin)), ("Vary", "Origin")]

        if method == "OPTIONS" and origin and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            if settings.cors_origins or settings.auth_enabled:
                return self._preflight(environ, start_response, cors_headers)
        if method in ("GET", "HEAD") and path in HEALTH_PATHS:
            return self.app(environ, start_response)
        if settings.auth_enabled:
            token = _bearer_token(environ)
            if not token or not settings.keys.matches(token):
                challenge = 'Bearer realm="modelstack"' + (', error="invalid_token"' if token else "")
                message = "a valid key is required: send Authorization: Bearer <primary or secondary key>" if token is None else "the key is not valid"
                return _json_response(start_response, "401 Unauthorized", message, [("WWW-Authenticate", challenge), *cors_headers])
        refused = self._limit_body(environ)
        if refused:
            return _json_response(start_response, "413 Request Entity Too Large", refused, cors_headers)
        if not cors_headers:
            return self.app(environ, start_response)

        def start_with_cors(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            extra = [(name, value) for name, value in cors_headers if name.lower() not in present]
            return start_response(status, list(headers) + extra, exc_info) if exc_info else start_response(status, list(headers) + extra)

        return self.app(environ, start_with_cors)

    def _preflight(self, environ, start_response, cors_headers):
        if not cors_headers:
            return _json_response(start_response, "403 Forbidden", f"origin {environ.get('HTTP_ORIGIN')} is not allowed to call this service", [("Vary", "Origin")])
        requested = (environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") or "").strip()
        allowed_headers = requested if requested and _HEADER_LIST.match(requested) else "Authorization, Content-Type"
        headers = [
            *cors_headers,
            ("Access-Control-Allow-Methods", ALLOWED_METHODS),
            ("Access-Control-Allow-Headers", allowed_headers),
            ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE_SECONDS)),
            ("Content-Length", "0"),
        ]
        start_response("204 No Content", headers)
        return [b""]

    def _limit_body(self, environ) -> str | None:
        """A refusal message when the body is over the limit; a chunked body is buffered (up to
        the limit) so the app sees a plain one."""
        limit = self.settings.max_request_bytes
        too_large = f"the request body is larger than {limit} bytes"
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                return too_large if int(length) > limit else None
            except ValueError:
                return "Content-Length is not a number"
        if "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower():
            stream = environ["wsgi.input"]
            body = stream.read(limit + 1)
            if len(body) > limit:
                return too_large
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return None


# --- start the scoring server -----------------------------------------------------------------


def _gunicorn_arguments(environ, gunicorn_settings: set[str], tls_files: tuple[str, str] | None) -> list[str]:
    """What we add to azmlinfsrv's gunicorn command line, through GUNICORN_CMD_ARGS."""
    arguments = []
    if "control_socket_disable" in gunicorn_settings:
        arguments.append("--no-control-socket")  # gunicorn >= 25 writes one under $HOME otherwise
    scoring_timeout_ms = int(environ.get("SCORING_TIMEOUT_MS") or 60000)
    # Requests in flight finish when the container is asked to stop (rolling updates).
    arguments += ["--graceful-timeout", str(math.ceil(scoring_timeout_ms / 1000) + 5)]
    if tls_files:
        arguments += ["--certfile", tls_files[0], "--keyfile", tls_files[1]]
    return arguments


def _write_tls_files(environ) -> tuple[str, str] | None:
    cert, key = environ.get(TLS_CERT_ENV), environ.get(TLS_KEY_ENV)
    if not cert and not key:
        return None
    if not (cert and key):
        raise FrontConfigError(f"{TLS_CERT_ENV} and {TLS_KEY_ENV} are set together or not at all")
    folder = tempfile.mkdtemp(prefix="modelstack-tls-")  # 0700, private to this user
    paths = (os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem"))
    for path, text in zip(paths, (cert, key)):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
    return paths


def main() -> None:
    """`azmlinfsrv` with its app wrapped in ScoringFront; takes azmlinfsrv's arguments."""
    try:
        settings = FrontSettings.from_environ(os.environ)
        tls_files = _write_tls_files(os.environ)
    except FrontConfigError as error:
        print(f"modelstack front: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    for name in (TLS_CERT_ENV, TLS_KEY_ENV, PRIMARY_KEY_ENV, SECONDARY_KEY_ENV):
        # Out of os.environ, so the entry script does not find them there and its child processes
        # do not inherit them. Not a wall: the entry script runs in this process, and the
        # process's initial environment (/proc/self/environ) still holds variables it started with.
        os.environ.pop(name, None)

    import gunicorn.app.wsgiapp as wsgiapp
    from gunicorn.config import KNOWN_SETTINGS

    load_server_app = wsgiapp.WSGIApplication.load_wsgiapp

    def load_fronted_app(application):
        return ScoringFront(load_server_app(application), settings)

    wsgiapp.WSGIApplication.load_wsgiapp = load_fronted_app
    extra = _gunicorn_arguments(os.environ, {setting.name for setting in KNOWN_SETTINGS}, tls_files)
    os.environ["GUNICORN_CMD_ARGS"] = " ".join([os.environ.get("GUNICORN_CMD_ARGS", ""), *extra]).strip()
    auth = "key auth on" if settings.auth_enabled else "no auth (Azure ML's local behaviour)"
    origins = ", ".join(settings.cors_origins) or "none"
    print(f"modelstack front: {auth}; CORS origins: {origins}; bodies up to {settings.max_request_bytes} bytes{'; HTTPS' if tls_files else ''}", flush=True)

    from azureml_inference_server_http import amlserver

    amlserver.run()


if __name__ == "__main__":
    main()
