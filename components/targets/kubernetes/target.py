"""`target: kubernetes`: the webservice objects on any cluster named by a kubeconfig
(`modelstack:kubernetes_clusters`), behind that cluster's own Gateway API implementation.

The same objects serve `target: aks` (components.targets.aks), so what both share lives here:
the deploy rules of AksWebservice's parameters, the facts of a service on a cluster, and how a
service and its rollout versions are declared on a cluster.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.config.deploy_rules import (
    check_aks_auth,
    check_aks_limits,
    check_aks_scaling,
    check_aks_sizes,
    check_app_insights,
    check_keys_and_features,
    namespace_error,
)
from components.config.schema import AksDeploy, ServiceSpec, StackConfig, config_key
from components.errors import ConfigError
from components.policy.facts import autoscale_facts
from components.targets.base import Deployment, LogsRequest, ServiceRequest, Target, deploy_parameters


def cluster_deploy_errors(name: str, service: ServiceSpec) -> list[ConfigError]:
    """The rules of AksWebservice's deploy parameters, wherever the cluster is."""
    deploy = service.deploy
    if not isinstance(deploy, AksDeploy):
        return []
    errors = check_aks_scaling(name, deploy)
    errors += check_aks_auth(name, deploy, service.scoring_server)
    errors += check_aks_limits(name, deploy)
    errors += check_aks_sizes(name, deploy)
    if deploy.namespace is not None:
        error = namespace_error(name, deploy.namespace)
        errors += [error] if error else []
    errors += check_keys_and_features(name, deploy)
    errors += check_app_insights(name, deploy, service.scoring_server)
    return errors


def cluster_facts(deploy: AksDeploy, *, public: bool, tls_enabled: bool) -> dict[str, Any]:
    """A service on a cluster, as the policies judge it."""
    return dict(
        auth_enabled=deploy.auth_enabled or deploy.token_auth_enabled,
        public=public,
        tls_enabled=tls_enabled,
        cpu_cores=deploy.cpu_cores,
        memory_gb=deploy.memory_gb,
        **({"cpu_cores_limit": deploy.cpu_cores_limit} if deploy.cpu_cores_limit is not None else {}),
        **({"memory_gb_limit": deploy.memory_gb_limit} if deploy.memory_gb_limit is not None else {}),
        **autoscale_facts(deploy),
    )


def declare_on_cluster(request: ServiceRequest, cluster: Any, app_insights_connection_string: Any) -> Deployment:
    """The service's Kubernetes objects on `cluster` (an AksCluster, or a KubernetesCluster): one
    Deployment per rollout version, each version's image built (or taken from a promoted release)
    once per distinct set of models."""
    from components.config.rollout import rollout_versions
    from components.targets.kubernetes.frontend import frontend_for
    from components.targets.kubernetes.webservice import KubernetesWebservice

    service = request.service
    # The rules require a cluster's name in compute for the targets on a cluster.
    assert service.compute is not None, f"service {request.name} names no compute"
    versions = rollout_versions(request.name, service)
    images: dict[str, pulumi.Input[str]] = {}
    model_versions: dict[str, dict[str, str]] = {}
    by_models: dict[tuple[str, ...], tuple[pulumi.Input[str], dict[str, str]]] = {
        tuple(service.models): (request.image, request.model_versions)
    }
    pinned = request.release.versions if request.release is not None else {}
    for version in versions:
        if version.name in pinned:
            # A promoted release's version: the image that ran in the stage before, not rebuilt.
            images[version.name] = pinned[version.name].image
            model_versions[version.name] = dict(pinned[version.name].model_versions)
        elif version.models not in by_models:
            # A version serving other models has an image of its own, built from the same code.
            assert request.version_image is not None, "the Webservice gives every request its version_image"
            by_models[version.models] = request.version_image(version.name, version.models)
        if version.name not in pinned:
            images[version.name], model_versions[version.name] = by_models[version.models]
        if version.declared:
            request.versions[version.name] = {
                "traffic_percentile": version.percent,
                "image": images[version.name],
                "model_versions": model_versions[version.name],
            }
    webservice = KubernetesWebservice(
        f"{request.name}-aks",  # the name its stacks' states know it by
        service=request.name,
        deploy=deploy_parameters(service, AksDeploy),
        versions=versions,
        images=images,
        model_versions=model_versions,
        keys=request.keys,
        frontend=frontend_for(cluster, request.stack, service.compute),
        provider=cluster.provider,
        kubeconfig=cluster.kubeconfig,
        context=cluster.context,
        rollout_patience_seconds=cluster.rollout_patience_seconds,
        scoring_server=service.scoring_server,
        app_insights_connection_string=app_insights_connection_string,
        opts=pulumi.ResourceOptions(parent=request.parent),
    )
    return Deployment(webservice.scoring_uri, webservice.swagger_uri, webservice.state)


