"""Request bodies, streamed answers and hostile headers, under both servers where azmlinfsrv's
behaviour is the contract, under modelstack's alone where it differs on purpose (docs/scoring-server.md,
"Where the two servers differ on purpose").

Every server is a real process on 127.0.0.1 (conftest.py); expected values are written out or
computed here from what the test sent (a SHA-256 of the bytes sent), never by the server's code.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import re
import socket

import pytest
import requests

from tests.compat.test_compat import normalised_parts

KEY = "hostile-input-key-0123"
BOTH = ("azmlinfsrv", "modelstack")


def raw_call(port: int, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> dict:
    """A request with headers exactly as listed (repeated names, padded values), through
    http.client, which sends them as given; the answer normalised as test_compat compares."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body or method == "POST":
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return normalised_parts(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def exchange(port: int, request: bytes) -> bytes:
    """Raw bytes in, everything the server answers until it closes (bounded by the socket timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before all of it was read: the answer is still there to read
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


# --- bodies -------------------------------------------------------------------------------------


def _chunks(data: bytes, size: int):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [1, 65_537, 10_000_000])
def test_chunked_bodies_reach_a_rawhttp_script_whole(servers, size):
    """requests sends a generator's items as Transfer-Encoding: chunked; the script must see every byte."""
    started = servers("rawhttp_body_digest.py")
    body = random.Random(size).randbytes(size)
    expected = {"length": size, "sha256": hashlib.sha256(body).hexdigest()}
    for kind in BOTH:
        answer = requests.post(
            started[kind].base + "/score",
            data=_chunks(body, 65_536),
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert answer.status_code == 200, (kind, answer.text)
        assert answer.json() == expected, kind
        assert "chunked" in answer.request.headers.get("Transfer-Encoding", ""), (
            "the test did not send the body chunked"
        )


def test_a_chunked_json_body_reaches_a_rawhttp_script(servers):
    started = servers("rawhttp_echo.py")
    for kind in BOTH:
        answer = requests.post(
            started[kind].base + "/score",
            data=iter([b'{"x": ', b"[1, 2]}"]),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert answer.json()["json"] == {"x": [1, 2]}, (kind, answer.text)


# --- streaming ----------------------------------------------------------------------------------


def test_a_generator_response_goes_out_item_by_item(servers, tmp_path):
    """The generator yields its first item, then waits for a file this test creates only after
    it has read that item: the item can only have arrived while the generator was still running."""
    started = servers("rawhttp_streams.py")
    for kind in BOTH:
        gate = tmp_path / f"gate-{kind}"
        with requests.get(started[kind].base + "/score", params={"gate": str(gate)}, stream=True, timeout=60) as answer:
            assert answer.status_code == 200 and answer.headers.get("Transfer-Encoding") == "chunked", (
                kind,
                answer.headers,
            )
            assert "Content-Length" not in answer.headers
            first = answer.raw.readline()
            assert first == b"first\n", (kind, first)
            assert not gate.exists()
            gate.touch()
            assert answer.raw.read() == b"second\nthird\n", kind
    server = started["modelstack"]
    server.stop()
    assert re.search(r" I \[\d+\] azmlinfsrv - GET /score\?gate=\S+ 200 \d+\.\d{3}ms N/A default\n", server.log()), (
        server.log()[-2000:]
    )


# --- what run() returns -------------------------------------------------------------------------


def test_nan_is_refused_with_a_clear_error_not_sent_as_invalid_json(servers):
    """Differs on purpose: azmlinfsrv sends `NaN`, which no strict JSON parser accepts."""
    started = servers("returns_nan.py")
    theirs = requests.post(started["azmlinfsrv"].base + "/score", data='{"value": "nan"}', timeout=10)
    assert (theirs.status_code, theirs.content) == (200, b'{"prediction": NaN}'), (
        "azmlinfsrv's behaviour changed: revisit the decision"
    )
    for value in ("nan", "inf", "-inf"):
        ours = requests.post(started["modelstack"].base + "/score", data=json.dumps({"value": value}), timeout=10)
        assert ours.status_code == 500 and ours.headers["x-ms-run-function-failed"] == "True", ours.text
        assert ours.json() == {
            "message": "run() returned NaN or Infinity, which JSON cannot represent; return None (null) or a string for such values"
        }
        assert ours.headers.get("x-request-id")
    assert requests.post(started["modelstack"].base + "/score", data='{"value": 1.5}', timeout=10).json() == {
        "prediction": 1.5
    }


# --- headers ------------------------------------------------------------------------------------


def test_repeated_and_padded_request_headers_as_azmlinfsrv(servers):
    started = servers("rawhttp_echo.py")
    calls = [
        (
            "POST",
            "/score",
            [("Content-Type", "application/json"), ("x-request-id", "first"), ("x-request-id", "second")],
            b'{"x": 1}',
        ),
        ("POST", "/score", [("Content-Type", "application/json"), ("X-Custom", "padded \t  ")], b'{"x": 1}'),
        ("POST", "/score", [("Content-Type", "application/json"), ("X_Custom", "smuggled")], b'{"x": 1}'),
        (
            "POST",
            "/score",
            [("Content-Type", "application/json"), ("X-Custom", "kept"), ("X_Custom", "smuggled")],
            b'{"x": 1}',
        ),
        ("POST", "//score", [("Content-Type", "application/json")], b'{"x": 1}'),
        ("GET", "//score?a=1", [], b""),
        ("GET", "//", [], b""),
    ]
    differences = []
    for call in calls:
        theirs, ours = (raw_call(started[kind].port, *call) for kind in BOTH)
        if ours != theirs:
            differences.append(f"{call[:3]}\nazmlinfsrv: {theirs}\nmodelstack: {ours}")
    assert not differences, "\n\n".join(differences)
    answer = raw_call(started["modelstack"].port, *calls[0])
    assert answer["headers"]["x-request-id"] == ["first,second"]
    assert json.loads(raw_call(started["modelstack"].port, *calls[2])["body"])["custom"] is None


def test_two_authorization_headers_are_refused(servers):
    started = servers(
        "plain_json_string.py",
        {"MODELSTACK_AUTH_ENABLED": "true", "MODELSTACK_PRIMARY_KEY": KEY},
        kinds=("modelstack",),
    )
    port = started["modelstack"].port
    good = [("Content-Type", "application/json"), ("Authorization", f"Bearer {KEY}")]
    assert raw_call(port, "POST", "/score", good, b'"x"')["status"] == 200
    for second in (f"Bearer {KEY}", "Bearer wrong"):
        answer = raw_call(port, "POST", "/score", good + [("Authorization", second)], b'"x"')
        assert answer["status"] == 401, answer
        assert json.loads(answer["body"]) == {"message": "the request has more than one Authorization header; send one"}


def _request_with(headers: list[tuple[str, str]], path: str = "/score") -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Connection: close",
        "Content-Type: application/json",
        "Content-Length: 2",
    ]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n{}").encode("latin-1")


def test_request_headers_past_the_limits_get_431(servers):
    started = servers("plain_json_string.py", kinds=("modelstack",))
    port = started["modelstack"].port
    within = [(f"X-H{i}", "v" * 300) for i in range(90)] + [
        ("X-Long", "v" * 8000)
    ]  # 94 headers, lines under 8190 bytes, 35 KB in all
    assert exchange(port, _request_with(within[:20] + within[-1:])).startswith(b"HTTP/1.1 200 "), "25 headers, 14 KB"
    answer = exchange(port, _request_with(within[:70]))
    assert answer.startswith(b"HTTP/1.1 200 "), ("74 headers, 22 KB", answer[:300])
    refused = {
        "a line over 8190 bytes": (
            [("X-Long", "v" * 8190)],
            b"a request header is longer than 8190 bytes (MODELSTACK_MAX_HEADER_LINE_BYTES)",
        ),
        "more than 100 headers": (
            [(f"X-H{i}", "v") for i in range(100)],
            b"more than 100 request headers (MODELSTACK_MAX_HEADER_COUNT)",
        ),
        "more than 32 KiB in all": (
            [(f"X-H{i}", "v" * 8000) for i in range(5)],
            b"the request's headers are longer than 32768 bytes (MODELSTACK_MAX_HEADER_BYTES)",
        ),
        "one header of 50 MiB": ([("X-Huge", "v" * (50 * 2**20))], b"longer than"),
    }
    for case, (headers, message) in refused.items():
        answer = exchange(port, _request_with(headers))
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), (case, answer[:200])
        assert message in answer and b"connection: close" in answer.lower(), (case, answer[-300:])
    answer = exchange(port, _request_with([], path="/score?" + "q" * 9000))
    assert answer.startswith(b"HTTP/1.1 414 URI Too Long\r\n"), answer[:200]
    assert requests.get(started["modelstack"].base + "/", timeout=10).status_code == 200


def test_the_header_limits_are_configurable(servers):
    started = servers(
        "plain_json_string.py",
        {
            "MODELSTACK_MAX_HEADER_COUNT": "10",
            "MODELSTACK_MAX_HEADER_LINE_BYTES": "1000",
            "MODELSTACK_MAX_HEADER_BYTES": "4096",
        },
        kinds=("modelstack",),
    )
    port = started["modelstack"].port
    assert exchange(port, _request_with([(f"X-H{i}", "v") for i in range(5)])).startswith(b"HTTP/1.1 200 ")
    assert exchange(port, _request_with([(f"X-H{i}", "v") for i in range(7)])).startswith(
        b"HTTP/1.1 431 "
    )  # 12 with Host and the three above
    assert exchange(port, _request_with([("X-Long", "v" * 1000)])).startswith(b"HTTP/1.1 431 ")
    assert exchange(port, _request_with([(f"X-H{i}", "v" * 900) for i in range(5)])).startswith(b"HTTP/1.1 431 ")
