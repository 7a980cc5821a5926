"""No client can starve a replica: with 500 idle connections and 10 clients sending their headers
a byte a second, another client's requests keep being answered quickly, and the idle and slow
connections are closed once the header timeout has passed.

The bound (p99 under 50 ms for a trivial run()) is a correctness bound with room for a loaded
2-core machine: a starved server does not answer at all. azmlinfsrv is run through the same
test and is expected to fail it (its single sync worker serves one connection at a time, so one
idle connection blocks everyone): the xfail is strict, so the test proves it can fail.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from tests.conftest import require

IDLE_CONNECTIONS = 500
SLOW_CLIENTS = 10
HEADER_TIMEOUT_SECONDS = 4
LOAD_SECONDS = 5
P99_BOUND_SECONDS = 0.050


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.parametrize("kind", ["modelstack", pytest.param("azmlinfsrv", marks=pytest.mark.xfail(strict=True, reason="one idle connection blocks azmlinfsrv's sync worker"))])
def test_idle_and_slow_clients_do_not_starve_others(servers, kind):
    started = servers("plain_json_string.py", {"MODELSTACK_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_SECONDS)}, kinds=(kind,))
    server = started[kind]
    opened_at = time.monotonic()
    idle = [_connect(server.port) for _ in range(IDLE_CONNECTIONS)]
    slow = [_connect(server.port) for _ in range(SLOW_CLIENTS)]
    request_bytes = b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    stop = threading.Event()

    def drip() -> None:  # a byte a second on each slow connection, for as long as it stays open
        sent = 0
        while not stop.is_set() and sent < len(request_bytes):
            for sock in slow:
                try:
                    sock.send(request_bytes[sent:sent + 1])
                except OSError:
                    pass
            sent += 1
            stop.wait(1)

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    latencies = []
    try:
        with requests.Session() as client:
            deadline = time.monotonic() + LOAD_SECONDS
            while time.monotonic() < deadline:
                begun = time.perf_counter()
                try:
                    answer = client.post(server.base + "/score", data='{"n": 1}', headers={"Content-Type": "application/json"}, timeout=2)
                    assert answer.status_code == 200, answer.text
                    latencies.append(time.perf_counter() - begun)
                except requests.RequestException:
                    latencies.append(float("inf"))
                    break
        assert len(latencies) >= 20, f"only {len(latencies)} requests answered in {LOAD_SECONDS} s"
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        assert p99 < P99_BOUND_SECONDS, f"p99 {p99 * 1000:.1f} ms over {len(latencies)} requests"

        # Past the header timeout (counted from when they opened), every idle and slow connection is closed.
        time.sleep(max(0.0, opened_at + HEADER_TIMEOUT_SECONDS + 2 - time.monotonic()))
        still_open = [sock for sock in idle + slow if not _closed_by_server(sock)]
        assert not still_open, f"{len(still_open)} of {len(idle) + len(slow)} idle or slow connections are still open after the header timeout"
    finally:
        stop.set()
        dripper.join(5)
        for sock in idle + slow:
            sock.close()


def test_past_the_connection_cap_idle_connections_give_way_and_busy_ones_do_not(servers):
    started = servers("plain_json_string.py", {"MODELSTACK_MAX_CONNECTIONS": "5"}, kinds=("modelstack",))
    server = started["modelstack"]
    idle = [_connect(server.port) for _ in range(5)]
    try:
        assert requests.post(server.base + "/score", data="{}", timeout=5).status_code == 200, "an idle connection should have made room"
        assert any(_closed_by_server(sock) for sock in idle), "no idle connection was closed"
    finally:
        for sock in idle:
            sock.close()
    busy = [_connect(server.port) for _ in range(5)]
    try:
        for sock in busy:  # each in the middle of a body: a request in progress is never closed to make room
            sock.send(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        requests.get(server.base + "/", timeout=5)  # the five are read before the probe below
        assert requests.post(server.base + "/score", data="{}", timeout=5).status_code == 503
        assert requests.get(server.base + "/", timeout=5).status_code == 200, "the liveness probe is answered past the cap"
        assert not any(_closed_by_server(sock) for sock in busy)
    finally:
        for sock in busy:
            sock.close()


FLOOD = 2000


def test_the_liveness_probe_is_answered_while_2000_idle_connections_are_held(servers):
    """On AKS a liveness probe that fails restarts a healthy pod: a flood of idle sockets must
    not do that. Past MODELSTACK_MAX_CONNECTIONS (1024) the oldest idle connections are closed."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = FLOOD + 256
    require(hard == resource.RLIM_INFINITY or hard >= needed, f"this test holds {FLOOD} sockets; the hard open-file limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    started = servers("plain_json_string.py", kinds=("modelstack",))
    server = started["modelstack"]
    flood: list[socket.socket] = []
    try:
        for _ in range(FLOOD):
            flood.append(_connect(server.port))
        for _ in range(3):
            assert requests.get(server.base + "/", timeout=10).status_code == 200
        assert requests.post(server.base + "/score", data='{"a": 1}', timeout=10).status_code == 200
        closed = sum(_closed_by_server(sock) for sock in flood)
        assert closed >= FLOOD - 1024, f"only {closed} of the {FLOOD} idle connections were closed"
    finally:
        for sock in flood:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_body_that_does_not_arrive_gets_408(servers):
    started = servers("plain_json_string.py", {"MODELSTACK_BODY_TIMEOUT_SECONDS": "1"}, kinds=("modelstack",))
    server = started["modelstack"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"partial\"")
        begun = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):  # the server closes the connection after its 408
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ") and time.monotonic() - begun < 3
        assert b"the request body did not arrive within 1 seconds" in answer
    assert requests.post(server.base + "/score", data="{}", timeout=5).status_code == 200, "the scoring thread was never held"
