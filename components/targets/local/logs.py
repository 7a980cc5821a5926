"""A local service's log: its container's, found by the labels modelstack.stack and modelstack.service."""

from __future__ import annotations

from collections.abc import Callable

from components.errors import ModelstackError
from modelstack_server import contract


def local_logs(stack: str, service: str, *, tail: int, follow: bool, write: Callable[[str], None]) -> None:
    from components.image.docker_client import docker_client

    client = docker_client()
    found = client.containers.list(
        all=True,
        filters={
            "label": [f"{contract.CONTAINER_STACK_LABEL}={stack}", f"{contract.CONTAINER_SERVICE_LABEL}={service}"]
        },
    )
    if not found:
        raise ModelstackError(
            f"service {service} of stack {stack} has no container",
            rule="a local service runs in a container that `pulumi up` starts",
            fix=f"pulumi up --stack {stack}",
        )
    container = found[0]
    if not follow:
        text = container.logs(tail=tail).decode(errors="replace").rstrip("\n")
        if text:
            write(text)
        return
    pending = ""
    for chunk in container.logs(tail=tail, stream=True, follow=True):
        pending += chunk.decode(errors="replace")
        *lines, pending = pending.split("\n")
        for line in lines:
            write(line)
