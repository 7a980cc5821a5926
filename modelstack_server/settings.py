"""Every setting of the server, read once from the environment (and azmlinfsrv's flags, which
the launcher folds into the environment first, as azmlinfsrv does), validated in one place.

azmlinfsrv's own variables keep their names and defaults; modelstack's are prefixed
MODELSTACK_. A value that cannot work stops the server at start with a message naming the
variable and what it accepts (`SettingsError`), never a traceback at the first request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import cors
from .contract import (
    APP_INSIGHTS_CONNECTION_STRING_ENV,
    APP_ROOT_ENV,
    AUTH_ENABLED_ENV,
    CORS_ORIGINS_ENV,
    ENTRY_SCRIPT_ENV,
    KEYS_DIR_ENV,
    MAX_REQUEST_BYTES_ENV,
    METRICS_AUTH_ENV,
    METRICS_ENABLED_ENV,
    MODEL_DIR_ENV,
    PORT,
    PRIMARY_KEY_ENV,
    ROLLOUT_VERSION_ENV,
    SCORING_TIMEOUT_ENV,
    SECONDARY_KEY_ENV,
    SERVICE_NAME_ENV,
    SERVICE_PATH_PREFIX_ENV,
    SERVICE_VERSION_ENV,
    SOURCE_DIR_ENV,
    TLS_CERT_ENV,
    TLS_KEY_ENV,
    TOKEN_AUDIENCE_ENV,
    TOKEN_AUTH_ENABLED_ENV,
    TOKEN_SIGNING_KEY_ENV,
    WORKER_COUNT_ENV,
)
from .keys import KeySource
from .tokens import TOKEN_KEY_FILES

# azmlinfsrv's own (the names the platform sets are in contract.py)
AML_CORS_ORIGINS_ENV = "AML_CORS_ORIGINS"
APP_INSIGHTS_ENABLED_ENV = "AML_APP_INSIGHTS_ENABLED"
APP_INSIGHTS_KEY_ENV = "AML_APP_INSIGHTS_KEY"
SERVER_VERSION_ENABLED_ENV = "SERVER_VERSION_LOG_RESPONSE_ENABLED"

# modelstack's server: what no client may hold for long
HEADER_TIMEOUT_ENV = "MODELSTACK_HEADER_TIMEOUT_SECONDS"
BODY_TIMEOUT_ENV = "MODELSTACK_BODY_TIMEOUT_SECONDS"
KEEP_ALIVE_ENV = "MODELSTACK_KEEP_ALIVE_SECONDS"
MAX_CONNECTIONS_ENV = "MODELSTACK_MAX_CONNECTIONS"
MAX_HEADER_LINE_ENV = "MODELSTACK_MAX_HEADER_LINE_BYTES"
MAX_HEADER_COUNT_ENV = "MODELSTACK_MAX_HEADER_COUNT"
MAX_HEADER_BYTES_ENV = "MODELSTACK_MAX_HEADER_BYTES"
# the replica's memory, when no cgroup limit says it, and what a body costs in it (memory.py)
MEMORY_LIMIT_ENV = "MODELSTACK_MEMORY_LIMIT_BYTES"
MEMORY_PER_BODY_BYTE_ENV = "MODELSTACK_MEMORY_PER_BODY_BYTE"
# fast run() calls in a row before run() is called on the event loop's thread (scoring.py)
INLINE_AFTER_ENV = "MODELSTACK_INLINE_AFTER_CALLS"

DEFAULT_PORT = PORT
DEFAULT_HOST = "0.0.0.0"
DEFAULT_SCORING_TIMEOUT_MS = 3_600_000  # azmlinfsrv's default (one hour)
DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0
# Longer than the usual proxy's idle upstream timeout (60 s), so the proxy closes first and
# never sends a request on a connection we are closing.
DEFAULT_KEEP_ALIVE_SECONDS = 75.0
DEFAULT_MAX_CONNECTIONS = 1024
# gunicorn's limit_request_field_size and limit_request_fields; nginx's large_client_header_buffers (4 8k)
DEFAULT_MAX_HEADER_LINE_BYTES = 8190
DEFAULT_MAX_HEADER_COUNT = 100
DEFAULT_MAX_HEADER_BYTES = 4 * 8192
DEFAULT_INLINE_AFTER_CALLS = 100
DEFAULT_SERVICE_NAME = "ML service"
DEFAULT_SERVICE_VERSION = "1.0"
# The rollout version's name when neither MODELSTACK_VERSION nor SERVICE_NAME says it.
DEFAULT_ROLLOUT_VERSION = "default"


class SettingsError(Exception):
    """The environment asks for something that cannot work; the message names the variable."""


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _number(environ: Mapping[str, str], name: str, default: float, *, whole: bool, minimum: float, unit: str) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise SettingsError(f"{name} is {raw!r}, not {kind} of {unit}") from None
    if value < minimum:
        raise SettingsError(f"{name} is {raw}; it must be at least {minimum:g} {unit}")
    return value


def _optional_whole(environ: Mapping[str, str], name: str, *, minimum: int, unit: str) -> int | None:
    if not (environ.get(name) or "").strip():
        return None
    return int(_number(environ, name, 0, whole=True, minimum=minimum, unit=unit))


def _origins(raw: str | None) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in (raw or "").split(",") if o.strip())


# What modelstack's server and the front of azmlinfsrv (azmlinfsrv_front.py) both read, read once here.


def key_auth(environ: Mapping[str, str]) -> tuple[bool, KeySource]:
    """Whether key auth is on, and the keys it checks against; on with no key anywhere is refused."""
    auth_enabled = truthy(environ.get(AUTH_ENABLED_ENV))
    keys_dir = environ.get(KEYS_DIR_ENV) or None
    keys = KeySource(environ.get(PRIMARY_KEY_ENV, ""), environ.get(SECONDARY_KEY_ENV, ""), keys_dir)
    if auth_enabled and keys_dir is None and not keys.keys():
        raise SettingsError(
            f"{AUTH_ENABLED_ENV} is true but neither {PRIMARY_KEY_ENV}, {SECONDARY_KEY_ENV} nor {KEYS_DIR_ENV} is set"
        )
    return auth_enabled, keys


def cors_origins(environ: Mapping[str, str]) -> tuple[str, ...]:
    return _origins(environ.get(CORS_ORIGINS_ENV))


def max_request_bytes(environ: Mapping[str, str]) -> int:
    return int(_number(environ, MAX_REQUEST_BYTES_ENV, DEFAULT_MAX_REQUEST_BYTES, whole=True, minimum=1, unit="bytes"))


def tls_pair(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The PEM certificate and key to serve HTTPS with, or (None, None)."""
    tls_cert, tls_key = environ.get(TLS_CERT_ENV) or None, environ.get(TLS_KEY_ENV) or None
    if bool(tls_cert) != bool(tls_key):
        raise SettingsError(f"{TLS_CERT_ENV} and {TLS_KEY_ENV} are set together or not at all")
    return tls_cert, tls_key


