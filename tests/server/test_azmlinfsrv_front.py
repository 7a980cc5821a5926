"""The front of azmlinfsrv (modelstack_server/azmlinfsrv_front.py), in process: key auth, CORS,
body limit and settings, against a stand-in for the scoring server's WSGI app. The same checks
run against a real container in tests/integration/image/test_scoring_front_container.py."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from modelstack_server import azmlinfsrv_front as front, keys, tls
from modelstack_server.keys import KEYS_RECHECK_SECONDS, KeySource
from modelstack_server.settings import SettingsError

SERVER_PACKAGE = Path(front.__file__).resolve().parent

PRIMARY, SECONDARY = "primary-key-0123456789abcdef", "secondary-key-fedcba9876543210"
ORIGIN = "https://app.example.com"


class ScoringServer:
    """Stands in for azmlinfsrv's Flask app: records what reached it."""

    def __init__(self, headers=()):
        self.calls = []
        self.headers = list(headers)

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], body))
        start_response("200 OK", [("Content-Type", "application/json"), *self.headers])
        return [b"[189.8]"]


def call(app, method="POST", path="/score", headers=None, body=b"", chunked=False):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": "test",
        "SERVER_PORT": "5001",
        "wsgi.url_scheme": "http",
    }
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    elif body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"], captured["headers"] = status, response_headers

    payload = b"".join(app(environ, start_response))
    return int(captured["status"].split()[0]), captured["headers"], payload


def fronted(environ=None, server=None):
    settings = front.FrontSettings.from_environ(
        {
            "MODELSTACK_AUTH_ENABLED": "true",
            "MODELSTACK_PRIMARY_KEY": PRIMARY,
            "MODELSTACK_SECONDARY_KEY": SECONDARY,
            "MODELSTACK_CORS_ORIGINS": ORIGIN,
            "MODELSTACK_MAX_REQUEST_BYTES": "1000",
            **(environ or {}),
        }
    )
    server = server or ScoringServer()
    return front.ScoringFront(server, settings), server


def header(headers, name):
    values = [v for k, v in headers if k.lower() == name.lower()]
    return values[0] if len(values) == 1 else (values or None)


# --- key auth ---------------------------------------------------------------------------------------


def test_no_key_is_401_and_the_server_never_sees_the_request():
    app, server = fronted()
    status, headers, body = call(app, body=b'{"data": []}')
    assert status == 401 and server.calls == []
    assert json.loads(body) == {
        "message": "a valid key is required: send Authorization: Bearer <primary or secondary key>"
    }
    assert header(headers, "WWW-Authenticate") == 'Bearer realm="modelstack"'


@pytest.mark.parametrize(
    "authorization", ["Bearer wrong-key", f"Basic {PRIMARY}", f"Bearer {PRIMARY}x", "Bearer ", f"bearer {PRIMARY[:-1]}"]
)
def test_a_wrong_key_is_401(authorization):
    app, server = fronted()
    status, headers, body = call(app, headers={"Authorization": authorization})
    assert status == 401 and server.calls == []


@pytest.mark.parametrize("key", [PRIMARY, SECONDARY])
def test_either_key_is_accepted(key):
    app, server = fronted()
    status, _, body = call(app, headers={"Authorization": f"Bearer {key}"}, body=b'{"data": []}')
    assert (status, body) == (200, b"[189.8]")
    assert server.calls == [("POST", "/score", b'{"data": []}')]


def test_the_scheme_is_case_insensitive():
    app, _ = fronted()
    assert call(app, headers={"Authorization": f"bearer {PRIMARY}"})[0] == 200


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_health_route_is_open(method):
    app, server = fronted()
    assert call(app, method=method, path="/")[0] == 200 and server.calls == [(method, "/", b"")]


@pytest.mark.parametrize("path", ["/swagger.json", "/score", "/anything"])
def test_every_other_route_needs_a_key(path):
    app, _ = fronted()
    assert call(app, method="GET", path=path)[0] == 401


def test_every_key_is_compared_whatever_matched(monkeypatch):
    compared = []
    real = keys.hmac.compare_digest

    def compare_digest(a, b):
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", compare_digest)
    app, _ = fronted()
    call(app, headers={"Authorization": f"Bearer {PRIMARY}"})
    assert compared == [PRIMARY.encode(), SECONDARY.encode()], "constant time: no early exit on the first match"


def test_one_key_only_and_no_empty_match():
    app, _ = fronted({"MODELSTACK_SECONDARY_KEY": ""})
    assert call(app, headers={"Authorization": f"Bearer {PRIMARY}"})[0] == 200
    assert call(app, headers={"Authorization": "Bearer "})[0] == 401


def test_auth_off_passes_everything_as_azure_ml_local_does():
    settings = front.FrontSettings.from_environ({})
    server = ScoringServer()
    app = front.ScoringFront(server, settings)
    assert call(app, body=b"{}")[0] == 200 and len(server.calls) == 1


