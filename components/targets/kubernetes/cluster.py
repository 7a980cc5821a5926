"""KubernetesCluster: a cluster the stack deploys to but does not create (`target: kubernetes`).

It gives the services what an AksCluster gives them (components.targets.kubernetes.webservice
and .frontend take either): a provider for the cluster, named by a kubeconfig (the stack's secret,
or a file read when the stack runs; passed on as a secret) and a context, and how the front end is
exposed: the cluster's own gateway class and HTTP port, no load balancer settings (those are
Azure's), no TLS (put the cluster's own ingress certificate in front, or use AKS).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.config.kubernetes_rules import kubeconfig_file_text
from components.config.schema import KubernetesClusterSpec, config_key
from components.targets.kubernetes.frontend import GatewaySettings
from components.targets.kubernetes.rollout import DEFAULT_PATIENCE_SECONDS as ROLLOUT_PATIENCE_SECONDS


def kubeconfig_text(spec: KubernetesClusterSpec, project_dir: str) -> str:
    if spec.kubeconfig is not None:
        return spec.kubeconfig.get_secret_value()
    # Read within bounds (`check` and the config's rules have read it the same way already).
    return kubeconfig_file_text(project_dir, spec, config_key("kubernetes_clusters", "<cluster>", "kubeconfig_file"))


class KubernetesCluster(pulumi.ComponentResource):
    def __init__(
        self, name: str, *, spec: KubernetesClusterSpec, project_dir: str, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(
            "modelstack:kubernetes:KubernetesCluster",
            name,
            {"gateway_class": spec.gateway_class, "context": spec.context},
            opts,
        )
        self.kubeconfig = pulumi.Output.secret(kubeconfig_text(spec, project_dir))
        self.context = spec.context
        self.rollout_patience_seconds = ROLLOUT_PATIENCE_SECONDS
        # No context (None is left out of the provider's inputs): the kubeconfig's current one.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            context=spec.context or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The rules require gateway_class of a kubernetes cluster (components.config.kubernetes_rules).
        assert spec.gateway_class is not None, f"kubernetes cluster {name} has no gateway_class"
        self.gateway = GatewaySettings(spec.gateway_class, http_port=spec.http_port)
        self.gateway_prerequisites: list[pulumi.Resource] = []  # the cluster's own, checked by prerequisites.py
        self.frontend_fqdn = spec.hostname
        self.frontend_annotations: dict[str, str] = {}
        self.ssl_cname = None
        self.tls_certificate = self.tls_key = None
        self.register_outputs({})
