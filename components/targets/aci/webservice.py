"""AciWebservice: Azure ML's ACI webservice, as one container group of the stack's platform.

From `AciWebservice.deploy_configuration` parameters: `cpu_cores` and `memory_gb` size the
container; `auth_enabled` turns the image's key check on (keys from `components.targets.keys`, sent
as secure environment variables); `ssl_enabled` with `ssl_cert_pem_file`, `ssl_key_pem_file`
and `ssl_cname` makes the container serve HTTPS itself (the certificate and key are secure
environment variables too; point the cname at the group's FQDN); `dns_name_label` (default
<service>-<stack>) names the public IP; `vnet_name` + `subnet_name` put the group in a subnet
of the stack's resource group instead (private IP only, no DNS label); `location` and `tags`.
`properties` and `description` are Azure ML workspace metadata: they are recorded on this
component. The image is pulled from the stack's registry with its pull identity.

The scoring server's concurrency: AciWebservice.deploy_configuration has no
replica_max_concurrent_requests nor scoring_timeout_ms, so the container gets Azure ML's
defaults explicitly, WORKER_COUNT=1 (one worker, one run() at a time, as Azure ML's ACI
images run) and SCORING_TIMEOUT_MS=60000 (Azure ML's scoring timeout; the servers' own default
is an hour).

Liveness and readiness probes call the scoring server's health route `GET /` (open without a
key). `scoring_uri` and `swagger_uri` are built from the group's FQDN (or private IP, or the
ssl_cname) on the container's port 5001, and `state` is Azure ML's name for what ACI reports.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.config import naming
from components.config.config_files import read_project_file
from components.config.schema import AciDeploy, config_key
from components.resource_types import CONTAINER_GROUP
from components.targets.aci.container_group import AciContainer, AciGroup
from components.targets.keys import (
    APP_INSIGHTS_CONNECTION_STRING_ENV,
    PRIMARY_KEY_ENV,
    SECONDARY_KEY_ENV,
    TLS_CERT_ENV,
    TLS_KEY_ENV,
    ServiceKeys,
    front_environment,
)
from components.targets.states import SERVICE_TAG, aci_state
from modelstack_server import contract

# The container's probes. Liveness waits as long as Azure ML's does before it judges a
# container (init() may load a large model); readiness answers as soon as the server does.
LIVENESS_PROBE = {
    "initial_delay_seconds": 310,
    "period_seconds": 10,
    "timeout_seconds": 2,
    "success_threshold": 1,
    "failure_threshold": 3,
}
READINESS_PROBE = {
    "initial_delay_seconds": 5,
    "period_seconds": 5,
    "timeout_seconds": 2,
    "success_threshold": 1,
    "failure_threshold": 3,
}


ACI_WORKER_COUNT = 1
ACI_SCORING_TIMEOUT_MS = 60_000


def container_environment(deploy: AciDeploy) -> dict[str, str]:
    """The container's plain environment: the server's concurrency and timeout, then the front's settings."""
    return {
        contract.WORKER_COUNT_ENV: str(ACI_WORKER_COUNT),
        contract.SCORING_TIMEOUT_ENV: str(ACI_SCORING_TIMEOUT_MS),
        **front_environment(deploy),
    }


# --- pure decisions -------------------------------------------------------------------------------


def probe(settings: dict[str, int], tls: bool) -> dict[str, Any]:
    return {
        "http_get": {"path": contract.HEALTH_ROUTE, "port": contract.PORT, "scheme": "https" if tls else "http"},
        **settings,
    }


def endpoint_host(deploy: AciDeploy, fqdn: str | None, ip_address: str | None) -> str | None:
    """Where clients call: the ssl_cname (a CNAME to the FQDN), the FQDN, or the private IP."""
    if deploy.ssl_enabled and deploy.ssl_cname:
        return deploy.ssl_cname
    return fqdn or ip_address


def endpoint_uris(deploy: AciDeploy, host: str | None) -> dict[str, str | None]:
    if not host:
        return {"scoring_uri": None, "swagger_uri": None}
    base = f"{'https' if deploy.ssl_enabled else 'http'}://{host}:{contract.PORT}"
    return {"scoring_uri": f"{base}{contract.SCORE_ROUTE}", "swagger_uri": f"{base}{contract.SWAGGER_ROUTE}"}


def subnet_resource_id(subscription_id: str, resource_group: str, deploy: AciDeploy) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.Network/virtualNetworks/{deploy.vnet_name}/subnets/{deploy.subnet_name}"