def test_keys_from_a_folder_rotate_without_a_restart(tmp_path):
    (tmp_path / "primary_key").write_text(PRIMARY + "\n")  # a Secret's file may end with a newline
    (tmp_path / "secondary_key").write_text(SECONDARY)
    now = [100.0]
    source = KeySource(folder=str(tmp_path), clock=lambda: now[0])
    assert source.matches(PRIMARY.encode()) and source.matches(SECONDARY.encode())
    (tmp_path / "primary_key").write_text("rotated-primary-key")
    assert source.matches(PRIMARY.encode()), "looked at again at most once a second"
    now[0] += KEYS_RECHECK_SECONDS
    assert not source.matches(PRIMARY.encode()) and source.matches(b"rotated-primary-key")
    assert source.matches(SECONDARY.encode()), "the other key keeps working during a rotation"
    (tmp_path / "primary_key").unlink()
    (tmp_path / "secondary_key").unlink()
    now[0] += KEYS_RECHECK_SECONDS
    assert not source.matches(b"rotated-primary-key") and not source.matches(b""), "no keys: nothing matches"


# --- CORS -------------------------------------------------------------------------------------------


def preflight(app, origin, requested_headers="authorization, content-type"):
    return call(
        app,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": requested_headers,
        },
    )


def test_preflight_is_answered_for_a_configured_origin():
    app, server = fronted()
    status, headers, _ = preflight(app, ORIGIN)
    assert status == 204 and server.calls == []
    assert dict(headers) == {
        "Access-Control-Allow-Origin": ORIGIN,
        "Vary": "Origin",
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "authorization, content-type",
        "Access-Control-Max-Age": "600",
        "Content-Length": "0",
    }


def test_preflight_is_refused_for_any_other_origin():
    app, server = fronted()
    status, headers, body = preflight(app, "https://evil.example.com")
    assert status == 403 and server.calls == []
    assert header(headers, "Access-Control-Allow-Origin") is None
    assert json.loads(body) == {"message": "origin https://evil.example.com is not allowed to call this service"}


def test_preflight_with_auth_on_and_no_origins_is_refused():
    app, _ = fronted({"MODELSTACK_CORS_ORIGINS": ""})
    assert preflight(app, ORIGIN)[0] == 403


def test_preflight_with_auth_off_and_no_origins_reaches_the_entry_script():
    """A v1 entry script with @rawhttp may answer CORS itself: without auth and origins, it still does."""
    server = ScoringServer()
    app = front.ScoringFront(server, front.FrontSettings.from_environ({}))
    assert preflight(app, ORIGIN)[0] == 200 and server.calls == [("OPTIONS", "/score", b"")]


def test_odd_requested_headers_are_not_echoed():
    app, _ = fronted()
    _, headers, _ = preflight(app, ORIGIN, "x-a\r\nSet-Cookie: y")
    assert header(headers, "Access-Control-Allow-Headers") == "Authorization, Content-Type"


def test_responses_to_a_configured_origin_carry_allow_origin():
    app, _ = fronted()
    assert (
        header(
            call(app, headers={"Origin": ORIGIN, "Authorization": f"Bearer {PRIMARY}"})[1],
            "Access-Control-Allow-Origin",
        )
        == ORIGIN
    )
    assert header(call(app, headers={"Origin": ORIGIN})[1], "Access-Control-Allow-Origin") == ORIGIN, (
        "a browser can read the 401"
    )
    assert (
        header(
            call(app, headers={"Origin": "https://evil.example.com", "Authorization": f"Bearer {PRIMARY}"})[1],
            "Access-Control-Allow-Origin",
        )
        is None
    )


def test_an_entry_scripts_own_allow_origin_is_not_doubled():
    app, _ = fronted(server=ScoringServer(headers=[("Access-Control-Allow-Origin", ORIGIN)]))
    _, headers, _ = call(app, headers={"Origin": ORIGIN, "Authorization": f"Bearer {PRIMARY}"})
    assert [v for k, v in headers if k == "Access-Control-Allow-Origin"] == [ORIGIN]


def test_any_origin():
    app, _ = fronted({"MODELSTACK_CORS_ORIGINS": "*"})
    status, headers, _ = preflight(app, "https://anywhere.example.org")
    assert status == 204 and header(headers, "Access-Control-Allow-Origin") == "*"


# --- body size --------------------------------------------------------------------------------------


def test_an_oversized_body_is_413_before_the_server_reads_it():
    app, server = fronted()
    status, _, body = call(app, headers={"Authorization": f"Bearer {PRIMARY}"}, body=b"x" * 1001)
    assert status == 413 and server.calls == []
    assert json.loads(body) == {"message": "the request body is larger than 1000 bytes"}


def test_a_body_at_the_limit_passes():
    app, server = fronted()
    assert call(app, headers={"Authorization": f"Bearer {PRIMARY}"}, body=b"x" * 1000)[0] == 200


def test_a_chunked_body_is_limited_and_passed_on_whole():
    app, server = fronted()
    assert call(app, headers={"Authorization": f"Bearer {PRIMARY}"}, body=b"x" * 1001, chunked=True)[0] == 413
    assert call(app, headers={"Authorization": f"Bearer {PRIMARY}"}, body=b"y" * 999, chunked=True)[0] == 200
    assert server.calls == [("POST", "/score", b"y" * 999)]


