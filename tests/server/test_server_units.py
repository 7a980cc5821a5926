"""The pure parts of modelstack_server, in process: settings validation, key auth, CORS,
request ids and run()'s arguments. Expected values are written out here, from azmlinfsrv's
documented behaviour and the front's, never computed by the code under test."""

from __future__ import annotations

import inspect
import json
import sys

import pytest

from modelstack_server import cors, keys, request_ids
from modelstack_server.entry_script import (
    JSON_STRING,
    SCHEMA,
    EntryScript,
    InputError,
    UnsupportedMethod,
    analyse,
    query_parameters,
    run_arguments,
    title_case_headers,
)
from modelstack_server.settings import Settings, SettingsError

PRIMARY, SECONDARY = "primary-key-0123", "secondary-key-4567"


@pytest.fixture
def script_file(tmp_path):
    path = tmp_path / "score.py"
    path.write_text("def init(): pass\ndef run(data): return data\n")
    return path


def settings(script_file, **environ):
    return Settings.from_environ({"AZUREML_ENTRY_SCRIPT": str(script_file), **environ})


# --- settings ------------------------------------------------------------------------------------


def test_defaults_are_azmlinfsrvs_and_the_fronts(script_file):
    s = settings(script_file)
    assert (s.port, s.worker_count, s.scoring_timeout_ms, s.max_request_bytes) == (5001, 1, 3600000, 104857600)
    assert (s.header_timeout_seconds, s.body_timeout_seconds, s.keep_alive_seconds, s.max_connections) == (
        10.0,
        30.0,
        75.0,
        1024,
    )
    assert (s.auth_enabled, s.cors_origins, s.aml_cors_origins, s.app_insights_enabled) == (False, (), (), False)


def test_a_relative_entry_script_is_under_the_app_root(tmp_path, script_file):
    s = Settings.from_environ({"AZUREML_ENTRY_SCRIPT": "score.py", "AML_APP_ROOT": str(tmp_path)})
    assert s.entry_script == str(script_file.resolve())


@pytest.mark.parametrize(
    "environ, error",
    [
        ({"AZUREML_ENTRY_SCRIPT": ""}, "no entry script: pass --entry_script PATH or set AZUREML_ENTRY_SCRIPT"),
        (
            {"AZUREML_ENTRY_SCRIPT": "/nowhere/score.py"},
            "AZUREML_ENTRY_SCRIPT names /nowhere/score.py, which is not a file",
        ),
        ({"WORKER_COUNT": "two"}, "WORKER_COUNT is 'two', not a whole number of workers"),
        ({"WORKER_COUNT": "0"}, "WORKER_COUNT is 0; it must be at least 1 workers"),
        ({"SCORING_TIMEOUT_MS": "1.5"}, "SCORING_TIMEOUT_MS is '1.5', not a whole number of milliseconds"),
        ({"MODELSTACK_MAX_REQUEST_BYTES": "0"}, "MODELSTACK_MAX_REQUEST_BYTES is 0; it must be at least 1 bytes"),
        (
            {"MODELSTACK_HEADER_TIMEOUT_SECONDS": "soon"},
            "MODELSTACK_HEADER_TIMEOUT_SECONDS is 'soon', not a number of seconds",
        ),
        ({"MODELSTACK_MAX_CONNECTIONS": "-1"}, "MODELSTACK_MAX_CONNECTIONS is -1; it must be at least 1 connections"),
        (
            {"MODELSTACK_AUTH_ENABLED": "true"},
            "MODELSTACK_AUTH_ENABLED is true but neither MODELSTACK_PRIMARY_KEY, MODELSTACK_SECONDARY_KEY nor MODELSTACK_KEYS_DIR is set",
        ),
        ({"MODELSTACK_TLS_CERT": "PEM"}, "MODELSTACK_TLS_CERT and MODELSTACK_TLS_KEY are set together or not at all"),
        ({"SERVER_PORT": "70000"}, "SERVER_PORT is 70000; a port is at most 65535"),
    ],
)
def test_bad_settings_name_the_variable(script_file, environ, error):
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"AZUREML_ENTRY_SCRIPT": str(script_file), **environ})
    assert str(raised.value) == error


def test_app_insights_needs_true_and_a_uuid_key(script_file):
    key = "0f0e0d0c-0b0a-4909-8807-060504030201"
    assert settings(script_file, AML_APP_INSIGHTS_ENABLED="true", AML_APP_INSIGHTS_KEY=key).app_insights_enabled
    assert not settings(
        script_file, AML_APP_INSIGHTS_ENABLED="true", AML_APP_INSIGHTS_KEY="not-a-uuid"
    ).app_insights_enabled
    assert not settings(script_file, AML_APP_INSIGHTS_ENABLED="yes", AML_APP_INSIGHTS_KEY=key).app_insights_enabled


