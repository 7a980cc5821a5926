"""`target: local`: the service's container on this machine's Docker, as Azure ML's LocalWebservice
(no authentication, listening on localhost)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pulumi

from components.config.schema import ServiceSpec, StackConfig
from components.resource_types import LOCAL_REGISTRY, LOCAL_WEBSERVICE
from components.targets.base import (
    Deployment,
    KnownResource,
    LogsRequest,
    ServiceRequest,
    StrayObject,
    Target,
    deploy_parameters,
)
from components.targets.local.schema import LocalDeploy


class LocalTarget(Target):
    name = "local"
    title = "local Docker"
    authenticates = False
    azureml_webservice = "LocalWebservice"
    azureml_compute_type = "local"

    def policy_facts(self, config: StackConfig, name: str, service: ServiceSpec) -> dict[str, Any]:
        # Azure ML's LocalWebservice has no authentication and listens on localhost.
        return {"auth_enabled": False, "public": False, "tls_enabled": False}

    def declare(self, request: ServiceRequest) -> Deployment:
        from components.targets.local.webservice import LocalWebservice

        deployment = LocalWebservice(
            f"{request.name}-local",
            service=request.name,
            stack=request.stack,
            image=request.image,
            port=deploy_parameters(request.service, LocalDeploy).port,
            opts=pulumi.ResourceOptions(parent=request.parent, delete_before_replace=True),
        )
        return Deployment(deployment.scoring_uri, deployment.swagger_uri, deployment.state)

    def show_logs(self, request: LogsRequest) -> None:
        from components.targets.local.logs import local_logs

        local_logs(request.config.stack, request.name, tail=request.tail, follow=request.follow, write=request.write)

    def existing_object(
        self, resource_type: str, inputs: dict[str, Any], project_dir: Path
    ) -> tuple[str | None, str] | None:
        if resource_type == LOCAL_WEBSERVICE:
            from components.targets.local.webservice import existing_container

            name = inputs.get("container_name")
            found = existing_container(inputs)
            return found, f"container {name} {'exists' if found else 'does not exist'}"
        if resource_type == LOCAL_REGISTRY:
            from components.targets.local.registry_server import is_running

            port = int(inputs["port"])
            running = is_running(str(project_dir / str(inputs["state_dir"])), port)
            return (
                f"localhost:{port}" if running else None
            ), f"registry on port {port} {'runs' if running else 'does not run'}"
        return None

    def stray_objects(self, stack: str, known: list[KnownResource], project_dir: Path) -> list[StrayObject]:
        """Containers labelled with the stack that are no LocalWebservice of its state, and registry
        processes of the project that no pidfile names (a start cut short by the kill)."""
        from components.config.schema import STATE_DIR
        from components.targets.local.processes import terminate
        from components.targets.local.registry_server import unrecorded_servers
        from components.targets.local.webservice import stack_containers

        ids = {resource.id for resource in known if resource.type == LOCAL_WEBSERVICE}
        strays = []
        for container in stack_containers(stack):
            if container.id in ids:
                continue
            what = f"container {container.name} ({container.id[:12]}, {container.status})"
            strays.append(StrayObject(what, partial(container.remove, force=True)))
        for pid, state in unrecorded_servers(str(project_dir / STATE_DIR / "registry")):
            what = f"registry process {pid} of {state}, which no pidfile names"
            strays.append(StrayObject(what, partial(terminate, pid)))
        return strays


TARGET = LocalTarget()
