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

The checks are the server's own code (keys.py, cors.py, settings.py): both servers accept the
same keys and origins, and refuse the same settings, with the same messages. What this module
imports of the package is standard library only, and the image of azmlinfsrv carries just those
modules (components/image/build_context.py: FRONT_MODULES), never the server's dependencies;
gunicorn and azmlinfsrv are imported by `main`.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys

from . import cors
from .contract import (
    DRAIN_MARGIN_SECONDS,
    HEALTH_ROUTE,
    PRIMARY_KEY_ENV,
    SCORING_TIMEOUT_ENV,
    SECONDARY_KEY_ENV,
    TLS_CERT_ENV,
    TLS_KEY_ENV,
    TOKEN_AUTH_ENABLED_ENV,
)
from .keys import KeySource, refusal
from .settings import (
    DEFAULT_MAX_REQUEST_BYTES,
    SettingsError,
    cors_origins,
    key_auth,
    max_request_bytes,
    tls_pair,
    truthy,
)
from .tls import refusal as tls_refusal, write_tls_files

HEALTH_PATHS = (HEALTH_ROUTE,)
# Without SCORING_TIMEOUT_MS, requests in flight get a minute to finish when the server stops.
DEFAULT_SCORING_TIMEOUT_MS = 60000


class FrontSettings:
    """What the front enforces, read from the environment once at start."""

    def __init__(
        self,
        *,
        auth_enabled: bool,
        keys: KeySource,
        cors_origins: tuple[str, ...] = (),
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ):
        self.auth_enabled = auth_enabled
        self.keys = keys
        self.cors_origins = cors_origins
        self.max_request_bytes = max_request_bytes

    @classmethod
    def from_environ(cls, environ) -> FrontSettings:
        if truthy(environ.get(TOKEN_AUTH_ENABLED_ENV)):
            # Fail closed: serving without the auth that was asked for would open the service.
            raise SettingsError(
                f"{TOKEN_AUTH_ENABLED_ENV} is true, but token auth is verified by modelstack's scoring server only; this image runs azmlinfsrv (scoring_server: azmlinfsrv), whose front checks keys"
            )
        auth_enabled, keys = key_auth(environ)
        return cls(
            auth_enabled=auth_enabled,
            keys=keys,
            cors_origins=cors_origins(environ),
            max_request_bytes=max_request_bytes(environ),
        )

    def origin_allowed(self, origin: str | None) -> bool:
        return cors.origin_allowed(self.cors_origins, origin)

    def allow_origin_value(self, origin: str) -> str:
        return cors.allow_origin_value(self.cors_origins, origin)


def _json_response(
    start_response, status: str, message: str, headers: list[tuple[str, str]] | tuple[()] = ()
) -> list[bytes]:
    body = json.dumps({"message": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers])
    return [body]


def _authorization(environ) -> bytes | None:
    """The Authorization header as the client sent it (WSGI hands it over decoded as latin-1)."""
    header = environ.get("HTTP_AUTHORIZATION")
    return header.encode("latin-1", "replace") if header else None


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

        if cors.is_preflight(method, origin, environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")):
            if settings.cors_origins or settings.auth_enabled:
                return self._preflight(environ, start_response, cors_headers)
        if method in ("GET", "HEAD") and path in HEALTH_PATHS:
            return self.app(environ, start_response)
        if settings.auth_enabled:
            refused = refusal(_authorization(environ), settings.keys)
            if refused:
                message, challenge = refused
                return _json_response(
                    start_response, "401 Unauthorized", message, [("WWW-Authenticate", challenge), *cors_headers]
                )
        too_large = self._limit_body(environ)
        if too_large:
            return _json_response(start_response, "413 Request Entity Too Large", too_large, cors_headers)
        if not cors_headers:
            return self.app(environ, start_response)

        def start_with_cors(status, headers, exc_info=None):
            headers = cors.add_missing(list(headers), cors_headers)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.app(environ, start_with_cors)

    def _preflight(self, environ, start_response, cors_headers):
        if not cors_headers:
            return _json_response(
                start_response,
                "403 Forbidden",
                f"origin {environ.get('HTTP_ORIGIN')} is not allowed to call this service",
                [("Vary", "Origin")],
            )
        allow_origin = self.settings.allow_origin_value(environ["HTTP_ORIGIN"])
        start_response(
            "204 No Content",
            [
                *cors.preflight_headers(allow_origin, environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")),
                ("Content-Length", "0"),
            ],
        )
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
    scoring_timeout_ms = int(environ.get(SCORING_TIMEOUT_ENV) or DEFAULT_SCORING_TIMEOUT_MS)
    # Requests in flight finish when the container is asked to stop (rolling updates).
    arguments += ["--graceful-timeout", str(math.ceil(scoring_timeout_ms / 1000) + DRAIN_MARGIN_SECONDS)]
    if tls_files:
        arguments += ["--certfile", tls_files[0], "--keyfile", tls_files[1]]
    return arguments


def _write_tls_files(environ) -> tuple[str, str] | None:
    cert, key = tls_pair(environ)
    return write_tls_files(cert, key) if cert and key else None  # tls_pair: both or neither


def main() -> None:
    """`azmlinfsrv` with its app wrapped in ScoringFront; takes azmlinfsrv's arguments."""
    try:
        settings = FrontSettings.from_environ(os.environ)
        tls_files = _write_tls_files(os.environ)
    except SettingsError as error:
        print(f"modelstack front: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    refused = tls_refusal(*tls_files) if tls_files else None
    if refused:
        print(f"modelstack front: {refused}", file=sys.stderr)
        raise SystemExit(2)
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
    print(
        f"modelstack front: {auth}; CORS origins: {origins}; bodies up to {settings.max_request_bytes} bytes{'; HTTPS' if tls_files else ''}",
        flush=True,
    )

    from azureml_inference_server_http import amlserver

    amlserver.run()


if __name__ == "__main__":
    main()
