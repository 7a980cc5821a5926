"""Experiment: what the image would weigh if the build stage also slimmed the virtualenv.

    venv/bin/python benchmarks/image_slimming.py [--json]

The example `diabetes` service's build context is rendered as `modelstack package` writes it,
then built twice without touching the project's templates: as rendered, and with one step
added to the end of the environment stage's `pip install` RUN, which removes the packages'
`tests` folders and uninstalls pip and setuptools from the venv (the runtime needs neither).
For each: image size, against Azure ML's 1.43 GB, container start to Healthy (median of 3),
and a POST /score that must answer. The built images are removed afterwards.

This measures a change for the owner of templates/environment-pip.j2; it changes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from components.config.load import load_from_files  # noqa: E402
from components.image.build_context import build_context, write_context  # noqa: E402
from components.image.docker_client import docker_client  # noqa: E402
from components.image.wheelhouse import ensure_wheelhouse  # noqa: E402
from components.targets.local.webservice import free_port  # noqa: E402
from examples.diabetes.train import train  # noqa: E402
from modelstack_server.contract import PORT as CONTAINER_PORT  # noqa: E402
from tests.workspace import copy_project  # noqa: E402

AZUREML_IMAGE_BYTES = 1.43e9
SLIMMING_STEP = (
    " \\\n && find /opt/env/lib -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \\\n"
    " && /opt/env/bin/python -m pip uninstall --yes --quiet pip setuptools"
)


def slimmed(dockerfile: str) -> str:
    """The Dockerfile with the slimming step after the venv's pip install."""
    lines = dockerfile.splitlines()
    index = next(i for i, line in enumerate(lines) if "/opt/env/bin/pip install" in line)
    lines[index] += SLIMMING_STEP
    return "\n".join(lines) + "\n"


def start_to_healthy(client, image: str) -> float:
    port = free_port()
    started = time.monotonic()
    container = client.containers.run(image, detach=True, ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", port)})
    try:
        while time.monotonic() - started < 120:
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    seconds = time.monotonic() - started
                    answer = requests.post(f"http://127.0.0.1:{port}/score", json={"data": [[0.0] * 10]}, timeout=10)
                    if answer.status_code != 200:
                        raise SystemExit(f"{image} answered {answer.status_code} to /score: {answer.text[:300]}")
                    return seconds
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise SystemExit(f"{image} did not become healthy:\n{container.logs(tail=20).decode(errors='replace')}")
    finally:
        container.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    client = docker_client()
    workdir = Path(tempfile.mkdtemp(prefix="modelstack-slim-"))
    results: dict[str, dict] = {}
    built: list[str] = []
    try:
        root = copy_project(workdir / "project")
        train(root / "examples" / "diabetes" / "model")
        config = load_from_files("local", root)
        context = build_context(root, "diabetes", config.services["diabetes"], config.models)
        assert context.requirements_digest is not None, "the example is a pip environment: it has a wheelhouse"
        wheelhouse = ensure_wheelhouse(
            REPO / ".modelstack",
            context.requirements_digest,
            context.environment_files["requirements.txt"],
            log=lambda _: None,
        )
        folder = workdir / "context"
        write_context(context, folder, wheelhouse)
        rendered = (folder / "Dockerfile").read_text()
        for name, dockerfile in (("as rendered", rendered), ("venv slimmed", slimmed(rendered))):
            (folder / "Dockerfile").write_text(dockerfile)
            started = time.monotonic()
            image, _ = client.images.build(
                path=str(folder), tag=f"modelstack-bench/slim:{re.sub('[^a-z]', '-', name)}", rm=True, forcerm=True
            )
            build_seconds = time.monotonic() - started
            assert image.id is not None, "a built image has an ID"
            built.append(image.id)
            starts = [start_to_healthy(client, image.id) for _ in range(3)]
            size = image.attrs["Size"]
            results[name] = {
                "image_mb": round(size / 1e6),
                "vs_azureml": round(size / AZUREML_IMAGE_BYTES, 3),
                "start_to_healthy_median_s": round(statistics.median(starts), 2),
                "build_s": round(build_seconds, 1),
            }
    finally:
        for image_id in built:
            try:
                client.images.remove(image_id, force=True)
            except Exception:
                pass
        shutil.rmtree(workdir, ignore_errors=True)
    results["load_average_after"] = {"1-5-15 min": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, row in results.items():
        print(f"{name:22} {row}")


if __name__ == "__main__":
    main()
