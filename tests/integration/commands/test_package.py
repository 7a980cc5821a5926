"""`modelstack package` writes a build context that Docker builds and runs as is."""

from __future__ import annotations

import json
import subprocess
import sys

import requests

from components.targets.local.webservice import free_port
from tests.workspace import wait_until_healthy


def test_packaged_context_builds_and_serves(project, docker_client, tmp_path):
    out = tmp_path / "context"
    result = subprocess.run(
        [sys.executable, "-m", "components.commands.cli", "package", "diabetes", "--stack", "local", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=project.root,
        env={"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "modelstack-context.json").read_text())
    assert (out / "Dockerfile").read_text().startswith("# Rendered by modelstack for service diabetes")
    image, _ = docker_client.images.build(path=str(out), tag=f"modelstack-test/package:{manifest['tag']}", rm=True)
    port = free_port()
    container = docker_client.containers.run(image.id, detach=True, ports={"5001/tcp": ("127.0.0.1", port)})
    try:
        wait_until_healthy(port)
        answer = requests.post(f"http://127.0.0.1:{port}/score", json={"data": [[0.0] * 10]}, timeout=10)
        assert answer.status_code == 200 and len(answer.json()) == 1
    finally:
        container.remove(force=True)
        docker_client.images.remove(image.id, force=True)