@dataclass(frozen=True)
class Settings:
    entry_script: str
    app_root: str
    source_dir: str | None = None
    model_dir: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    worker_count: int = 1
    scoring_timeout_ms: int = DEFAULT_SCORING_TIMEOUT_MS
    auth_enabled: bool = False
    keys: KeySource = field(default_factory=KeySource)
    token_auth_enabled: bool = False
    token_keys: KeySource = field(default_factory=KeySource)
    token_audience: str = ""
    cors_origins: tuple[str, ...] = ()
    aml_cors_origins: tuple[str, ...] = ()
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    tls_cert: str | None = None
    tls_key: str | None = None
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS
    keep_alive_seconds: float = DEFAULT_KEEP_ALIVE_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_header_line_bytes: int = DEFAULT_MAX_HEADER_LINE_BYTES
    max_header_count: int = DEFAULT_MAX_HEADER_COUNT
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    memory_limit_bytes: int | None = None  # None: the cgroup's limit, if any (memory.py)
    memory_per_body_byte: float = 0.0  # 0: memory.py's measured default
    inline_after_calls: int = DEFAULT_INLINE_AFTER_CALLS
    service_name: str = DEFAULT_SERVICE_NAME
    service_version: str = DEFAULT_SERVICE_VERSION
    service_path_prefix: str = ""
    server_version_header: str | None = None
    # The rollout version this container serves: on every response, access-log line, App Insights
    # record and metric (MODELSTACK_VERSION, else SERVICE_NAME, else "default").
    rollout_version: str = DEFAULT_ROLLOUT_VERSION
    metrics_enabled: bool = True
    # /metrics needs a key or token when scoring does, unless MODELSTACK_METRICS_AUTH is "false".
    metrics_auth: bool = True
    app_insights_enabled: bool = False
    app_insights_key: str | None = None
    # enable_app_insights: request telemetry to this Application Insights resource (telemetry.py)
    app_insights_connection_string: str | None = None

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, host: str = DEFAULT_HOST, server_version: str = ""
    ) -> Settings:
        entry_script = environ.get(ENTRY_SCRIPT_ENV)
        if not entry_script:
            raise SettingsError(f"no entry script: pass --entry_script PATH or set {ENTRY_SCRIPT_ENV}")
        app_root = environ.get(APP_ROOT_ENV) or os.getcwd()
        if not os.path.isabs(entry_script):
            entry_script = os.path.join(app_root, entry_script)
        if not os.path.isfile(entry_script):
            raise SettingsError(f"{ENTRY_SCRIPT_ENV} names {entry_script}, which is not a file")

        port = int(_number(environ, "SERVER_PORT", DEFAULT_PORT, whole=True, minimum=0, unit="port"))
        if port > 65535:
            raise SettingsError(f"SERVER_PORT is {port}; a port is at most 65535")
        workers = int(_number(environ, WORKER_COUNT_ENV, 1, whole=True, minimum=1, unit="workers"))
        timeout_ms = int(
            _number(
                environ, SCORING_TIMEOUT_ENV, DEFAULT_SCORING_TIMEOUT_MS, whole=True, minimum=1, unit="milliseconds"
            )
        )

        auth_enabled, keys = key_auth(environ)
        keys_dir = environ.get(KEYS_DIR_ENV) or None
        token_auth_enabled = truthy(environ.get(TOKEN_AUTH_ENABLED_ENV))
        token_keys = KeySource(environ.get(TOKEN_SIGNING_KEY_ENV, ""), folder=keys_dir, files=TOKEN_KEY_FILES)
        token_audience = environ.get(TOKEN_AUDIENCE_ENV) or ""
        if token_auth_enabled and auth_enabled:
            raise SettingsError(
                f"{AUTH_ENABLED_ENV} and {TOKEN_AUTH_ENABLED_ENV} are both true; a service authenticates with keys or with tokens"
            )
        if token_auth_enabled and keys_dir is None and not token_keys.keys():
            raise SettingsError(
                f"{TOKEN_AUTH_ENABLED_ENV} is true but neither {TOKEN_SIGNING_KEY_ENV} nor {KEYS_DIR_ENV} is set"
            )
        if token_auth_enabled and not token_audience:
            raise SettingsError(
                f"{TOKEN_AUTH_ENABLED_ENV} is true but {TOKEN_AUDIENCE_ENV} (the service's name, which tokens are issued for) is not set"
            )
        tls_cert, tls_key = tls_pair(environ)

        insights_key = environ.get(APP_INSIGHTS_KEY_ENV) or None
        version_header = server_version if environ.get(SERVER_VERSION_ENABLED_ENV, "true").lower() == "true" else None
        return cls(
            entry_script=os.path.realpath(entry_script),
            app_root=app_root,
            source_dir=environ.get(SOURCE_DIR_ENV) or None,
            model_dir=environ.get(MODEL_DIR_ENV) or None,
            host=host,
            port=port,
            worker_count=workers,
            scoring_timeout_ms=timeout_ms,
            auth_enabled=auth_enabled,
            keys=keys,
            token_auth_enabled=token_auth_enabled,
            token_keys=token_keys,
            token_audience=token_audience,
            cors_origins=cors_origins(environ),
            aml_cors_origins=_origins(environ.get(AML_CORS_ORIGINS_ENV)),
            max_request_bytes=max_request_bytes(environ),
            tls_cert=tls_cert,
            tls_key=tls_key,
            header_timeout_seconds=_number(
                environ, HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT_SECONDS, whole=False, minimum=0.1, unit="seconds"
            ),
            body_timeout_seconds=_number(
                environ, BODY_TIMEOUT_ENV, DEFAULT_BODY_TIMEOUT_SECONDS, whole=False, minimum=0.1, unit="seconds"
            ),
            keep_alive_seconds=_number(
                environ, KEEP_ALIVE_ENV, DEFAULT_KEEP_ALIVE_SECONDS, whole=False, minimum=0.1, unit="seconds"
            ),
            max_connections=int(
                _number(
                    environ, MAX_CONNECTIONS_ENV, DEFAULT_MAX_CONNECTIONS, whole=True, minimum=1, unit="connections"
                )
            ),
            max_header_line_bytes=int(
                _number(
                    environ, MAX_HEADER_LINE_ENV, DEFAULT_MAX_HEADER_LINE_BYTES, whole=True, minimum=256, unit="bytes"
                )
            ),
            max_header_count=int(
                _number(environ, MAX_HEADER_COUNT_ENV, DEFAULT_MAX_HEADER_COUNT, whole=True, minimum=8, unit="headers")
            ),
            max_header_bytes=int(
                _number(environ, MAX_HEADER_BYTES_ENV, DEFAULT_MAX_HEADER_BYTES, whole=True, minimum=1024, unit="bytes")
            ),
            memory_limit_bytes=_optional_whole(environ, MEMORY_LIMIT_ENV, minimum=64 * 1024 * 1024, unit="bytes"),
            memory_per_body_byte=_number(
                environ,
                MEMORY_PER_BODY_BYTE_ENV,
                0.0,
                whole=False,
                minimum=1.0,
                unit="bytes of memory per byte of body",
            )
            if environ.get(MEMORY_PER_BODY_BYTE_ENV, "").strip()
            else 0.0,
            inline_after_calls=int(
                _number(environ, INLINE_AFTER_ENV, DEFAULT_INLINE_AFTER_CALLS, whole=True, minimum=1, unit="calls")
            ),
            service_name=environ.get(SERVICE_NAME_ENV) or DEFAULT_SERVICE_NAME,
            service_version=environ.get(SERVICE_VERSION_ENV) or DEFAULT_SERVICE_VERSION,
            service_path_prefix=environ.get(SERVICE_PATH_PREFIX_ENV) or "",
            server_version_header=version_header or None,
            rollout_version=rollout_version(environ),
            metrics_enabled=_flag(environ, METRICS_ENABLED_ENV),
            metrics_auth=_flag(environ, METRICS_AUTH_ENV),
            # As azmlinfsrv: on only with "true" and a key that is a UUID.
            app_insights_enabled=environ.get(APP_INSIGHTS_ENABLED_ENV) == "true" and _is_uuid(insights_key),
            app_insights_key=insights_key,
            app_insights_connection_string=environ.get(APP_INSIGHTS_CONNECTION_STRING_ENV) or None,
        )

    def connection_limits(self):
        from .protocol import ConnectionLimits

        return ConnectionLimits(
            self.header_timeout_seconds,
            self.max_header_line_bytes,
            self.max_header_count,
            self.max_header_bytes,
            self.max_connections,
        )

    def origin_allowed(self, origin: str | None) -> bool:
        return cors.origin_allowed(self.cors_origins, origin)

    def allow_origin_value(self, origin: str) -> str:
        return cors.allow_origin_value(self.cors_origins, origin)


