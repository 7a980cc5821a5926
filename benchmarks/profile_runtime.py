"""Benchmark: how long `modelstack profile` takes with its defaults, from the command line.

    venv/bin/python benchmarks/profile_runtime.py [--json]

In a copy of the project, `python -m components.commands.profile.command diabetes --stack local --data
examples/diabetes/sample-requests.jsonl` (what `modelstack profile` runs once registered),
timed from the outside, interpreter start included, twice:

- image built: the example model is retrained first (a new model version, so no image of
  this build context exists) and the build runs without Docker's layer cache
  (MODELSTACK_NO_CACHE=1): the slowest case, a cold build inside the profile;
- image reused: the same command again.

Defaults: 1 CPU, 1 GB, concurrency 1,2,4,8, 5 s per level. The target is under 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from examples.diabetes.train import train  # noqa: E402
from tests.workspace import copy_project  # noqa: E402

TARGET_SECONDS = 120


def profile_once(root: Path, out: Path, *, no_cache: bool) -> tuple[float, dict]:
    env = {**os.environ, "MODELSTACK_PROJECT_DIR": str(root), "PYTHONPATH": str(REPO)}
    if no_cache:
        env["MODELSTACK_NO_CACHE"] = "1"
    command = [
        sys.executable,
        "-m",
        "components.commands.profile.command",
        "diabetes",
        "--stack",
        "local",
        "--data",
        str(root / "examples" / "diabetes" / "sample-requests.jsonl"),
        "--out",
        str(out),
        "--json",
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"profile failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="modelstack-profile-bench-"))
    results: dict[str, object] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    try:
        root = copy_project(workdir / "project")
        # A model no image was built from yet: the first profile has to build.
        train(root / "examples" / "diabetes" / "model", alpha=round(random.uniform(2.0, 9.0), 6))
        for label, no_cache in (("image_built", True), ("image_reused", False)):
            seconds, report = profile_once(root, workdir / label, no_cache=no_cache)
            results[label] = {
                "wall_s": round(seconds, 1),
                "image_built": report["run"]["imageBuilt"],
                "cold_start_s": report["run"]["coldStartSeconds"],
                "recommendedCpu": report["profile"]["recommendedCpu"],
                "recommendedMemoryInGB": report["profile"]["recommendedMemoryInGB"],
                "measuredQueriesPerSecond": report["profile"]["measuredQueriesPerSecond"],
                "latencyPercentile50InMs": report["profile"]["latencyPercentile50InMs"],
                "latencyPercentile99InMs": report["profile"]["latencyPercentile99InMs"],
                "autoscale_target_utilization": report["deploy"]["autoscale_target_utilization"],
            }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["target_s"] = TARGET_SECONDS
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(f"{key:20} {value}")


if __name__ == "__main__":
    main()
