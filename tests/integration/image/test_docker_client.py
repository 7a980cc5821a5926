"""components.image.docker_client against a real Docker daemon (and against dead addresses)."""

from __future__ import annotations

import socket

import docker
import pytest

from components.errors import DockerUnavailableError, ModelstackError
from components.image.docker_client import docker_client as connect, require_image


def test_connects_to_the_running_daemon(docker_client):
    assert isinstance(docker_client, docker.DockerClient)
    assert docker_client.ping() is True
    assert docker_client.version()["ApiVersion"]
    assert docker_client.api.timeout >= 60  # long operations (build, push) are not cut short


@pytest.fixture
def dead_socket(tmp_path):
    """A unix socket file that nothing listens on (connect: connection refused)."""
    path = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
    return path


@pytest.mark.parametrize("kind", ["dead socket", "missing socket"])
def test_unreachable_daemon_names_the_host_and_the_fix(kind, dead_socket, tmp_path, monkeypatch):
    path = dead_socket if kind == "dead socket" else tmp_path / "missing.sock"
    host = f"unix://{path}"
    monkeypatch.setenv("DOCKER_HOST", host)

    with pytest.raises(DockerUnavailableError) as err:
        connect(connect_timeout=2)

    # Refused at once by the operating system, not given up on after a wait: the cause is the
    # refusal itself, never a timeout (shown by what failed, not by how long it took).
    refusal = ConnectionRefusedError if kind == "dead socket" else FileNotFoundError
    assert type(err.value.__cause__) is refusal, repr(err.value.__cause__)
    message = str(err.value)
    assert ("connection refused" if kind == "dead socket" else "no socket at that path") in message
    assert isinstance(err.value, ModelstackError)
    assert "the Docker daemon is not reachable" in message
    assert host in message
    assert "scripts/dockerd.sh start" in (err.value.fix or "")
    assert "Docker Desktop" in (err.value.fix or "")
    assert "Traceback" not in message


def test_unreachable_tcp_daemon(free_port, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port}")

    with pytest.raises(DockerUnavailableError) as err:
        connect(connect_timeout=2)

    assert f"tcp://127.0.0.1:{free_port}" in str(err.value)
    assert "connection refused" in str(err.value)


def test_require_image_returns_a_present_image(docker_client, tiny_image):
    tag = tiny_image.tags[0]

    assert require_image(docker_client, tag, "modelstack:services.demo.base_image").id == tiny_image.id


def test_require_image_on_a_missing_tag_names_the_key_and_the_build(docker_client):
    tag = "modelstack-test/no-such-image:never"
    key = "modelstack:services.demo.base_image"

    with pytest.raises(ModelstackError) as err:
        require_image(docker_client, tag, key)

    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ")
    assert tag in err.value.detail
    assert f"scripts/build-base-image.sh {tag}" in (err.value.fix or "")