def test_origins_are_trimmed(script_file):
    s = settings(
        script_file,
        MODELSTACK_CORS_ORIGINS=" https://a.example.com/ ,https://b.example.com",
        AML_CORS_ORIGINS="https://c.example.com",
    )
    assert s.cors_origins == ("https://a.example.com", "https://b.example.com") and s.aml_cors_origins == (
        "https://c.example.com",
    )
    assert (
        s.origin_allowed("https://a.example.com")
        and not s.origin_allowed("https://c.example.com")
        and not s.origin_allowed(None)
    )


# --- keys --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, (keys.MISSING_KEY_MESSAGE, 'Bearer realm="modelstack"')),
        (b"Bearer wrong", ("the key is not valid", 'Bearer realm="modelstack", error="invalid_token"')),
        (b"Basic " + PRIMARY.encode(), ("the key is not valid", 'Bearer realm="modelstack"')),
        (b"Bearer ", ("the key is not valid", 'Bearer realm="modelstack"')),
        (b"Bearer " + PRIMARY.encode(), None),
        (b"bearer " + SECONDARY.encode(), None),
    ],
)
def test_key_refusals(header, expected):
    assert keys.refusal(header, keys.KeySource(PRIMARY, SECONDARY)) == expected


def test_keys_from_a_folder_rotate(tmp_path):
    (tmp_path / "primary_key").write_text(PRIMARY + "\n")
    (tmp_path / "secondary_key").write_text(SECONDARY)
    now = [10.0]
    source = keys.KeySource(folder=str(tmp_path), clock=lambda: now[0])
    assert source.matches(PRIMARY.encode()) and source.matches(SECONDARY.encode())
    (tmp_path / "primary_key").write_text("rotated")
    assert source.matches(PRIMARY.encode()), "looked at again at most once a second"
    now[0] += 1.0
    assert not source.matches(PRIMARY.encode()) and source.matches(b"rotated") and source.matches(SECONDARY.encode())
    (tmp_path / "primary_key").unlink()
    (tmp_path / "secondary_key").unlink()
    now[0] += 1.0
    assert not source.matches(b"rotated") and not source.matches(b"")


# --- CORS ------------------------------------------------------------------------------------------


def test_front_preflight_headers():
    assert cors.preflight_headers("https://a.example.com", "authorization, content-type") == [
        ("Access-Control-Allow-Origin", "https://a.example.com"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "authorization, content-type"),
        ("Access-Control-Max-Age", "600"),
    ]
    assert (
        dict(cors.preflight_headers("o", "x-a\r\nSet-Cookie: y"))["Access-Control-Allow-Headers"]
        == "Authorization, Content-Type"
    )


def test_a_scripts_own_cors_header_is_not_doubled():
    assert cors.add_missing(
        [("access-control-allow-origin", "mine")], [("Access-Control-Allow-Origin", "front"), ("Vary", "Origin")]
    ) == [("access-control-allow-origin", "mine"), ("Vary", "Origin")]


def test_aml_cors_as_flask_cors():
    policy = cors.AmlCors(("https://a.example.com",))
    assert policy.headers("POST", "https://a.example.com", None, None, set()) == [
        ("Access-Control-Allow-Origin", "https://a.example.com"),
        ("Vary", "Origin"),
    ]
    assert policy.headers("POST", "https://evil.example.com", None, None, set()) == []
    assert policy.headers("OPTIONS", "https://a.example.com", "POST", "content-type,x-a", set()) == [
        ("Access-Control-Allow-Origin", "https://a.example.com"),
        ("Access-Control-Allow-Headers", "content-type, x-a"),
        ("Access-Control-Allow-Methods", "GET, POST"),
        ("Vary", "Origin"),
    ]
    assert policy.headers("OPTIONS", "https://a.example.com", "PUT", None, set()) == [
        ("Access-Control-Allow-Origin", "https://a.example.com"),
        ("Vary", "Origin"),
    ]
    assert cors.AmlCors(("*",)).headers("GET", "https://any.example.com", None, None, set()) == [
        ("Access-Control-Allow-Origin", "*")
    ]


