"""azmlinfsrv against modelstack_server, side by side in one run, on the diabetes example.

Each server is a host process pinned to core 0 (`taskset -c 0`), wrk is pinned to core 1; both
run from the compat suite's serving environment (.modelstack/compat-venv, built from
tests/compat/requirements-serving.txt if missing). Measured per server: cold start to Healthy
(process start to the first 200 on GET /), RSS of the worker once warm, then requests/s, p50
and p99 at concurrency 1, 8 and 32 (wrk, keep-alive as wrk does; azmlinfsrv closes every
connection itself).

    venv/bin/python examples/diabetes/train.py        # once: the model
    venv/bin/python benchmarks/scoring_server.py [--seconds 5] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.compat.conftest import free_port, serving_python  # noqa: E402

EXAMPLE = REPO / "examples" / "diabetes"
SAMPLE = (EXAMPLE / "sample-requests.jsonl").read_text().splitlines()[0]
CONCURRENCY = (1, 8, 32)
SERVERS = ("azmlinfsrv", "modelstack")


def start(kind: str, python: Path, home: str, server_parent: Path = REPO) -> tuple[subprocess.Popen, int, float]:
    port = free_port()
    # As Azure ML lays out one model: a folder holding that model's file only.
    model_dir = Path(home) / "model"
    if not model_dir.exists():
        model_dir.mkdir()
        (model_dir / "ridge.joblib").symlink_to(EXAMPLE / "model" / "ridge.joblib")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "AML_APP_ROOT": str(EXAMPLE / "src"),
        "AZUREML_MODEL_DIR": str(model_dir),
        "GUNICORN_CMD_ARGS": "--no-control-socket",
    }
    script = str(EXAMPLE / "src" / "score.py")
    if kind == "azmlinfsrv":
        command = [
            str(python),
            "-m",
            "azureml_inference_server_http.amlserver",
            "--entry_script",
            script,
            "--port",
            str(port),
        ]
    else:
        env["PYTHONPATH"] = str(server_parent)
        command = [str(python), "-m", "modelstack_server", "--entry_script", script, "--port", str(port)]
    begun = time.perf_counter()
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
                return process, port, time.perf_counter() - begun
        except requests.RequestException:
            time.sleep(0.01)
    stop(process)
    raise SystemExit(f"{kind} did not become healthy")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def worker_rss_mib(process: subprocess.Popen) -> float:
    """RSS of the process serving requests: gunicorn's worker (the master's child) or ours."""
    pid = process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    worker = int(children[0]) if children else pid
    for line in Path(f"/proc/{worker}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def found(pattern: str, text: str) -> re.Match[str]:
    """The first match of `pattern` in wrk's output; a missing figure stops the run with wrk's output."""
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f"wrk's output has no match for {pattern!r}:\n{text}")
    return match


def wrk(port: int, connections: int, seconds: int, script: str) -> tuple[float, float, float]:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            script,
            f"http://127.0.0.1:{port}/score",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(found(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(label: str) -> float:
        value, unit = found(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"    note: {errors.group(0)}", file=sys.stderr)
    return rps, percentile("50"), percentile("99")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--server-parent",
        default=str(REPO),
        help="the folder holding the modelstack_server package to measure (another revision's checkout, to compare)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the servers this many times; medians are reported"
    )
    args = parser.parse_args()
    if not (EXAMPLE / "model" / "ridge.joblib").exists():
        raise SystemExit("train the example first: venv/bin/python examples/diabetes/train.py")
    python = serving_python()
    results: dict[str, dict] = {kind: {"start": [], "rss": [], **{c: [] for c in CONCURRENCY}} for kind in SERVERS}
    with tempfile.TemporaryDirectory() as home:
        lua = Path(home) / "post.lua"
        lua.write_text(
            f"wrk.method = 'POST'\nwrk.body = '{SAMPLE}'\nwrk.headers['Content-Type'] = 'application/json'\n"
        )
        for _ in range(args.rounds):
            for kind in SERVERS:
                process, port, cold = start(kind, python, home, Path(args.server_parent))
                try:
                    wrk(port, 8, 1, str(lua))  # warm-up
                    results[kind]["start"].append(cold)
                    results[kind]["rss"].append(worker_rss_mib(process))
                    for connections in CONCURRENCY:
                        results[kind][connections].append(wrk(port, connections, args.seconds, str(lua)))
                finally:
                    stop(process)
    print(
        f"\nmachine: {os.cpu_count()} cores, {os.uname().release}; server on core 0, wrk on core 1; {args.seconds} s per level, {args.rounds} round(s)\n"
    )
    print("| server | concurrency | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for kind in SERVERS:
        for connections in CONCURRENCY:
            runs = results[kind][connections]
            rps, p50, p99 = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"| {kind} | {connections} | {rps:.0f} | {p50:.2f} | {p99:.2f} |")
    print("\n| server | cold start to Healthy s | worker RSS MiB |")
    print("|---|---|---|")
    for kind in SERVERS:
        print(
            f"| {kind} | {statistics.median(results[kind]['start']):.2f} | {statistics.median(results[kind]['rss']):.1f} |"
        )
    base, ours = results["azmlinfsrv"], results["modelstack"]
    print("\nratios (modelstack / azmlinfsrv):")
    for connections in CONCURRENCY:
        b = [statistics.median(r[i] for r in base[connections]) for i in range(3)]
        o = [statistics.median(r[i] for r in ours[connections]) for i in range(3)]
        print(f"  c={connections}: requests/s {o[0] / b[0]:.2f}x, p50 {o[1] / b[1]:.2f}x, p99 {o[2] / b[2]:.2f}x")


if __name__ == "__main__":
    main()
