"""`target: aci`: the service as one Azure Container Instances container group of the stack's
Azure platform (Azure ML's AciWebservice)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.config.deploy_rules import check_aci, check_app_insights, check_keys_and_features
from components.config.schema import AciDeploy, ServiceSpec, StackConfig
from components.errors import ConfigError
from components.targets.base import Deployment, LogsRequest, ServiceRequest, Target, deploy_parameters


class AciTarget(Target):
    name = "aci"
    title = "ACI"
    # No autoscaling and no rolling updates: production services run elsewhere.
    production_grade = False
    pulls_from_acr = True
    uses_pull_identity = True
    app_insights = True
    azureml_webservice = "AciWebservice"
    azureml_compute_type = "ACI"

    def deploy_errors(self, config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
        deploy = service.deploy
        if not isinstance(deploy, AciDeploy):
            return []
        return (
            check_aci(config, name, deploy)
            + check_app_insights(name, deploy, service.scoring_server)
            + check_keys_and_features(name, deploy)
        )

    def stack_errors(self, config: StackConfig) -> list[ConfigError]:
        from components.config.naming import aci_name_errors

        return [
            e
            for name, service in config.services.items()
            if service.target == self.name and isinstance(service.deploy, AciDeploy)
            for e in aci_name_errors(name, service.deploy)
        ]

    def policy_facts(self, config: StackConfig, name: str, service: ServiceSpec) -> dict[str, Any]:
        deploy = deploy_parameters(service, AciDeploy)
        return dict(
            auth_enabled=deploy.auth_enabled,
            public=not (deploy.vnet_name or deploy.subnet_name),
            tls_enabled=deploy.ssl_enabled,
            cpu_cores=deploy.cpu_cores,
            memory_gb=deploy.memory_gb,
        )

    def declare(self, request: ServiceRequest) -> Deployment:
        from components.targets.aci.webservice import AciWebservice

        deployment = AciWebservice(
            f"{request.name}-aci",
            service=request.name,
            stack=request.stack,
            deploy=deploy_parameters(request.service, AciDeploy),
            image=request.image,
            keys=request.keys,
            platform=request.platform,
            project_dir=str(request.project_dir),
            opts=pulumi.ResourceOptions(parent=request.parent),
        )
        return Deployment(deployment.scoring_uri, deployment.swagger_uri, deployment.state)

    def live_state(self, resource_type: str, outputs: dict[str, Any]) -> tuple[str, str] | None:
        from components.resource_types import CONTAINER_GROUP
        from components.targets.states import SERVICE_TAG, aci_state

        if resource_type != CONTAINER_GROUP:
            return None
        service = (outputs.get("tags") or {}).get(SERVICE_TAG)
        state = aci_state(outputs.get("provisioningState"), (outputs.get("instanceView") or {}).get("state"))
        return (service, state) if isinstance(service, str) and service else None

    def show_logs(self, request: LogsRequest) -> None:
        from components.config import naming
        from components.targets.aci.logs import aci_logs

        project, stack = request.project(), request.config.stack
        group = naming.container_group_name(project, stack, request.name)
        resource_group = request.config.resource_group or naming.resource_group_name(project, stack)
        request.write(aci_logs(resource_group, group, request.name, tail=request.tail))


TARGET = AciTarget()
