"""Benchmark: nothing changed, nothing done: a second evaluation and a second build.

    venv/bin/python benchmarks/noop.py [--json]

In a copy of the project (the local stack, the example services) with a registry of its own:

- evaluation: `modelstack check --stack local --json` twice, as two processes; the two plans
  must be byte-identical. Also `evaluate_stack` twice in one process.
- build: `ensure_image` (what `up` runs for a service's image) twice for the same build
  context; the first builds and pushes (the layer cache may serve it), the second must find
  the tag in the registry and build and push nothing.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from components.config.load import load_from_files  # noqa: E402
from components.image.build_context import build_context  # noqa: E402
from components.image.builder import ensure_image  # noqa: E402
from components.image.docker_client import docker_client  # noqa: E402
from components.offline.evaluate import evaluate_stack, plan_json  # noqa: E402
from components.targets.local import registry_server as local_registry  # noqa: E402
from examples.diabetes.train import train  # noqa: E402
from tests.workspace import copy_project, free_port  # noqa: E402


def quiet(_message: str) -> None:
    pass


def check_json(root: Path) -> tuple[bytes, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "components.commands.cli", "check", "--stack", "local", "--json"],
        cwd=root,
        env={**os.environ, "MODELSTACK_PROJECT_DIR": str(root), "PYTHONPATH": str(REPO)},
        capture_output=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"check failed: {done.stderr.decode()[-2000:]}")
    return done.stdout, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="modelstack-noop-"))
    root = copy_project(workdir / "project")
    train(root / "examples" / "diabetes" / "model")
    results: dict[str, object] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    port = free_port()
    state = workdir / "registry"
    try:
        first, first_s = check_json(root)
        second, second_s = check_json(root)
        results["check_json_identical"] = first == second
        results["check_json_bytes"] = len(first)
        results["check_first_s"], results["check_second_s"] = round(first_s, 2), round(second_s, 2)
        _, plan_a = evaluate_stack("local", root)
        started = time.monotonic()
        _, plan_b = evaluate_stack("local", root)
        results["evaluate_second_in_process_s"] = round(time.monotonic() - started, 3)
        results["evaluate_identical_in_process"] = plan_json(plan_a) == plan_json(plan_b)

        client = docker_client()
        local_registry.start(port, str(state / "storage"), str(state / "run"))
        repository = f"localhost:{port}/diabetes"
        config = load_from_files("local", root)
        context = build_context(root, "diabetes", config.services["diabetes"], config.models)
        cache = REPO / ".modelstack"
        started = time.monotonic()
        once = ensure_image(client, context, repository, cache, log=quiet)
        results["first_ensure_image_s"] = round(time.monotonic() - started, 2)
        results["first_built"], results["first_pushed"] = once.built, once.pushed
        started = time.monotonic()
        again = ensure_image(
            client,
            build_context(root, "diabetes", config.services["diabetes"], config.models),
            repository,
            cache,
            log=quiet,
        )
        results["second_ensure_image_s"] = round(time.monotonic() - started, 3)
        results["second_built"], results["second_pushed"] = again.built, again.pushed
        results["same_digest"] = once.digest == again.digest
    finally:
        local_registry.stop(str(state / "run"))
        shutil.rmtree(workdir, ignore_errors=True)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
