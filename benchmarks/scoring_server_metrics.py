"""The cost of the scoring server's Prometheus metrics: modelstack_server with metrics on (the
default) and off (MODELSTACK_METRICS_ENABLED=false), side by side in one run, on the diabetes
example. Both servers run at once, each a host process pinned to core 0 (only one is loaded at a
time), wrk pinned to core 1, all from the compat suite's serving environment. For each
concurrency (1, 8, 32; POST /score, keep-alive) wrk runs short bursts against the two in turn,
on-off then off-on, --pairs times: a change of the machine's load over the run reaches both
alike. Reported: the median requests/s, p50 and p99 of each, and the median of the per-pair
ratios (on / off); and, in process, what the metric updates of one request cost. At the end /metrics of the "on" server is read and its count of /score 2xx
printed, to show the requests were counted.

    venv/bin/python examples/diabetes/train.py        # once: the model
    venv/bin/python benchmarks/scoring_server_metrics.py [--seconds 2] [--pairs 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.scoring_server import CONCURRENCY, EXAMPLE, SAMPLE, stop, wrk  # noqa: E402
from tests.compat.conftest import free_port, serving_python  # noqa: E402

MODES = ("on", "off")


def start(mode: str, python: Path, home: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    model_dir = Path(home) / "azureml-models" / "diabetes-ridge" / "1"
    if not model_dir.exists():
        model_dir.mkdir(parents=True)
        (model_dir / "ridge.joblib").symlink_to(EXAMPLE / "model" / "ridge.joblib")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "AML_APP_ROOT": str(EXAMPLE / "src"),
        "AZUREML_MODEL_DIR": str(model_dir),
        "PYTHONPATH": str(REPO),
        "SERVICE_NAME": "diabetes",
        "MODELSTACK_METRICS_ENABLED": "true" if mode == "on" else "false",
    }
    command = [
        str(python),
        "-m",
        "modelstack_server",
        "--entry_script",
        str(EXAMPLE / "src" / "score.py"),
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        ["taskset", "-c", "0", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return process, port
        except requests.RequestException:
            time.sleep(0.01)
    stop(process)
    raise SystemExit(f"the server with metrics {mode} did not become healthy")


def scored(port: int) -> float:
    """/score 2xx as /metrics counts it."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "modelstack_requests_total" and s.labels["route"] == "/score" and s.labels["status_class"] == "2xx"
    )


def metrics_cost_us(requests_: int = 20_000) -> float:
    """In process, this interpreter: microseconds of the metric updates one scored request makes
    (in flight up and down, queued in and out, run() and the request observed)."""
    from modelstack_server.metrics import Metrics

    metrics = Metrics("on", {"diabetes-ridge": "1"})
    begun = time.perf_counter()
    for _ in range(requests_):
        metrics.in_flight.inc()
        metrics.waiting_for_run(1)
        metrics.waiting_for_run(-1)
        metrics.observe_run(0.0004)
        metrics.observe("/score", 200, 0.0008)
        metrics.in_flight.dec()
    return (time.perf_counter() - begun) / requests_ * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=2, help="one burst")
    parser.add_argument("--pairs", type=int, default=6, help="bursts per server and concurrency")
    args = parser.parse_args()
    if not (EXAMPLE / "model" / "ridge.joblib").exists():
        raise SystemExit("train the example first: venv/bin/python examples/diabetes/train.py")
    python = serving_python()
    results: dict[str, dict[int, list]] = {mode: {c: [] for c in CONCURRENCY} for mode in MODES}
    with tempfile.TemporaryDirectory() as home:
        lua = Path(home) / "post.lua"
        lua.write_text(
            f"wrk.method = 'POST'\nwrk.body = '{SAMPLE}'\nwrk.headers['Content-Type'] = 'application/json'\n"
        )
        servers: dict[str, tuple[subprocess.Popen, int]] = {}
        try:
            for mode in MODES:
                servers[mode] = start(mode, python, home)
            for mode in MODES:
                wrk(servers[mode][1], 8, 1, str(lua))  # warm-up
            for connections in CONCURRENCY:
                for pair in range(args.pairs):
                    for mode in MODES if pair % 2 == 0 else tuple(reversed(MODES)):
                        measured = wrk(servers[mode][1], connections, args.seconds, str(lua))
                        results[mode][connections].append(measured)
            print(f"/metrics of the server with metrics on counted {scored(servers['on'][1]):.0f} /score 2xx")
        finally:
            for process, _ in servers.values():
                stop(process)
    print(
        f"\nmachine: {os.cpu_count()} cores, {os.uname().release}; load average {os.getloadavg()[0]:.1f}; "
        f"servers on core 0, wrk on core 1; {args.pairs} bursts of {args.seconds} s per server and concurrency\n"
    )
    print("| metrics | concurrency | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for mode in MODES:
        for c in CONCURRENCY:
            rps, p50, p99 = (statistics.median(r[i] for r in results[mode][c]) for i in range(3))
            print(f"| {mode} | {c} | {rps:.0f} | {p50:.2f} | {p99:.2f} |")
    print(f"\nthe metric updates of one request, in process: {metrics_cost_us():.1f} us")
    print("\nmedian of the per-pair ratios (metrics on / off):")
    for c in CONCURRENCY:
        pairs = list(zip(results["on"][c], results["off"][c], strict=True))
        ratio = [statistics.median(on[i] / off[i] for on, off in pairs) for i in range(3)]
        print(f"  c={c}: requests/s {ratio[0]:.3f}x, p50 {ratio[1]:.2f}x, p99 {ratio[2]:.2f}x")


if __name__ == "__main__":
    main()
