"""`target: aca`: each service a container app on Azure Container Apps, in one Container Apps
environment per stack, scaling to zero when idle (min_replicas: 0, the default)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.config.schema import ServiceSpec, StackConfig
from components.errors import ConfigError, ModelstackError
from components.resource_types import CONTAINER_APP
from components.targets.aca import rules, states
from components.targets.aca.policies import POLICIES
from components.targets.aca.schema import AcaDeploy
from components.targets.base import Deployment, LogsRequest, ServiceRequest, Target, deploy_parameters

ENVIRONMENT_RESOURCE = "aca-environment"


class AcaTarget(Target):
    name = "aca"
    title = "Azure Container Apps"
    authenticates = True
    production_grade = True
    pulls_from_acr = True
    uses_pull_identity = True
    tls_fix = "Container Apps ingress is HTTPS on its own; remove allow_insecure so plain HTTP is redirected"
    policies = POLICIES
    tagged_types = (
        CONTAINER_APP,
        "azure-native:app:ManagedEnvironment",
        "azure-native:operationalinsights:Workspace",
    )

    # --- config time -----------------------------------------------------------------------

    def deploy_errors(self, config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
        return rules.deploy_errors(config, name, service)

    def stack_errors(self, config: StackConfig) -> list[ConfigError]:
        return rules.stack_errors(config)

    def policy_facts(self, config: StackConfig, name: str, service: ServiceSpec) -> dict[str, Any]:
        deploy = service.deploy
        if not isinstance(deploy, AcaDeploy):
            return {}
        return {
            "auth_enabled": deploy.auth_enabled,
            "public": deploy.external,
            # Ingress terminates TLS itself; allow_insecure adds plain HTTP beside it (a policy of
            # this target's judges that).
            "tls_enabled": True,
            "allow_insecure": deploy.allow_insecure,
            "cpu_cores": deploy.cpu_cores,
            "memory_gb": deploy.memory_gb,
            "min_replicas": deploy.min_replicas,
            "max_replicas": deploy.max_replicas,
        }

    # --- declaring ---------------------------------------------------------------------------

    def declare_shared(self, config: StackConfig, platform: Any) -> Any:
        from components.targets.aca.environment import AcaEnvironment

        # The platform exists: the config rule on targets that pull from the stack's ACR holds.
        return AcaEnvironment(
            ENVIRONMENT_RESOURCE,
            project=pulumi.get_project(),
            stack=config.stack,
            resource_group_name=platform.resource_group_name,
            location=platform.location,
            tags=platform.tags,
        )

    def declare(self, request: ServiceRequest) -> Deployment:
        from components.targets.aca.container_app import AcaWebservice

        deployment = AcaWebservice(
            f"{request.name}-aca",
            service=request.name,
            project=pulumi.get_project(),
            stack=request.stack,
            deploy=deploy_parameters(request.service, AcaDeploy),
            image=request.image,
            keys=request.keys,
            platform=request.platform,
            environment=request.shared,
            opts=pulumi.ResourceOptions(parent=request.parent),
        )
        return Deployment(deployment.scoring_uri, deployment.swagger_uri, deployment.state)

    # --- live --------------------------------------------------------------------------------

    def live_state(self, resource_type: str, outputs: dict[str, Any]) -> tuple[str, str] | None:
        return states.live_state(resource_type, outputs)

    def deployed_images(self, resource_type: str, inputs: dict[str, Any]) -> list[Any]:
        if resource_type != CONTAINER_APP:
            return []
        template = inputs.get("template")
        containers = template.get("containers") if isinstance(template, dict) else None
        return [c.get("image") for c in containers or [] if isinstance(c, dict)]

    def show_logs(self, request: LogsRequest) -> None:
        from components.config import naming
        from components.targets.aca import names
        from components.targets.aca.logs import aca_logs

        if request.follow:
            raise ModelstackError(
                "--follow is not available for aca services",
                key="--follow",
                rule="an aca service's console logs are read from Log Analytics, which receives them a minute or two late",
                fix="leave out --follow (run again for newer lines), or stream a running replica with `az containerapp logs show --follow`",
            )
        project, stack = request.project(), request.config.stack
        deploy = request.service.deploy
        text = aca_logs(
            request.config.resource_group or naming.resource_group_name(project, stack),
            names.log_workspace_name(project, stack),
            names.app_name(project, stack, request.name, deploy.app_name if isinstance(deploy, AcaDeploy) else None),
            tail=request.tail,
        )
        if text:
            request.write(text)


TARGET = AcaTarget()