def deployment_live_state(resource_type: str, outputs: dict[str, Any]) -> tuple[str, str] | None:
    from components.resource_types import K8S_DEPLOYMENT
    from components.targets.states import K8S_SERVICE_LABEL, deployment_state

    if resource_type != K8S_DEPLOYMENT:
        return None
    service = ((outputs.get("metadata") or {}).get("labels") or {}).get(K8S_SERVICE_LABEL)
    return (service, deployment_state(outputs.get("status"))) if isinstance(service, str) and service else None


def show_pod_logs(request: LogsRequest, source: Any) -> None:
    from components.targets.kubernetes.frontend import default_namespace
    from components.targets.kubernetes.logs import pod_logs

    namespace = deploy_parameters(request.service, AksDeploy).namespace or default_namespace(request.config.stack)
    pod_logs(
        source,
        namespace,
        request.name,
        version=request.version,
        tail=request.tail,
        follow=request.follow,
        write=request.write,
    )


class KubernetesTarget(Target):
    name = "kubernetes"
    title = "Kubernetes"
    compute_section = "kubernetes_clusters"
    rollout_versions = True
    token_auth = True
    # AksWebservice's parameters, wherever the cluster is. Azure ML v1 has no computeType for such
    # a cluster: an imported deployment comes here when asked for (`--target kubernetes`), or, from
    # Azure ML v2, when its compute is one of the stack's kubernetes_clusters.
    azureml_webservice = "AksWebservice"
    # The stack declares the Gateway's HTTP listener only; TLS is the cluster's to provide.
    tls_fix = "terminate TLS in front of the cluster's Gateway (the stack declares an HTTP listener only)"

    def deploy_errors(self, config: StackConfig, name: str, service: ServiceSpec) -> list[ConfigError]:
        errors = []
        if isinstance(service.deploy, AksDeploy) and service.deploy.enable_app_insights:
            errors.append(
                ConfigError(
                    "enable_app_insights on target kubernetes",
                    key=config_key("services", name, "deploy", "enable_app_insights"),
                    rule="Application Insights is an Azure resource the stack creates for ACI and AKS services",
                    fix="remove enable_app_insights, or deploy the service to aks",
                )
            )
        return errors + cluster_deploy_errors(name, service)

    def policy_facts(self, config: StackConfig, name: str, service: ServiceSpec) -> dict[str, Any]:
        # A cluster the stack does not create: how it is exposed is not the stack's to know, so
        # it is judged as public; the stack's Gateway listens on plain HTTP.
        return cluster_facts(deploy_parameters(service, AksDeploy), public=True, tls_enabled=False)

    def declare_shared(self, config: StackConfig, platform: Any) -> dict[str, Any] | None:
        """The clusters this stack's kubernetes services run on, each with its provider (None for
        aks, whose clusters are the Azure platform's)."""
        from components.targets.kubernetes.cluster import KubernetesCluster

        names = sorted({s.compute for s in config.services.values() if s.target == self.name and s.compute})
        return {
            name: KubernetesCluster(name, spec=config.kubernetes_clusters[name], project_dir=config.project_dir)
            for name in names
        }

    def declare(self, request: ServiceRequest) -> Deployment:
        return declare_on_cluster(request, request.shared[request.service.compute], None)

    def live_state(self, resource_type: str, outputs: dict[str, Any]) -> tuple[str, str] | None:
        return deployment_live_state(resource_type, outputs)

    def show_logs(self, request: LogsRequest) -> None:
        from components.targets.kubernetes.logs import cluster_kubeconfig

        compute = request.service.compute
        assert compute is not None, f"service {request.name} names no compute"  # the rules require one
        source = cluster_kubeconfig(
            request.project_dir,
            request.config.stack,
            compute,
            request.config.kubernetes_clusters[compute],
            request.stack_config,
        )
        show_pod_logs(request, source)


TARGET = KubernetesTarget()
