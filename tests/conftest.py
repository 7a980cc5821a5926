"""Shared pytest fixtures for modelstack's tests.

- `tests/unit/`: pure and fast; no Docker, no network, no processes.
- `tests/integration/`: real Docker and real processes (a local registry, containers).
  They skip, with the reason, only when no Docker daemon answers; CI always starts one
  (`sudo scripts/dockerd.sh start`). Anything a test starts, it stops by PID.

Fixtures here:
- `docker_client` (session): a connected `docker.DockerClient`, or skip when Docker is unreachable.
- `free_port`: a TCP port on 127.0.0.1 that nothing listens on.
- `tiny_image`: a one-file image made with `docker import` (no base image needed), per test.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import docker.errors
import pytest
import yaml


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice)."""
    from tests.workspace import free_port as pick

    return pick()


@pytest.fixture(scope="session")
def docker_client():
    """A connected `docker.DockerClient`; skips the test when no Docker daemon answers."""
    from components.image.docker_client import docker_client as connect
    from components.errors import DockerUnavailableError

    try:
        client = connect()
    except DockerUnavailableError as exc:
        pytest.skip(f"Docker is not reachable: {exc.detail}. Start it with: sudo scripts/dockerd.sh start")
    yield client
    client.close()


@pytest.fixture
def tiny_image(docker_client):
    """A tiny image of its own for each test (`docker import` of a one-file tarball), removed after it."""
    data = b"modelstack test image\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    repository, tag = f"modelstack-test/tiny-{uuid.uuid4().hex[:8]}", "v1"
    docker_client.api.import_image_from_data(buf.getvalue(), repository=repository, tag=tag)
    image = docker_client.images.get(f"{repository}:{tag}")
    yield image
    try:
        docker_client.images.remove(image.id, force=True)
    except docker.errors.NotFound:  # the test removed it
        pass


# --- the project and its example -------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_MODELS = REPO / "examples" / "diabetes" / "model"
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/ from what the code renders now")


@pytest.fixture(scope="session")
def trained_example() -> Path:
    """The example models, trained on the fly (nothing binary is committed)."""
    if not (EXAMPLE_MODELS / "ridge.joblib").exists() or not (EXAMPLE_MODELS / "lasso.joblib").exists():
        subprocess.run([sys.executable, str(REPO / "examples" / "diabetes" / "train.py")], check=True, capture_output=True)
    return EXAMPLE_MODELS


# What depends on the bytes of the example models, which are trained on the machine that runs
# the tests (another CPU, other bytes): their versions, and image digests (the tags they come
# from hash the models too). Golden files hold placeholders instead.
MODEL_DEPENDENT = (
    (re.compile(r"@sha256:[0-9a-f]{64}"), "@sha256:<digest of the image>"),
    (re.compile(r"\b(diabetes-(?:ridge|lasso))([=/])[0-9a-f]{12}\b"), r"\1\2<model version>"),
)


def model_independent(text: str) -> str:
    for pattern, placeholder in MODEL_DEPENDENT:
        text = pattern.sub(placeholder, text)
    return text


@pytest.fixture
def golden(request):
    """golden(name, text): compare with tests/golden/<name> (model-dependent values replaced by
    placeholders), or rewrite it with --update-golden."""

    def compare(name: str, text: str) -> None:
        text = model_independent(text)
        path = GOLDEN / name
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"no golden file {path}; run pytest --update-golden once and review it"
        assert text == path.read_text(), f"{name} differs from its golden file; review the change, then run pytest --update-golden"

    return compare


class Project:
    """A throwaway modelstack project: the example's files plus stack files a test writes."""

    def __init__(self, root: Path):
        self.root = root

    def write_stack(self, stack: str, config: dict) -> Path:
        path = self.root / "stacks" / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump({"config": {f"modelstack:{k}": v for k, v in config.items()}}, sort_keys=False))
        return path

    def write_shared(self, config: dict) -> None:
        document = yaml.safe_load((self.root / "Pulumi.yaml").read_text())
        document["config"] = {f"modelstack:{k}": {"value": v} for k, v in config.items()}
        (self.root / "Pulumi.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    def load(self, stack: str = "local"):
        from components.config.load import load_from_files

        return load_from_files(stack, self.root)


@pytest.fixture
def project(tmp_path, trained_example) -> Project:
    """A copy of this project's Pulumi.yaml, stacks and example in tmp_path."""
    from tests.workspace import copy_project

    return Project(copy_project(tmp_path / "project"))