def rollout_version(environ: Mapping[str, str]) -> str:
    """MODELSTACK_VERSION, else the service's name, else "default"; kept to what a header and a
    log line can carry (printable ASCII, no spaces)."""
    value = (environ.get(ROLLOUT_VERSION_ENV) or "").strip()
    if value:
        if not all(33 <= ord(character) < 127 for character in value) or len(value) > 253:
            raise SettingsError(
                f"{ROLLOUT_VERSION_ENV} is {value!r}; a version name is at most 253 printable ASCII characters, no spaces"
            )
        return value
    # The service's name (azmlinfsrv's SERVICE_NAME may hold anything: what cannot be carried becomes -)
    service = "".join(c if 33 <= ord(c) < 127 else "-" for c in (environ.get(SERVICE_NAME_ENV) or "").strip())[:253]
    return service or DEFAULT_ROLLOUT_VERSION


def _flag(environ: Mapping[str, str], name: str) -> bool:
    """On unless set to false (true/false, 1/0, yes/no)."""
    value = (environ.get(name) or "").strip().lower()
    if value in ("", "true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise SettingsError(f"{name} is {value!r}; use true or false")


def _is_uuid(value: str | None) -> bool:
    import re

    if not value:
        return False
    return (
        re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", value) is not None
    )
