"""The profiled service in local Docker: its image (built or reused), a container under the
run's CPU and memory limits, and the checks that it answers before load starts."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components.commands.profile.inputs import DATA_KEY, GB, REQUEST_TIMEOUT_SECONDS
from components.config.schema import STATE_DIR
from components.errors import DeploymentError, ModelstackError
from modelstack_server.contract import IMAGE_CONTEXT_DIGEST_LABEL


def find_built_image(client, context_digest: str) -> str | None:
    """An image already built from exactly this build context (by `up` or an earlier profile)."""
    images = client.images.list(filters={"label": f"{IMAGE_CONTEXT_DIGEST_LABEL}={context_digest}"})
    return images[0].id if images else None


def ensure_profile_image(
    client, project_dir: Path, config, service: str, log: Callable[[str], None]
) -> tuple[str, bool]:
    """(image id, whether it was built now): the service's image, built only when missing."""
    from components.image.build_context import build_context
    from components.image.builder import build

    context = build_context(project_dir, service, config.services[service], config.models)
    existing = find_built_image(client, context.digest)
    if existing:
        log(f"reusing the image of {service} (tag {context.tag}, models {context.model_versions})")
        return existing, False
    # MODELSTACK_NO_CACHE=1 builds without the layer cache, as it does for `up`.
    no_cache = os.environ.get("MODELSTACK_NO_CACHE", "") not in ("", "0")
    report = build(client, context, f"modelstack/{service}", project_dir / STATE_DIR, no_cache=no_cache, log=log)
    return report.image_id, True


@contextmanager
def profiled_container(
    client,
    image: str,
    service: str,
    cpu: float,
    memory_gb: float,
    log: Callable[[str], None],
    environment: dict[str, str] | None = None,
) -> Iterator[tuple[Any, int, float]]:
    """The image running under the limits with its port on 127.0.0.1 (and `environment`, e.g. WORKER_COUNT); removed afterwards.
    Yields (container, port, seconds from start to Healthy)."""
    from components.targets.local.webservice import free_port, wait_until_healthy
    from modelstack_server import contract

    port = free_port()
    memory_bytes = int(memory_gb * GB)
    started = time.monotonic()
    container = client.containers.run(
        image,
        name=f"modelstack-profile-{service}-{uuid.uuid4().hex[:6]}",
        detach=True,
        ports={f"{contract.PORT}/tcp": ("127.0.0.1", port)},
        nano_cpus=int(cpu * 1e9),
        mem_limit=memory_bytes,
        memswap_limit=memory_bytes,  # no swap: a profile must see the memory it needs
        labels={"modelstack.profile": service},
        environment=environment or {},
    )
    try:
        log(f"started {container.name} with {cpu:g} CPU and {memory_gb:g} GB on port {port}")
        wait_until_healthy(container, port, service)
        yield container, port, time.monotonic() - started
    finally:
        try:
            container.remove(force=True)
        except Exception:  # already gone
            pass


def preflight(port: int, body: str, service: str) -> None:
    """One request before the load: a clear error beats a table of failures."""
    import requests

    try:
        answer = requests.post(
            f"http://127.0.0.1:{port}/score",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise DeploymentError(
            f"service {service} did not answer the first request body: {exc}",
            rule="the service answers POST /score",
            fix="look at the container's log (docker logs) for what init() or run() raised",
        ) from None
    if not 200 <= answer.status_code < 300:
        raise ModelstackError(
            f"service {service} answered HTTP {answer.status_code} to the first request body: {answer.text.strip()[:300]}",
            key=DATA_KEY,
            rule="the request bodies are what the entry script's run() accepts",
            fix="fix the data file (see the service's /swagger.json for the expected input), or the entry script",
        )


def _container_alive(container, service: str) -> None:
    container.reload()
    if container.status != "running":
        state = container.attrs.get("State", {})
        why = (
            "it ran out of memory (OOM-killed)"
            if state.get("OOMKilled")
            else f"it exited with code {state.get('ExitCode')}"
        )
        tail = container.logs(tail=20).decode(errors="replace").rstrip()
        raise DeploymentError(
            f"service {service} stopped during the profile: {why}. Last log lines:\n{tail}",
            rule="the service must keep running under the profile's limits",
            fix="profile again with a larger --memory-gb"
            if state.get("OOMKilled")
            else "fix what the log shows, then profile again",
        )