def with_probes(tls: bool):
    """A transformation giving the container group's containers their probes.

    AciContainer (components.targets.aci.container_group) has no probe settings yet, so they are added to the
    ContainerGroup's arguments as it is registered.
    """

    def transformation(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != CONTAINER_GROUP:
            return None
        declared = args.props["containers"]
        assert isinstance(declared, list)  # AciGroup gives the containers' arguments as a list of dicts
        containers = [
            {**container, "liveness_probe": probe(LIVENESS_PROBE, tls), "readiness_probe": probe(READINESS_PROBE, tls)}
            for container in declared
        ]
        return pulumi.ResourceTransformationResult(props={**args.props, "containers": containers}, opts=args.opts)

    return transformation


def _field(value: Any, name: str) -> Any:
    if value is None:
        return None
    return value.get(name) if type(value) is dict else getattr(value, name, None)


# --- the component ------------------------------------------------------------------------------


class AciWebservice(pulumi.ComponentResource):
    """One service on ACI: `scoring_uri`, `swagger_uri`, `state`, `fqdn`."""

    scoring_uri: pulumi.Output[str | None]  # None while the group has no address
    swagger_uri: pulumi.Output[str | None]
    state: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        service: str,
        stack: str,
        deploy: AciDeploy,
        image: pulumi.Input[str],
        keys: ServiceKeys | None,
        platform,  # components.targets.azure.platform.AzurePlatform
        project_dir: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "cpu_cores": deploy.cpu_cores,
            "memory_gb": deploy.memory_gb,
            "auth_enabled": deploy.auth_enabled,
            "ssl_enabled": deploy.ssl_enabled,
            "properties": dict(deploy.properties),
            "description": deploy.description,
        }
        super().__init__("modelstack:aci:AciWebservice", name, props, opts)
        project = pulumi.get_project()
        private = bool(deploy.vnet_name and deploy.subnet_name)
        secure: dict[str, pulumi.Input[str]] = {}
        if keys is not None:
            # ACI authenticates with keys, never tokens: a service's keys are both there.
            assert keys.primary is not None and keys.secondary is not None
            secure.update({PRIMARY_KEY_ENV: keys.primary, SECONDARY_KEY_ENV: keys.secondary})
        if deploy.enable_app_insights and platform.app_insights is not None:
            secure[APP_INSIGHTS_CONNECTION_STRING_ENV] = platform.app_insights.connection_string
        if deploy.ssl_enabled and deploy.ssl_cert_pem_file and deploy.ssl_key_pem_file:
            secure[TLS_CERT_ENV] = pulumi.Output.secret(
                read_project_file(
                    project_dir,
                    deploy.ssl_cert_pem_file,
                    config_key("services", service, "deploy", "ssl_cert_pem_file"),
                    "PEM file",
                )
            )
            secure[TLS_KEY_ENV] = pulumi.Output.secret(
                read_project_file(
                    project_dir,
                    deploy.ssl_key_pem_file,
                    config_key("services", service, "deploy", "ssl_key_pem_file"),
                    "PEM file",
                )
            )
        container = AciContainer(
            name=service,
            image=image,
            cpu_cores=deploy.cpu_cores,
            memory_gb=deploy.memory_gb,
            ports=(contract.PORT,),
            environment=container_environment(deploy),
            secure_environment=secure,
        )
        subnet_id = None
        if private:
            subnet_id = pulumi.Output.from_input(platform.resource_group_name).apply(
                lambda group: subnet_resource_id(platform.subscription_id, group, deploy)
            )
        self.group = AciGroup(
            service,
            group_name=naming.container_group_name(project, stack, service),
            resource_group_name=platform.resource_group_name,
            location=deploy.location or platform.location,
            containers=[container],
            registry_server=platform.login_server,
            registry_identity_id=platform.registry.pull_identity_id,
            tags=naming.merge_tags(deploy.tags, platform.tags, {SERVICE_TAG: service}),
            dns_name_label=None if private else (deploy.dns_name_label or naming.aci_dns_label(stack, service)),
            subnet_id=subnet_id,
            opts=pulumi.ResourceOptions(parent=self, transformations=[with_probes(deploy.ssl_enabled)]),
        )
        group = self.group.group
        self.fqdn = self.group.fqdn
        self.state = pulumi.Output.all(group.provisioning_state, group.instance_view).apply(
            lambda values: aci_state(values[0], _field(values[1], "state"))
        )
        uris = pulumi.Output.all(self.group.fqdn, self.group.ip_address).apply(
            lambda values: endpoint_uris(deploy, endpoint_host(deploy, values[0], values[1]))
        )
        self.scoring_uri = uris.apply(lambda u: u["scoring_uri"])
        self.swagger_uri = uris.apply(lambda u: u["swagger_uri"])
        self.register_outputs(
            {"scoring_uri": self.scoring_uri, "swagger_uri": self.swagger_uri, "state": self.state, "fqdn": self.fqdn}
        )
