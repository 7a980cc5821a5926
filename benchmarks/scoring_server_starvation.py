"""How fast modelstack_server answers one client while 500 idle connections and 10 clients
sending their headers a byte a second are held, against the same client with nothing held.

The tests show only that such a client is answered while the connections are held
(tests/compat/test_starvation.py); how fast is measured here. The server runs from the compat
suite's serving environment on plain_json_string.py (a trivial run()), one worker, with the
header timeout set to an hour so that nothing is closed during the measurement.

    venv/bin/python benchmarks/scoring_server_starvation.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.compat.conftest import SCRIPTS, launch, serving_python, wait_healthy  # noqa: E402

IDLE_CONNECTIONS = 500
SLOW_CLIENTS = 10
SLOW_REQUEST = b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 100_000


def latencies(base: str, count: int) -> list[float]:
    measured = []
    with requests.Session() as client:
        for _ in range(count):
            begun = time.perf_counter()
            answer = client.post(
                base + "/score", data='{"n": 1}', headers={"Content-Type": "application/json"}, timeout=30
            )
            measured.append(time.perf_counter() - begun)
            assert answer.status_code == 200, answer.text
    return measured


def summary(name: str, measured: list[float]) -> str:
    ordered = sorted(measured)
    p = lambda q: ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000  # noqa: E731
    return f"| {name} | {len(ordered)} | {statistics.median(ordered) * 1000:.2f} | {p(0.99):.2f} | {ordered[-1] * 1000:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        server = launch(
            serving_python(),
            "modelstack",
            SCRIPTS / "plain_json_string.py",
            Path(home),
            {"MODELSTACK_HEADER_TIMEOUT_SECONDS": "3600"},
        )
        held: list[socket.socket] = []
        stop = threading.Event()
        try:
            assert wait_healthy(server), server.log()[-3000:]
            latencies(server.base, 100)  # warm-up
            quiet = latencies(server.base, args.requests)
            held = [
                socket.create_connection(("127.0.0.1", server.port), timeout=30)
                for _ in range(IDLE_CONNECTIONS + SLOW_CLIENTS)
            ]
            slow = held[IDLE_CONNECTIONS:]

            def drip() -> None:
                sent = 0
                while not stop.is_set():
                    for sock in slow:
                        sock.send(SLOW_REQUEST[sent : sent + 1])
                    sent += 1
                    stop.wait(1)

            threading.Thread(target=drip, daemon=True).start()
            loaded = latencies(server.base, args.requests)
        finally:
            stop.set()
            for sock in held:
                sock.close()
            server.stop()
    print("| client's requests | requests | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(summary("nothing held", quiet))
    print(summary(f"{IDLE_CONNECTIONS} idle + {SLOW_CLIENTS} slow held", loaded))


if __name__ == "__main__":
    main()
