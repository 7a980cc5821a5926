"""A body the replica cannot hold is refused with 413 before it is read (modelstack_server/memory.py),
by a limit derived from the replica's memory: here in a real container started with the memory
limit the stack gives a replica by default (ACI's memory_gb 0.5, Azure ML's GB being GiB: 512 MiB),
and on the host with MODELSTACK_MEMORY_LIMIT_BYTES.

The container is the images' runtime base (modelstack/python-runtime:bookworm, its Python 3.11),
with the serving environment's packages and modelstack_server mounted read-only, as the image
copies them; it is removed by its id after the test.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import uuid

import pytest
import requests

from tests.compat.conftest import SCRIPTS, SERVER_PACKAGE_PARENT, SERVING_VENV
from tests.conftest import require
from tests.workspace import free_port

RUNTIME_IMAGE = "modelstack/python-runtime:bookworm"
ACI_DEFAULT_MEMORY = "512m"  # memory_gb: 0.5
MIB = 2**20


def _docker_ready() -> bool:
    try:
        return (
            subprocess.run(["docker", "image", "inspect", RUNTIME_IMAGE], capture_output=True, timeout=30).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def announced_limit(base: str) -> tuple[int, bytes]:
    """Sends only the headers of a 95 MiB request (the body never comes): the answer can only
    be the refusal of a body that was not read. Returns the status and the body."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (95 * MIB)
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def _limit_in(message: bytes) -> int:
    found = re.search(rb"larger than (\d+) bytes", message)
    assert found, message
    return int(found.group(1))


def test_a_container_with_acis_default_memory_refuses_a_body_it_cannot_hold(python, tmp_path):
    require(_docker_ready(), f"Docker and the runtime image {RUNTIME_IMAGE} (scripts/setup.sh builds it)")
    site_packages = next(SERVING_VENV.glob("lib/python3.*/site-packages"))
    port = free_port()
    name = f"modelstack-memory-test-{uuid.uuid4().hex[:8]}"
    command = [
        "docker",
        "run",
        "--detach",
        "--name",
        name,
        "--memory",
        ACI_DEFAULT_MEMORY,
        "--publish",
        f"127.0.0.1:{port}:5001",
        "--volume",
        f"{site_packages}:/opt/site:ro",
        "--volume",
        f"{SERVER_PACKAGE_PARENT / 'modelstack_server'}:/opt/modelstack/modelstack_server:ro",
        "--volume",
        f"{SCRIPTS}:/var/azureml-app:ro",
        "--env",
        "PYTHONPATH=/opt/modelstack:/opt/site",
        "--env",
        "AML_APP_ROOT=/var/azureml-app",
        "--env",
        "HOME=/tmp",
        "--env",
        "MODELSTACK_BODY_TIMEOUT_SECONDS=5",  # a server that waits for the body instead answers 408 soon
        "--workdir",
        "/var/azureml-app",
        RUNTIME_IMAGE,
        "python3",
        "-m",
        "modelstack_server",
        "--entry_script",
        "/var/azureml-app/plain_json_string.py",
        "--port",
        "5001",
    ]
    container = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=30)
            pytest.fail(f"the container did not become healthy:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}")
        status, message = announced_limit(base)
        assert status == 413, message
        assert b"the most this replica's memory (512 MiB) can hold" in message, message
        limit = _limit_in(message)
        assert 4 * MIB < limit < 95 * MIB, limit
        small = b'"' + b"x" * (MIB - 2) + b'"'
        assert (
            requests.post(
                base + "/score", data=small, headers={"Content-Type": "application/json"}, timeout=30
            ).status_code
            == 200
        )
        output = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=30).stdout
        assert f"Memory 512 MiB for 1 worker(s): request bodies up to {limit} bytes" in output, output[-2000:]
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, timeout=60)


def test_the_memory_can_be_given_when_no_cgroup_says_it(servers):
    started = servers(
        "plain_json_string.py",
        {"MODELSTACK_MEMORY_LIMIT_BYTES": str(256 * MIB), "MODELSTACK_BODY_TIMEOUT_SECONDS": "5"},
        kinds=("modelstack",),
    )
    status, message = announced_limit(started["modelstack"].base)
    assert status == 413 and b"(256 MiB) can hold" in message, message
    assert _limit_in(message) < 256 * MIB // 10