def test_an_unauthenticated_oversized_body_is_401_not_413():
    app, _ = fronted()
    assert call(app, body=b"x" * 5000)[0] == 401


# --- settings and start -------------------------------------------------------------------------------


def test_auth_without_any_key_refuses_to_start():
    with pytest.raises(
        SettingsError,
        match="MODELSTACK_AUTH_ENABLED is true but neither MODELSTACK_PRIMARY_KEY, MODELSTACK_SECONDARY_KEY nor MODELSTACK_KEYS_DIR is set",
    ):
        front.FrontSettings.from_environ({"MODELSTACK_AUTH_ENABLED": "true"})


@pytest.mark.parametrize(
    "value, message", [("lots", "is 'lots', not a whole number of bytes"), ("0", "is 0; it must be at least 1 bytes")]
)
def test_bad_body_limit(value, message):
    """The messages of modelstack's server: the front reads the setting with the server's code."""
    with pytest.raises(SettingsError, match=message):
        front.FrontSettings.from_environ({"MODELSTACK_MAX_REQUEST_BYTES": value})


def test_gunicorn_arguments():
    assert front._gunicorn_arguments({}, {"control_socket_disable"}, None) == [
        "--no-control-socket",
        "--graceful-timeout",
        "65",
    ]
    assert front._gunicorn_arguments({"SCORING_TIMEOUT_MS": "400000"}, set(), ("/t/cert.pem", "/t/key.pem")) == [
        "--graceful-timeout",
        "405",
        "--certfile",
        "/t/cert.pem",
        "--keyfile",
        "/t/key.pem",
    ]


def test_tls_files_are_private(tmp_path, monkeypatch):
    monkeypatch.setattr(tls.tempfile, "tempdir", str(tmp_path))
    files = front._write_tls_files({"MODELSTACK_TLS_CERT": "CERT", "MODELSTACK_TLS_KEY": "KEY"})
    assert files is not None
    cert, key = files
    assert Path(cert).read_text() == "CERT" and Path(key).read_text() == "KEY"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and stat.S_IMODE(os.stat(Path(key).parent).st_mode) == 0o700
    assert front._write_tls_files({}) is None
    with pytest.raises(SettingsError, match="set together or not at all"):
        front._write_tls_files({"MODELSTACK_TLS_CERT": "CERT"})


def test_tls_values_that_are_not_pem_stop_the_front_with_what_was_wrong(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tls.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("MODELSTACK_TLS_CERT", "not a certificate")
    monkeypatch.setenv("MODELSTACK_TLS_KEY", "not a key")
    with pytest.raises(SystemExit) as stopped:
        front.main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "modelstack front: MODELSTACK_TLS_CERT and MODELSTACK_TLS_KEY must hold a PEM certificate and its PEM "
        "private key (-----BEGIN CERTIFICATE----- ... and -----BEGIN PRIVATE KEY----- ...); they could not be "
        "loaded (not PEM)\n"
    )


def test_token_auth_is_refused_at_start():
    """Fail closed: an image of azmlinfsrv cannot verify tokens, so it does not serve without them."""
    with pytest.raises(
        SettingsError,
        match="MODELSTACK_TOKEN_AUTH_ENABLED is true, but token auth is verified by modelstack's scoring server only",
    ):
        front.FrontSettings.from_environ({"MODELSTACK_TOKEN_AUTH_ENABLED": "true"})


# --- in the image -------------------------------------------------------------------------------------

# The server's dependencies and azmlinfsrv's: none may load with the front's module (azmlinfsrv
# and gunicorn are imported by main(), after the settings are read).
HEAVY = ("uvicorn", "h11", "httptools", "uvloop", "jwt", "gunicorn", "flask", "azureml_inference_server_http")


def test_the_front_runs_from_the_modules_its_image_carries(tmp_path):
    """The image of azmlinfsrv holds FRONT_MODULES of the package and nothing else of it; the front
    imports from those alone, and nothing of the server's dependencies."""
    from components.image.build_context import FRONT_MODULES

    package = tmp_path / "modelstack_server"
    package.mkdir()
    for name in FRONT_MODULES:
        (package / name).write_bytes((SERVER_PACKAGE / name).read_bytes())
    # -I -S: no PYTHONPATH, no site-packages (the checkout's editable install among them): the
    # standard library and the copied modules only
    probe = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])  # as the image's PYTHONPATH=/opt/modelstack\n"
        "import modelstack_server.azmlinfsrv_front as front\n"
        "loaded = [m.__file__ for name, m in sys.modules.items() if name.startswith('modelstack_server')]\n"
        "assert all(f.startswith(sys.argv[1]) for f in loaded), loaded\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_check_of_the_front_modules_can_fail(tmp_path):
    """Without keys.py, which the front imports, the copied modules do not run."""
    from components.image.build_context import FRONT_MODULES

    package = tmp_path / "modelstack_server"
    package.mkdir()
    for name in FRONT_MODULES:
        if name != "keys.py":
            (package / name).write_bytes((SERVER_PACKAGE / name).read_bytes())
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import modelstack_server.azmlinfsrv_front"
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "No module named 'modelstack_server.keys'" in result.stderr
