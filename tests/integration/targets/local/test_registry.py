"""The `kind: local` registry for real: Debian's docker-registry, Docker pushing and pulling.

Every registry a test starts lives in the test's tmp_path and is stopped by PID at the end.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker.errors
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.errors import ModelstackError
from components.targets.local import registry_server as lr
from components.targets.local.registry import LocalRegistryProvider
from tests.provider_results import outputs_of
from tests.workspace import REPO as REPO_ROOT

PROJECT_DIR = REPO_ROOT


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its parent counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def dirs(tmp_path):
    return str(tmp_path / "root"), str(tmp_path / "state")


@pytest.fixture
def registry(free_port, dirs):
    """A started registry; stopped (by its PID) after the test."""
    root, state = dirs
    proc = lr.start(free_port, root, state)
    yield proc
    lr.stop(state)
    assert _gone(proc.pid)


def test_start_answers_and_writes_its_state(registry):
    assert lr.is_running(registry.state_dir, registry.port)
    assert registry.address == f"localhost:{registry.port}"
    assert Path(registry.state_dir, "registry.pid").read_text().strip() == str(registry.pid)
    assert f"127.0.0.1:{registry.port}" in Path(registry.config_path).read_text()
    assert lr.catalog(registry.port) == []


def test_start_is_detached_in_its_own_session(registry):
    assert os.getsid(registry.pid) == registry.pid != os.getsid(0)


def test_start_twice_returns_the_running_registry(registry):
    again = lr.start(registry.port, registry.root_dir, registry.state_dir)

    assert again.pid == registry.pid


def test_push_catalog_and_pull_back(registry, docker_client, tiny_image):
    repository = f"{registry.address}/modelstack-test/tiny"
    assert tiny_image.tag(repository, tag="v1")

    events = list(docker_client.images.push(repository, tag="v1", stream=True, decode=True))
    errors = [e for e in events if "error" in e]
    assert not errors, errors
    digest = next(e["aux"]["Digest"] for e in events if "aux" in e)

    assert lr.catalog(registry.port) == ["modelstack-test/tiny"]
    assert lr.tags(registry.port, "modelstack-test/tiny") == ["v1"]

    # remove every local reference, so the pull really downloads it from the registry
    docker_client.images.remove(f"{repository}:v1")
    docker_client.images.remove(tiny_image.id, force=True)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(tiny_image.id)

    pulled = docker_client.images.pull(repository, tag="v1")
    try:
        assert pulled.id == tiny_image.id
        assert f"{repository}@{digest}" in pulled.attrs["RepoDigests"]
    finally:
        docker_client.images.remove(pulled.id, force=True)


def test_same_state_dir_on_another_port_is_refused(registry, free_port):
    other_port = free_port + 1 if free_port < 65535 else free_port - 1

    with pytest.raises(ModelstackError) as err:
        lr.start(other_port, registry.root_dir, registry.state_dir)

    assert f"already runs (pid {registry.pid}) on port {registry.port}" in str(err.value)
    assert lr.is_running(registry.state_dir, registry.port)


def test_stop_leaves_no_process_and_frees_the_port(free_port, dirs):
    root, state = dirs
    proc = lr.start(free_port, root, state)

    assert lr.stop(state) is True

    assert _gone(proc.pid)
    assert not lr.is_running(state, free_port)
    assert not Path(state, "registry.pid").exists()
    assert _port_closed(free_port)
    assert lr.stop(state) is False  # nothing left to stop


def test_restart_on_the_same_port_keeps_the_images(free_port, dirs, docker_client, tiny_image):
    root, state = dirs
    lr.start(free_port, root, state)
    try:
        repository = f"localhost:{free_port}/keep"
        tiny_image.tag(repository, tag="v1")
        for event in docker_client.images.push(repository, tag="v1", stream=True, decode=True):
            assert "error" not in event, event
        docker_client.images.remove(f"{repository}:v1")
        lr.stop(state)

        lr.start(free_port, root, state)

        assert lr.catalog(free_port) == ["keep"]
    finally:
        lr.stop(state)


def test_port_in_use_gives_a_clear_error(free_port, dirs):
    root, state = dirs
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", free_port))
        squatter.listen()

        with pytest.raises(ModelstackError) as err:
            lr.start(free_port, root, state)

    message = str(err.value)
    assert err.value.key == "modelstack:registry.port"
    assert f"port {free_port} on 127.0.0.1 is already in use" in message
    assert "choose another port" in message
    assert not Path(state, "registry.pid").exists()


def test_missing_binary_says_how_to_install(free_port, dirs, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(ModelstackError) as err:
        lr.start(free_port, *dirs)

    assert "docker-registry" in str(err.value)
    assert err.value.fix is not None and "scripts/install-system-deps.sh" in err.value.fix


def test_registry_outlives_the_process_that_started_it(free_port, dirs):
    root, state = dirs
    starter = (
        "import sys; from components.targets.local.registry_server import start; "
        "print(start(int(sys.argv[1]), sys.argv[2], sys.argv[3]).pid)"
    )
    out = subprocess.run(
        [sys.executable, "-c", starter, str(free_port), root, state],
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    pid = int(out.stdout.strip())
    try:
        assert lr.is_running(state, free_port)
    finally:
        assert lr.stop(state) is True
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid)


# ------------------------------------------------------------------- the Pulumi provider


def test_provider_create_read_diff_update_delete(free_port, dirs, tmp_path):
    root, state = dirs
    provider = LocalRegistryProvider()
    inputs = {"port": free_port, "root_dir": root, "state_dir": state}

    created = provider.create(dict(inputs))
    try:
        assert created.id == f"localhost:{free_port}"
        assert outputs_of(created)["address"] == f"localhost:{free_port}"
        assert outputs_of(created)["running"] is True
        assert lr.is_running(state, free_port)

        read = provider.read(created.id, dict(outputs_of(created)))
        assert read.id == created.id and outputs_of(read)["running"] is True

        same = provider.diff(created.id, dict(outputs_of(created)), dict(inputs))
        assert not same.changes and not same.replaces

        moved = provider.diff(created.id, dict(outputs_of(created)), {**inputs, "port": free_port + 1})
        assert moved.changes and moved.replaces == ["port"] and moved.delete_before_replace
        elsewhere = provider.diff(
            created.id, dict(outputs_of(created)), {**inputs, "root_dir": str(tmp_path / "other")}
        )
        assert elsewhere.replaces == ["root_dir"]

        # drift: the registry stops behind Pulumi's back
        lr.stop(state)
        refreshed = provider.read(created.id, dict(outputs_of(created)))
        assert outputs_of(refreshed)["running"] is False
        assert provider.diff(created.id, dict(outputs_of(refreshed)), dict(inputs)).changes is True
        # ... even without a refresh, the live check sees it
        assert provider.diff(created.id, dict(outputs_of(created)), dict(inputs)).changes is True

        updated = provider.update(created.id, dict(outputs_of(refreshed)), dict(inputs))
        assert outputs_of(updated)["running"] is True
        assert lr.is_running(state, free_port)
        pid = int(Path(state, "registry.pid").read_text())

        provider.delete(created.id, dict(outputs_of(updated)))
        assert not lr.is_running(state, free_port)
        assert _gone(pid)
        assert outputs_of(provider.read(created.id, dict(outputs_of(updated))))["running"] is False
    finally:
        lr.stop(state)


def test_provider_create_adopts_a_running_registry(registry):
    provider = LocalRegistryProvider()

    created = provider.create({"port": registry.port, "root_dir": registry.root_dir, "state_dir": registry.state_dir})

    assert outputs_of(created)["running"] is True
    assert int(Path(registry.state_dir, "registry.pid").read_text()) == registry.pid


def test_serialized_provider_loads_in_a_fresh_provider_process():
    # what Pulumi stores in the state and `python -m pulumi.dynamic` (cwd = project) loads
    blob = serialize_provider(LocalRegistryProvider())
    loader = (
        "import base64, sys, dill; "
        "p = dill.loads(base64.b64decode(sys.stdin.read())); "
        "print(type(p).__module__, type(p).__name__, callable(p.create))"
    )
    out = subprocess.run(
        [sys.executable, "-c", loader],
        input=blob,
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert out.stdout.split() == ["components.targets.local.registry", "LocalRegistryProvider", "True"]
    assert len(base64.b64decode(blob)) < 1000  # by reference, not a copy of the module
