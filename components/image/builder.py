"""Build a webservice image with docker-py and push it to its registry, showing progress.

`ensure_image` is idempotent: an image whose tag (the hash of its build context) is already
in the registry is neither built nor pushed again; one present locally is only pushed. So a
second `up` with nothing changed builds nothing.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests

from components.config.schema import RegistryCredentials
from components.errors import BuildError
from components.image.build_context import BuildContext, context_tarball, is_locally_built, runtime_base_image
from components.image.docker_client import require_image
from components.image.wheelhouse import ensure_wheelhouse
from modelstack_server.contract import IMAGE_CONTEXT_DIGEST_LABEL, IMAGE_SERVICE_LABEL

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def stderr_log(message: str) -> None:
    """Progress for people: stderr, flushed, so it shows while the work goes on."""
    print(f"[modelstack] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ImageResult:
    repository: str
    tag: str
    digest: str  # sha256:...
    built: bool
    pushed: bool
    build: BuildReport | None

    @property
    def reference(self) -> str:
        """The image by digest: what deployments run, and what promotion copies."""
        return f"{self.repository}@{self.digest}"


def split_repository(repository: str) -> tuple[str, str]:
    """'localhost:5050/diabetes' -> ('localhost:5050', 'diabetes')."""
    registry, _, path = repository.partition("/")
    return registry, path


def registry_digest(
    repository: str, tag: str, *, scheme: str = "http", timeout: float = 5.0, attempts: int = 3
) -> str | None:
    """The manifest digest of repository:tag in a (local, plain-HTTP) registry, or None when the
    registry says it has no such tag. A registry that does not answer is an error, not a missing
    image: a slow registry must not cause a rebuild."""
    registry, path = split_repository(repository)
    url = f"{scheme}://{registry}/v2/{path}/manifests/{tag}"
    for attempt in range(1, attempts + 1):
        try:
            response = requests.head(url, headers={"Accept": MANIFEST_TYPES}, timeout=timeout)
        except requests.RequestException as exc:
            if attempt == attempts:
                raise BuildError(
                    f"the registry {registry} did not answer whether it has {path}:{tag} ({type(exc).__name__}, {attempts} tries of {timeout:g} s)",
                    rule="an image is built only when its registry says it is missing",
                    fix=f"check that the registry at {registry} runs (`pulumi refresh` restarts a local one), then run again",
                ) from None
            time.sleep(0.5 * attempt)
            continue
        if response.status_code == 200:
            return response.headers.get("Docker-Content-Digest")
        return None
    return None


def is_local_registry(repository: str) -> bool:
    """A registry on this machine (plain HTTP, no sign-in), as opposed to ACR."""
    host = split_repository(repository)[0].rsplit(":", 1)[0]
    return host in ("localhost", "127.0.0.1", "[::1]")


def remote_digest(client: docker.DockerClient, repository: str, tag: str, auth_config: dict[str, str]) -> str | None:
    """The manifest digest of repository:tag in a signed-in registry (through the daemon), or None."""
    try:
        return client.api.inspect_distribution(f"{repository}:{tag}", auth_config=auth_config)["Descriptor"]["digest"]
    except docker.errors.APIError:
        return None


def _local_image(client: docker.DockerClient, reference: str):
    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None


@dataclass(frozen=True)
class BuildReport:
    image_id: str
    steps: list[tuple[str, bool]]  # (Dockerfile step, whether the layer cache served it)
    seconds: float

    def cached(self, fragment: str) -> bool:
        """Whether the (first) step containing `fragment` came from the layer cache."""
        return next(cached for step, cached in self.steps if fragment in step)


def build(
    client: docker.DockerClient,
    context: BuildContext,
    repository: str,
    cache_root: Path,
    *,
    credentials: RegistryCredentials | None = None,
    no_cache: bool = False,
    log=stderr_log,
) -> BuildReport:
    """docker build of the context as repository:tag."""
    wheelhouse = None
    if context.requirements_digest:
        wheelhouse = ensure_wheelhouse(
            cache_root, context.requirements_digest, context.environment_files["requirements.txt"], log=log
        )
    for base in dict.fromkeys((context.base_image, runtime_base_image(context.base_image))):
        if is_locally_built(base):
            require_image(client, base, f"modelstack:services.{context.service_name}.environment.base_image")
    if credentials is not None:
        password = credentials.password.get_secret_value() if credentials.password else None
        # The stubs want a username; docker-py sends a missing one as null and the daemon logs in
        # without one (a registry that needs no user).
        client.login(username=credentials.username, password=password, registry=credentials.address)  # type: ignore[arg-type]
    reference = f"{repository}:{context.tag}"
    log(f"building {reference} for service {context.service_name}")
    started = time.monotonic()
    output: list[str] = []
    stream = client.api.build(
        fileobj=context_tarball(context, wheelhouse),
        custom_context=True,
        tag=reference,
        rm=True,
        forcerm=True,
        nocache=no_cache,
        decode=True,
        labels={IMAGE_SERVICE_LABEL: context.service_name, IMAGE_CONTEXT_DIGEST_LABEL: context.digest},
    )
    image_id = None
    steps: list[tuple[str, bool]] = []
    for chunk in stream:
        if "error" in chunk:
            tail = "".join(output[-15:]).rstrip()
            raise BuildError(
                f"the image of service {context.service_name} did not build: {chunk['error'].strip()}\n{tail}",
                rule="the rendered Dockerfile must build (see `modelstack package` to inspect it)",
                fix="fix the step above (extra_docker_file_steps, requirements or base image), then run again",
            )
        text = chunk.get("stream", "")
        if text:
            output.append(text)
            if text.startswith("Step "):
                steps.append((text.strip(), False))
                log(f"  {context.service_name}: {text.strip()}")
            elif "Using cache" in text and steps:
                steps[-1] = (steps[-1][0], True)
        image_id = (chunk.get("aux") or {}).get("ID", image_id)
    seconds = time.monotonic() - started
    cached = sum(1 for _, hit in steps if hit)
    log(f"built {reference} in {seconds:.1f}s ({cached} of {len(steps)} steps from the layer cache)")
    if not image_id:
        image_id = client.images.get(reference).id
    assert image_id, f"the Docker daemon reports no ID for the image it built, {reference}"
    return BuildReport(image_id, steps, seconds)


def push(
    client: docker.DockerClient, repository: str, tag: str, *, auth_config: dict[str, str] | None = None, log=stderr_log
) -> str:
    """docker push repository:tag; returns the manifest digest."""
    log(f"pushing {repository}:{tag}")
    digest = None
    last_status: dict[str, str] = {}
    for chunk in client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=auth_config):
        if "error" in chunk:
            raise BuildError(
                f"push of {repository}:{tag} failed: {chunk['error']}",
                rule="the registry must accept pushes",
                fix="check the registry is running (`modelstack check` names it) and that you are logged in",
            )
        if chunk.get("status") in ("Pushed", "Layer already exists", "Mounted from"):
            last_status[chunk.get("id", "")] = chunk["status"]
        digest = (chunk.get("aux") or {}).get("Digest", digest)
    if digest is None:
        raise BuildError(
            f"push of {repository}:{tag} reported no digest",
            rule="a pushed image has a manifest digest",
            fix="run again; if it persists, check the registry's log",
        )
    pushed = sum(1 for s in last_status.values() if s == "Pushed")
    log(f"pushed {repository}:{tag} ({pushed} new layer(s), {len(last_status) - pushed} reused) -> {digest}")
    return digest


def ensure_image(
    client: docker.DockerClient,
    context: BuildContext,
    repository: str,
    cache_root: Path,
    *,
    credentials: RegistryCredentials | None = None,
    push_auth: dict[str, str] | None = None,
    log=stderr_log,
) -> ImageResult:
    """The image of this context in the registry: built and pushed only when missing.

    `push_auth` is docker-py's auth_config for a registry that needs signing in (ACR, with
    the user's Azure identity: see components.image.registry_auth); a local registry needs none.
    """
    if push_auth is None:
        existing = registry_digest(repository, context.tag)
    else:
        existing = remote_digest(client, repository, context.tag, push_auth)
    if existing:
        log(f"{repository}:{context.tag} is already in the registry; nothing to build")
        return ImageResult(repository, context.tag, existing, built=False, pushed=False, build=None)
    report = None
    if _local_image(client, f"{repository}:{context.tag}") is None:
        # MODELSTACK_NO_CACHE=1 builds without the layer cache (a clean build, as CI's first).
        no_cache = os.environ.get("MODELSTACK_NO_CACHE", "") not in ("", "0")
        report = build(client, context, repository, cache_root, credentials=credentials, no_cache=no_cache, log=log)
    digest = push(client, repository, context.tag, auth_config=push_auth, log=log)
    return ImageResult(repository, context.tag, digest, built=report is not None, pushed=True, build=report)