# --- request ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent, expected",
    [
        ((None, None, None), request_ids.RequestIds("new", "new", "")),
        (("rid", None, None), request_ids.RequestIds("rid", "rid", "")),
        (("rid", "legacy", None), request_ids.RequestIds("rid", "legacy", "legacy")),
        (("rid", None, "client"), request_ids.RequestIds("rid", "client", "client")),
        (("rid", "legacy", "client"), request_ids.RequestIds("rid", "legacy", "client")),
        (("r" * 101, None, None), request_ids.RequestIds(refusal="x-request-id must not exceed 100 characters")),
        (
            ("rid", None, "c" * 101),
            request_ids.RequestIds(
                request_id="rid", refusal="x-ms-request-id and x-ms-client-request-id must not exceed 100 characters"
            ),
        ),
    ],
)
def test_request_ids(sent, expected):
    request_id, legacy, client = sent
    assert request_ids.request_ids(request_id, legacy, client, new_id=lambda: "new") == expected


def test_request_id_headers():
    assert request_ids.RequestIds("a", "b", "c").response_headers() == [
        ("x-request-id", "a"),
        ("x-ms-request-id", "b"),
        ("x-ms-client-request-id", "c"),
    ]
    assert request_ids.RequestIds("a", "a", "").response_headers() == [("x-request-id", "a"), ("x-ms-request-id", "a")]


# --- run()'s arguments ------------------------------------------------------------------------------


def plain(data):
    return data


def test_an_undecorated_run_gets_the_body_as_a_string():
    script = analyse(plain)
    assert script.kind == JSON_STRING
    assert run_arguments(script, "POST", b"", b'{"a": 1}', "application/json") == {"data": '{"a": 1}'}
    assert run_arguments(script, "POST", b"", b"a=1", "application/x-www-form-urlencoded") == {"data": ""}
    assert json.loads(run_arguments(script, "GET", b"a=1&b=x&b=y&c=%5B1%2C2%5D&d=", b"", None)["data"]) == {
        "a": 1,
        "b": ["x", "y"],
        "c": [1, 2],
        "d": "",
    }
    with pytest.raises(InputError) as raised:
        run_arguments(script, "POST", b"", b"\xff", "text/plain")
    assert (raised.value.status, raised.value.message) == (
        400,
        "Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
    )
    with pytest.raises(UnsupportedMethod):
        run_arguments(script, "OPTIONS", b"", b"", None)


def test_query_parameters():
    assert query_parameters(b"a=1&b=null&c=text&c=%7B%7D") == {"a": 1, "b": None, "c": ["text", {}]}


def schema_script(*names_and_defaults):
    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
        for name, default in names_and_defaults
    ]
    return EntryScript(lambda: None, plain, SCHEMA, parameters, False, None)


@pytest.mark.parametrize(
    "body, content_type, status, message",
    [
        (b'{"data": 1}', "text/plain", 415, "Expects Content-Type to be application/json"),
        (b"", "application/json", 400, "POST body is empty. Expecting a JSON dictionary."),
        (
            b"{broken",
            "application/json",
            400,
            "POST body could not be decoded as JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (b"[1]", "application/json", 400, "POST body should be a JSON dictionary."),
        (b'{"other": 1}', "application/json", 400, "A value is not provided for the 'data' parameter."),
    ],
)
def test_schema_input_errors(body, content_type, status, message):
    with pytest.raises(InputError) as raised:
        run_arguments(schema_script(("data", inspect.Parameter.empty)), "POST", b"", body, content_type)
    assert (raised.value.status, raised.value.message) == (status, message)


def test_schema_arguments_and_defaults():
    script = schema_script(("a", inspect.Parameter.empty), ("b", "default"))
    assert run_arguments(script, "POST", b"", b'{"a": [1], "c": 3}', "application/problem+json; charset=utf-8") == {
        "a": [1],
        "b": "default",
    }
    assert run_arguments(script, "GET", b"a=2&b=q", b"", None) == {"a": 2, "b": "q"}


def test_request_headers_are_title_cased_and_joined():
    assert title_case_headers([(b"x-custom", b"1"), (b"content-type", b"text/plain"), (b"x-custom", b"2")]) == {
        "X-Custom": "1,2",
        "Content-Type": "text/plain",
    }


def test_bad_run_signatures():
    from modelstack_server.entry_script import ScriptError

    def star(*args):
        pass

    def only_headers(request_headers):
        pass

    with pytest.raises(ScriptError, match=r"run\(\) cannot accept positional-only arguments, \*args, or \*\*kwargs."):
        analyse(star)
    with pytest.raises(ScriptError, match='run\\(\\) needs to accept an argument other than "request_headers".'):
        analyse(only_headers)


def test_an_entry_script_whose_name_does_not_end_in_py_is_refused_by_name(tmp_path, monkeypatch):
    """No loader takes such a file: the message says so, not an AttributeError from importlib."""
    from modelstack_server.entry_script import ScriptError, load

    monkeypatch.setattr(sys, "path", list(sys.path))  # load() adds the app's folder
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # and the azureml.contrib aliases
    script = tmp_path / "score.txt"
    script.write_text("def init():\n    pass\n\n\ndef run(data):\n    return data\n")
    with pytest.raises(ScriptError) as caught:
        load(str(script), str(tmp_path))
    assert str(caught.value) == f"the entry script {script} is not a Python file: its name must end in .py"


# --- the access line ---------------------------------------------------------------------------


def test_the_access_line_is_written_as_logging_would_write_it():
    import io
    import logging
    import os
    import re

    from modelstack_server.log_capture import FORMAT, AccessLine, UtcFormatter

    shape = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} I \[%d\] azmlinfsrv - POST /score 200 0\.412ms 7\n"
    stream = io.StringIO()
    AccessLine(stream)("POST /score 200 0.412ms 7")
    assert re.fullmatch(shape % os.getpid(), stream.getvalue()), stream.getvalue()
    record = logging.LogRecord("azmlinfsrv", logging.INFO, __file__, 1, "POST /score 200 0.412ms 7", None, None)
    assert re.fullmatch(shape % os.getpid(), UtcFormatter(FORMAT).format(record) + "\n"), (
        "the same shape as the logger's lines"
    )


