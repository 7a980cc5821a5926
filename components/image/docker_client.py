"""The Docker daemon, as modelstack reaches it.

`docker_client()` is the one way code in this project gets a `docker.DockerClient`: it
connects the way the docker CLI does (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH),
checks the daemon answers within a few seconds, and otherwise raises a
`DockerUnavailableError` that says where it looked and how to start Docker on this kind of
machine. `require_image()` checks a base image is present locally; no registry is pulled
from, so a missing base image is built, not downloaded.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from components import SOURCE_ROOT
from components.config.schema import DEFAULT_BASE_IMAGE
from components.errors import DockerUnavailableError, ModelstackError

__all__ = [
    "DEFAULT_DOCKER_HOST",
    "DEFAULT_BASE_IMAGE",
    "docker_client",
    "docker_host",
    "require_image",
]

#: Where docker-py (and the docker CLI) look when DOCKER_HOST is unset.
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock" if os.name != "nt" else "npipe:////./pipe/docker_engine"

_SCRIPTS = SOURCE_ROOT / "scripts"


def docker_host(environment: dict[str, str] | None = None) -> str:
    """The daemon address a client built from `environment` (default os.environ) uses."""
    env = os.environ if environment is None else environment
    return env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def docker_client(*, connect_timeout: float = 5.0, timeout: float = 600.0) -> docker.DockerClient:
    """A `docker.DockerClient` connected to the daemon of the environment (`docker.from_env()`).

    The daemon must answer the version query and a ping within `connect_timeout` seconds;
    the client then uses `timeout` seconds per API call (image builds and pushes stream for
    a long time, so this one is long).

    Raises `DockerUnavailableError` (a `ModelstackError`) naming the DOCKER_HOST it tried and
    the fix when no daemon answers.
    """
    host = docker_host()
    if host.startswith("unix://"):
        # probed here first: docker-py leaks its socket when a unix connect fails
        try:
            _probe_unix_socket(host[len("unix://") :], connect_timeout)
        except OSError as exc:
            raise _unavailable(host, exc) from exc
    try:
        # docker-py hands the timeout to requests, which takes seconds as a float; its stubs say int
        client = docker.from_env(timeout=connect_timeout)  # type: ignore[arg-type]
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise _unavailable(host, exc) from exc
    try:
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        client.close()
        raise _unavailable(host, exc) from exc
    client.api.timeout = timeout  # type: ignore[assignment]  # a float too, as above
    return client


def require_image(client: docker.DockerClient, tag: str, key: str):
    """The local image `tag` (a `docker.models.images.Image`); `key` is the config key that named it.

    Raises `ModelstackError` naming `key` and how to build the image when it is not in the
    local image store (nothing is pulled: base images are built from Debian packages).
    """
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        if getattr(exc, "status_code", None) != 404:
            raise
    build = f"sudo {_display(_SCRIPTS / 'build-base-image.sh')}"
    build_cmd = build if tag == DEFAULT_BASE_IMAGE else f"{build} {tag}"
    raise ModelstackError(
        f"base image {tag!r} is not among the local images of the Docker daemon at {docker_host()}",
        key=key,
        rule="images are built from a base image that is already present locally; modelstack never pulls one from a registry",
        fix=(
            f"build it from Debian packages: `{build_cmd}` (about a minute); "
            f"or, if {tag!r} comes from a registry you can reach, `docker pull {tag}` (or `docker load` it) first; "
            f"or set {key} to an image you have (`docker image ls`)"
        ),
    )


def _probe_unix_socket(path: str, timeout: float) -> None:
    """Raise OSError (FileNotFoundError, ConnectionRefusedError, PermissionError...) unless `path` accepts."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)


def _unavailable(host: str, exc: BaseException) -> DockerUnavailableError:
    reason = _short_reason(exc)
    where = (
        f"{host} (from DOCKER_HOST)" if os.environ.get("DOCKER_HOST") else f"{host} (the default; DOCKER_HOST is unset)"
    )
    if "permission denied" in reason.lower():
        fix = (
            "the daemon runs but this user may not use its socket: run as root, or add the user to the "
            "`docker` group (`sudo usermod -aG docker $USER`, then log in again)"
        )
    else:
        fix = _start_docker_fix(host)
    return DockerUnavailableError(
        f"the Docker daemon is not reachable at {where}: {reason}",
        key="DOCKER_HOST",
        rule="building images and running the local stack need a running Docker daemon",
        fix=fix,
    )


def _start_docker_fix(host: str) -> str:
    script = f"sudo {_display(_SCRIPTS / 'dockerd.sh')} start"
    if sys.platform == "darwin" or os.name == "nt":
        fixes = ["start Docker Desktop and wait until it says it is running"]
    elif Path("/run/systemd/system").is_dir():
        # a Linux machine with systemd: the docker service is the normal way
        fixes = [
            "start the docker service: `sudo systemctl start docker` (or start Docker Desktop)",
            f"without a docker service: `{script}`",
        ]
    else:
        # a container, CI runner or VM without systemd: this project's script starts dockerd
        fixes = [
            f"`{script}` (starts dockerd in the background on this machine)",
            "elsewhere, start Docker Desktop or the docker service",
        ]
    if os.environ.get("DOCKER_HOST") and host != DEFAULT_DOCKER_HOST:
        fixes.append(f"or check DOCKER_HOST ({host}), or unset it to use {DEFAULT_DOCKER_HOST}")
    else:
        fixes.append(
            "if you use a docker context, export its address: "
            "`export DOCKER_HOST=$(docker context inspect --format '{{.Endpoints.docker.Host}}')`"
        )
    return "; ".join(fixes)


def _short_reason(exc: BaseException) -> str:
    """One line about why the connection failed, without urllib3's nesting."""
    text = str(exc)
    for marker, reason in (
        ("FileNotFoundError", "no socket at that path"),
        ("No such file", "no socket at that path"),
        ("ConnectionRefusedError", "connection refused"),
        ("Connection refused", "connection refused"),
        ("PermissionError", "permission denied"),
        ("Permission denied", "permission denied"),
        ("timed out", "timed out"),
        ("Read timed out", "timed out"),
    ):
        if marker in text:
            return reason
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _display(path: Path) -> str:
    """`path` relative to the working directory when it is inside it (as a user would type it)."""
    try:
        rel = path.relative_to(Path.cwd())
    except ValueError:
        return str(path)
    return str(rel)
