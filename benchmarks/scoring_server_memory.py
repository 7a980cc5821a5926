"""Peak worker memory against the size of one JSON request body, for both servers, on the
diabetes example (inference-schema's numpy input: the body is parsed into Python floats, then an
array). The figure behind modelstack_server/memory.py's DEFAULT_MEMORY_PER_BODY_BYTE.

For each size the worker's peak resident memory (VmHWM) is reset (/proc/PID/clear_refs), one
request of that size is scored, and the new peak is read. Body: the example's first sample row,
repeated. No memory limit is set on the servers (the host is not a container), and the body
limit is raised so every size is read.

    venv/bin/python examples/diabetes/train.py        # once: the model
    venv/bin/python benchmarks/scoring_server_memory.py [--sizes-mib 1 8 32 64 95]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
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
ROW = json.loads((EXAMPLE / "sample-requests.jsonl").read_text().splitlines()[0])["data"][0]
MIB = 2**20


def body_of(size: int) -> bytes:
    row = json.dumps(ROW).encode()
    rows = max(1, size // (len(row) + 2))
    return b'{"data": [' + b", ".join([row] * rows) + b"]}"


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def worker_pid(kind: str, process: subprocess.Popen) -> int:
    if kind == "modelstack":
        return process.pid  # WORKER_COUNT=1: the process itself serves
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return int(children[0])  # gunicorn's one worker


def start(kind: str, python: Path, home: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
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
        "MODELSTACK_MAX_REQUEST_BYTES": str(1024 * MIB),
        "PYTHONPATH": str(REPO),
    }
    script = str(EXAMPLE / "src" / "score.py")
    module = "azureml_inference_server_http.amlserver" if kind == "azmlinfsrv" else "modelstack_server"
    process = subprocess.Popen(
        [str(python), "-m", module, "--entry_script", script, "--port", str(port)],
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
            time.sleep(0.1)
    raise SystemExit(f"{kind} did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mib", type=float, nargs="+", default=[1, 8, 32, 64, 95])
    parser.add_argument("--servers", nargs="+", default=["azmlinfsrv", "modelstack"])
    args = parser.parse_args()
    python = serving_python()
    print("| server | body MiB | status | worker RSS before MiB | peak MiB | peak - before, per body byte |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as home:
        for kind in args.servers:
            process, port = start(kind, python, home)
            try:
                pid = worker_pid(kind, process)
                for size_mib in args.sizes_mib:
                    body = body_of(int(size_mib * MIB))
                    before = kib(pid, "VmRSS")
                    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts again from now
                    status = requests.post(
                        f"http://127.0.0.1:{port}/score",
                        data=body,
                        headers={"Content-Type": "application/json"},
                        timeout=600,
                    ).status_code
                    peak = kib(pid, "VmHWM")
                    per_byte = (peak - before) * 1024 / len(body)
                    print(
                        f"| {kind} | {len(body) / MIB:.1f} | {status} | {before / 1024:.0f} | {peak / 1024:.0f} | {per_byte:.1f} |",
                        flush=True,
                    )
                    del body
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)


if __name__ == "__main__":
    main()
