"""`target: local`: the service's container on this machine's Docker, as Azure ML's LocalWebservice
(no authentication, listening on localhost)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.config.schema import ServiceSpec, StackConfig
from components.targets.base import Deployment, LogsRequest, ServiceRequest, Target, deploy_parameters
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


TARGET = LocalTarget()
