"""`target: aks`: the webservice objects on an AKS cluster of `modelstack:clusters`, which the
stack creates (or attaches) on its Azure platform, behind the cluster's front end. The objects,
rules and facts are those of any cluster (components.targets.kubernetes.target); what is AKS's
own is where the cluster comes from, its capacity and TLS, and Application Insights."""

from __future__ import annotations

from typing import Any

from components.config.schema import AksDeploy, ClusterSpec, ServiceSpec, StackConfig
from components.targets.base import Deployment, LogsRequest, ServiceRequest, deploy_parameters
from components.targets.kubernetes.target import (
    KubernetesTarget,
    cluster_deploy_errors,
    cluster_facts,
    declare_on_cluster,
    show_pod_logs,
)


class AksTarget(KubernetesTarget):
    name = "aks"
    title = "AKS"
    compute_section = "clusters"
    pulls_from_acr = True
    app_insights = True
    azureml_webservice = "AksWebservice"
    azureml_compute_type = "AKS"
    tls_fix = "set leaf_domain_label (a Microsoft-issued certificate) or ssl_cname with ssl_cert_pem_file and ssl_key_pem_file on its cluster"

    def deploy_errors(self, config: StackConfig, name: str, service: ServiceSpec) -> list:
        return cluster_deploy_errors(name, service)

    def policy_facts(self, config: StackConfig, name: str, service: ServiceSpec) -> dict[str, Any]:
        cluster = config.clusters.get(service.compute or "")
        return cluster_facts(
            deploy_parameters(service, AksDeploy),
            public=cluster is None or cluster.load_balancer_type == "PublicIp",
            tls_enabled=bool(cluster and (cluster.ssl_cname or cluster.leaf_domain_label)),
        )

    def aks_cluster(self, config: StackConfig, service: ServiceSpec) -> ClusterSpec | None:
        return config.clusters.get(service.compute or "")

    def declare_shared(self, config: StackConfig, platform: Any) -> None:
        return None  # the clusters are the Azure platform's (components.targets.azure.platform)

    def declare(self, request: ServiceRequest) -> Deployment:
        platform = request.platform
        insights = platform.app_insights.connection_string if platform.app_insights is not None else None
        return declare_on_cluster(request, platform.clusters[request.service.compute], insights)

    def show_logs(self, request: LogsRequest) -> None:
        from components.targets.aks.logs import stack_kubeconfig

        show_pod_logs(request, stack_kubeconfig(request.config.stack, request.service.compute, request.stack_outputs))


TARGET = AksTarget()