def test_a_forked_worker_writes_its_own_pid():
    import io
    import os

    from modelstack_server.log_capture import AccessLine

    read, write = os.pipe()
    line = AccessLine(io.StringIO())
    child = os.fork()
    if child == 0:  # the worker
        stream = io.StringIO()
        line._stream = stream
        line("GET /swagger.json 200 1.000ms 10")
        os.write(write, stream.getvalue().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    written = os.read(read, 4096).decode()
    os.close(read)
    assert f" I [{child}] azmlinfsrv - GET /swagger.json" in written, written


# --- the body limit from the replica's memory ----------------------------------------------------


def test_the_body_limit_follows_the_replicas_memory():
    from modelstack_server.memory import body_limit

    mib = 2**20
    assert body_limit(100 * mib, None, 1, 130 * mib, 12.0) == 100 * mib, "no memory known: the configured limit"
    # 512 MiB, 130 MiB held, 32 MiB of headroom: (512 - 130 - 32) MiB / 12
    assert body_limit(100 * mib, 512 * mib, 1, 130 * mib, 12.0) == 30583466
    assert body_limit(100 * mib, 512 * mib, 2, 130 * mib, 12.0) == 8213845, "two workers share the memory"
    assert body_limit(10 * mib, 8192 * mib, 1, 130 * mib, 12.0) == 10 * mib, "never above the configured limit"
    assert body_limit(100 * mib, 100 * mib, 1, 130 * mib, 12.0) == 65536, "never below 64 KiB"


@pytest.mark.parametrize(
    "content, expected",
    [("536870912\n", 536870912), ("max\n", None), ("9223372036854771712\n", None), ("garbage", None)],
)
def test_the_cgroup_memory_limit(tmp_path, content, expected):
    from modelstack_server.memory import read_cgroup_limit

    (tmp_path / "memory.max").write_text(content)
    assert read_cgroup_limit((str(tmp_path / "nowhere"), str(tmp_path / "memory.max"))) == expected


def test_header_refusals_name_the_limit_and_its_variable():
    from modelstack_server.protocol import ConnectionLimits, header_refusal

    limits = ConnectionLimits(10.0, 8190, 100, 32768, 1024)
    assert header_refusal(limits, 100, 8190, 32768) is None
    assert header_refusal(limits, 101, 10, 100) == "more than 100 request headers (MODELSTACK_MAX_HEADER_COUNT)"
    assert (
        header_refusal(limits, 1, 8191, 8191)
        == "a request header is longer than 8190 bytes (MODELSTACK_MAX_HEADER_LINE_BYTES)"
    )
    assert (
        header_refusal(limits, 5, 10, 32769)
        == "the request's headers are longer than 32768 bytes (MODELSTACK_MAX_HEADER_BYTES)"
    )


def test_the_new_limits_are_validated(script_file):
    with pytest.raises(SettingsError) as raised:
        settings(script_file, MODELSTACK_MAX_HEADER_COUNT="3")
    assert str(raised.value) == "MODELSTACK_MAX_HEADER_COUNT is 3; it must be at least 8 headers"
    with pytest.raises(SettingsError) as raised:
        settings(script_file, MODELSTACK_MEMORY_LIMIT_BYTES="lots")
    assert str(raised.value) == "MODELSTACK_MEMORY_LIMIT_BYTES is 'lots', not a whole number of bytes"
    s = settings(script_file)
    assert (s.max_header_line_bytes, s.max_header_count, s.max_header_bytes, s.memory_limit_bytes) == (
        8190,
        100,
        32768,
        None,
    )
