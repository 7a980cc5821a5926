"""Benchmark: what `modelstack profile` measures for the example service at one core and at a quarter core.

    venv/bin/python benchmarks/profile_cpu_limits.py [--json] [--duration SECONDS]

This comparison used to be asserted in tests/integration/commands/test_profile.py (a whole core
serves more than 1.5x the queries per second of a quarter core, faster on average and in the tail).
It depends on the machine's CPU and its load at the time, so the test keeps only the functional
assertions and the figures live here and in BENCHMARKS.md ("Profile: one core against a quarter core").

In a copy of the project, the profile command runs twice (concurrency 1,4, DURATION s per level):
--cpu 1 and --cpu 0.25. Printed: measured queries per second, the ratio between them, and the
average and p99 latency at concurrency 1 (like for like).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.workspace import copy_project  # noqa: E402


def profile(root: Path, out: Path, cpu: str, duration: int) -> tuple[float, dict]:
    env = {**os.environ, "MODELSTACK_PROJECT_DIR": str(root), "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "components.commands.profile.command",
        "diabetes",
        "--stack",
        "local",
        "--data",
        str(root / "examples" / "diabetes" / "sample-requests.jsonl"),
        "--duration",
        str(duration),
        "--concurrency",
        "1,4",
        "--cpu",
        cpu,
        "--out",
        str(out),
        "--json",
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"profile --cpu {cpu} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--duration", type=int, default=2, help="seconds per concurrency level (default 2, as the test had)"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="modelstack-profile-cpu-"))
    results: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    try:
        root = copy_project(workdir / "project")
        for label, cpu in (("one_core", "1"), ("quarter_core", "0.25")):
            seconds, report = profile(root, workdir / label, cpu, args.duration)
            fields, level1 = report["profile"], report["levels"][0]
            results[label] = {
                "wall_s": round(seconds, 1),
                "measuredQueriesPerSecond": fields["measuredQueriesPerSecond"],
                "maxUtilizedCpu": fields["maxUtilizedCpu"],
                "recommendedCpu": fields["recommendedCpu"],
                "cpuBound": report["recommendation"]["cpuBound"],
                "concurrency1_averageLatencyInMs": level1["averageLatencyInMs"],
                "concurrency1_latencyPercentile99InMs": level1["latencyPercentile99InMs"],
            }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    one, quarter = results["one_core"], results["quarter_core"]
    results["qps_ratio_one_over_quarter"] = round(
        one["measuredQueriesPerSecond"] / max(quarter["measuredQueriesPerSecond"], 1e-9), 2
    )
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
