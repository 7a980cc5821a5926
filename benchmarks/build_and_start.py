"""Benchmark: cold build, model-only rebuild, image size, container start to Healthy.

    venv/bin/python benchmarks/build_and_start.py [--starts 5] [--json]

Runs on a copy of the project (the example `diabetes` service) with a local registry of its
own, so it neither needs nor disturbs a running local stack. Needs Docker and the base
image (scripts/setup.sh --no-engine). The wheelhouse is downloaded beforehand and not timed:
it is shared by every build of the same requirements.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from components.config.load import load_from_files  # noqa: E402
from components.image.build_context import build_context  # noqa: E402
from components.image.builder import build, push  # noqa: E402
from components.image.docker_client import docker_client  # noqa: E402
from components.image.wheelhouse import ensure_wheelhouse  # noqa: E402
from components.targets.local import registry_server as local_registry  # noqa: E402
from components.targets.local.webservice import LocalWebserviceProvider  # noqa: E402
from examples.diabetes.train import train  # noqa: E402
from tests.workspace import copy_project, free_port  # noqa: E402

AZUREML_IMAGE_BYTES = 1.43e9  # Azure ML's image for the same kind of sklearn service


def quiet(_message: str) -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5, help="container starts to time (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    client = docker_client()
    workdir = Path(tempfile.mkdtemp(prefix="modelstack-bench-"))
    root = copy_project(workdir / "project")
    train(root / "examples" / "diabetes" / "model")
    cache = REPO / ".modelstack"
    port = free_port()
    registry_state = workdir / "registry"
    local_registry.start(port, str(registry_state / "storage"), str(registry_state / "run"))
    repository = f"localhost:{port}/diabetes"
    results: dict[str, float | int | str] = {}
    try:
        config = load_from_files("local", root)
        context = build_context(root, "diabetes", config.services["diabetes"], config.models)
        assert context.requirements_digest is not None, "the example is a pip environment: it has a wheelhouse"
        ensure_wheelhouse(cache, context.requirements_digest, context.environment_files["requirements.txt"], log=quiet)

        cold = build(client, context, repository, cache, no_cache=True, log=quiet)
        results["cold_build_s"] = round(cold.seconds, 1)
        started = time.monotonic()
        digest = push(client, repository, context.tag, log=quiet)
        results["first_push_s"] = round(time.monotonic() - started, 1)
        image = client.images.get(f"{repository}:{context.tag}")
        size = image.attrs["Size"]
        results["image_mb"] = round(size / 1e6)
        results["image_vs_azureml"] = round(size / AZUREML_IMAGE_BYTES, 3)
        layers = [layer for layer in image.history() if layer["Size"] >= 1e6]
        results["image_layers_mb"] = ", ".join(
            f"{round(layer['Size'] / 1e6)} ({layer['CreatedBy'].split('#(nop)')[-1].strip()[:40] or 'base image'})"
            for layer in layers
        )

        train(root / "examples" / "diabetes" / "model", alpha=3.0)
        config = load_from_files("local", root)
        changed = build_context(root, "diabetes", config.services["diabetes"], config.models)
        rebuild = build(client, changed, repository, cache, log=quiet)
        results["model_only_rebuild_s"] = round(rebuild.seconds, 1)
        results["rebuild_vs_cold"] = round(rebuild.seconds / cold.seconds, 3)
        results["rebuild_cached_steps"] = f"{sum(1 for _, hit in rebuild.steps if hit)}/{len(rebuild.steps)}"
        started = time.monotonic()
        push(client, repository, changed.tag, log=quiet)
        results["model_only_push_s"] = round(time.monotonic() - started, 1)

        provider = LocalWebserviceProvider()
        props: dict[str, Any] = {
            "service": "diabetes",
            "stack": "bench",
            "image": f"{repository}@{digest}",
            "port": None,
            "environment": {},
            "container_name": "modelstack-bench-diabetes",
        }
        timings = []
        for _ in range(args.starts):
            started = time.monotonic()
            created = provider.create(props)
            timings.append(time.monotonic() - started)
            assert created.outs is not None, "the provider's create returns its outputs"
            provider.delete(created.id, created.outs)
        results["start_to_healthy_median_s"] = round(statistics.median(timings), 2)
        results["start_to_healthy_max_s"] = round(max(timings), 2)
    finally:
        local_registry.stop(str(registry_state / "run"))
        shutil.rmtree(workdir, ignore_errors=True)

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
