"""The Azure platform of a stack: its resource group, container registry and AKS clusters.

`declare_platform(config)` is what `components.program` calls for a stack whose registry is
an ACR. It declares, with the stack's tags on every resource:
- a resource group: `modelstack:resource_group`, or rg-<project>-<stack>;
- a ContainerRegistry (name from `modelstack:registry.name`, or derived from project, stack
  and subscription), with a pull identity when a service's target pulls with one (ACI);
- an AksCluster per `modelstack:clusters` entry (created or attached), whose kubelet
  identity may pull from the registry;
- Application Insights when a service has `enable_app_insights` (components.targets.azure.app_insights).
It exports the registry's login server and each cluster's kubeconfig (a secret) and names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import authorization, resources

from components.config import naming
from components.config.schema import AcrRegistrySpec, StackConfig
from components.targets.azure.aks_cluster import AksCluster
from components.targets.azure.app_insights import AppInsights
from components.targets.azure.container_registry import ContainerRegistry
from components.targets.registry import target as target_named

# Stack output names, shared with the tests and the `modelstack` command. Secrets go in
# outputs of their own: Pulumi marks a whole output secret when any part of it is.
REGISTRY_OUTPUT = "registry"
REGISTRY_CREDENTIALS_OUTPUT = "registry_credentials"
CLUSTERS_OUTPUT = "clusters"
KUBECONFIGS_OUTPUT = "kubeconfigs"


@dataclass
class AzurePlatform:
    subscription_id: str
    location: str
    tags: dict[str, str]
    resource_group: resources.ResourceGroup
    resource_group_name: pulumi.Output[str]
    registry: ContainerRegistry
    login_server: pulumi.Output[str]
    registry_dependencies: list[pulumi.Resource]
    clusters: dict[str, AksCluster] = field(default_factory=dict)
    app_insights: AppInsights | None = None


def declare_platform(config: StackConfig) -> AzurePlatform:
    if not isinstance(config.registry, AcrRegistrySpec):
        raise TypeError("declare_platform is for stacks whose registry is kind: acr")
    project, stack = pulumi.get_project(), config.stack
    subscription_id = authorization.get_client_config().subscription_id
    tags = naming.stack_tags(project, stack, config.tags)

    group = resources.ResourceGroup(
        "resource-group",
        resource_group_name=config.resource_group or naming.resource_group_name(project, stack),
        location=config.location,
        tags=tags,
    )
    spec = config.registry
    # A pull identity (granted AcrPull) for the targets whose services pull with one.
    needs_pull_identity = any(target_named(service.target).uses_pull_identity for service in config.services.values())
    registry = ContainerRegistry(
        "registry",
        registry_name=spec.name or naming.registry_name(project, stack, subscription_id),
        resource_group_name=group.name,
        location=config.location,
        sku=spec.sku,
        subscription_id=subscription_id,
        tags=tags,
        admin_user_enabled=spec.admin_user_enabled,
        pull_identity_name=naming.identity_name(project, stack, "aci-pull")
        if needs_pull_identity
        else None,  # its name predates the other targets using it
    )
    clusters = {
        name: AksCluster(
            name,
            spec=cluster,
            project=project,
            stack=stack,
            project_dir=config.project_dir,
            resource_group_name=group.name,
            location=config.location,
            subscription_id=subscription_id,
            tags=naming.merge_tags(tags, {"modelstack-cluster": name}),
            registry_id=registry.registry_id,
        )
        for name, cluster in config.clusters.items()
    }
    export_outputs(registry, clusters)
    insights = None
    if any(
        getattr(service.deploy, "enable_app_insights", False) and target_named(service.target).app_insights
        for service in config.services.values()
    ):
        insights = AppInsights(
            "app-insights",
            spec=config.app_insights,
            project=project,
            stack=stack,
            resource_group_name=group.name,
            location=config.location,
            tags=tags,
        )
    return AzurePlatform(
        subscription_id=subscription_id,
        location=config.location,
        tags=tags,
        resource_group=group,
        resource_group_name=group.name,
        registry=registry,
        login_server=registry.login_server,
        registry_dependencies=[registry],
        clusters=clusters,
        app_insights=insights,
    )


def export_outputs(registry: ContainerRegistry, clusters: dict[str, AksCluster]) -> None:
    pulumi.export(REGISTRY_OUTPUT, {"login_server": registry.login_server, "registry_name": registry.registry_name})
    if registry.admin_password is not None:
        pulumi.export(
            REGISTRY_CREDENTIALS_OUTPUT, {"username": registry.admin_username, "password": registry.admin_password}
        )
    if clusters:
        pulumi.export(
            CLUSTERS_OUTPUT,
            {
                name: {
                    "cluster_name": cluster.cluster_name,
                    "api_server_fqdn": cluster.api_server_fqdn,
                    **({"frontend_fqdn": cluster.frontend_fqdn} if cluster.frontend_fqdn else {}),
                }
                for name, cluster in clusters.items()
            },
        )
        pulumi.export(KUBECONFIGS_OUTPUT, {name: cluster.kubeconfig for name, cluster in clusters.items()})
