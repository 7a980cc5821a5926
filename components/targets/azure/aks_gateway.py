"""What a created AKS cluster needs before its front end's Gateway can exist, declared by the stack.

AKS's own Gateway API implementation (the application routing add-on's Istio gateway) cannot be
switched on through azure-native 3.29.0: the ManagedCluster of its API version (2025-09-01) has
`ingressProfile.webAppRouting` with `enabled`, `dnsZoneResourceIds` and `nginx` only. So a cluster
the stack creates gets, on the cluster's Kubernetes provider:
- the Gateway API CRDs (standard channel, the version the test cluster runs), from the
  project's release manifest;
- Traefik from its Helm chart, with only its Gateway API provider on, its GatewayClass named
  `modelstack`, no Gateway of its own (the front end declares one), the front end's load balancer
  annotations on its Service (internal load balancer and subnet, or the leaf_domain_label DNS
  name), and as many replicas as the cluster's purpose asks (two for FastProd);
- with a leaf_domain_label: cert-manager from its Helm chart (its CRDs, Gateway API support on)
  and the ClusterIssuer `letsencrypt` the Gateway names, answering HTTP-01 challenges through
  the Gateway's HTTP listener.

Traefik binds a Gateway listener to its entry point of the same port, so the front end's
listeners take the chart's entry point ports (8000, 8443); its Service publishes them on 80 and
443. An attached cluster brings its own implementation (`gateway_class`, AKS's `approuting-istio`
by default) and, for leaf_domain_label, its own cert-manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.targets.kubernetes.frontend import ACME_CLUSTER_ISSUER, GATEWAY_NAME, MANAGED_BY_LABELS, GatewaySettings

GATEWAY_API_VERSION = "v1.4.1"
GATEWAY_API_CRDS = (
    f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API_VERSION}/standard-install.yaml"
)
STACK_GATEWAY_CLASS = "modelstack"
GATEWAY_NAMESPACE = "modelstack-gateway"
TRAEFIK_CHART = "traefik"
TRAEFIK_REPOSITORY = "https://traefik.github.io/charts"
TRAEFIK_CHART_VERSION = "39.0.5"
TRAEFIK_IMAGE_TAG = "v3.6.12"  # the Traefik the test cluster runs and the rollout tests measured
TRAEFIK_HTTP_PORT = 8000  # the chart's `web` entry point
TRAEFIK_HTTPS_PORT = 8443  # the chart's `websecure` entry point
CERT_MANAGER_CHART = "cert-manager"
CERT_MANAGER_REPOSITORY = "https://charts.jetstack.io"
CERT_MANAGER_CHART_VERSION = "v1.19.1"
CERT_MANAGER_NAMESPACE = "cert-manager"
LETSENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"
ACME_ACCOUNT_SECRET = "modelstack-letsencrypt-account"

# How the front end asks for the stack's Traefik (its Service carries the load balancer settings
# and maps the standard ports 80 and 443 to the entry points).
STACK_GATEWAY = GatewaySettings(
    STACK_GATEWAY_CLASS,
    http_port=TRAEFIK_HTTP_PORT,
    https_port=TRAEFIK_HTTPS_PORT,
    client_http_port=80,
    client_https_port=443,
)


# --- pure decisions ---------------------------------------------------------------------------


def traefik_replicas(cluster_purpose: str) -> int:
    """Two for production (one survives a node drain), one for DevTest."""
    return 2 if cluster_purpose == "FastProd" else 1


def traefik_values(service_annotations: Mapping[str, str], replicas: int) -> dict[str, Any]:
    return {
        "image": {"tag": TRAEFIK_IMAGE_TAG},
        "deployment": {"replicas": replicas},
        "podDisruptionBudget": {"enabled": replicas > 1, **({"maxUnavailable": 1} if replicas > 1 else {})},
        "providers": {
            "kubernetesGateway": {"enabled": True},
            "kubernetesCRD": {"enabled": False},
            "kubernetesIngress": {"enabled": False},
        },
        "gateway": {"enabled": False},
        "gatewayClass": {"enabled": True, "name": STACK_GATEWAY_CLASS},
        "service": {"annotations": dict(service_annotations)},
    }


def cert_manager_values() -> dict[str, Any]:
    return {
        "crds": {"enabled": True},
        "config": {
            "apiVersion": "controller.config.cert-manager.io/v1alpha1",
            "kind": "ControllerConfiguration",
            "enableGatewayAPI": True,
        },
    }


def cluster_issuer_manifest(gateway_namespace: str) -> dict[str, Any]:
    """Let's Encrypt, answering HTTP-01 through the front end's Gateway (its `http` listener)."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": ACME_CLUSTER_ISSUER, "labels": dict(MANAGED_BY_LABELS)},
        "spec": {
            "acme": {
                "server": LETSENCRYPT_DIRECTORY,
                "privateKeySecretRef": {"name": ACME_ACCOUNT_SECRET},
                "solvers": [
                    {
                        "http01": {
                            "gatewayHTTPRoute": {
                                "parentRefs": [
                                    {
                                        "kind": "Gateway",
                                        "name": GATEWAY_NAME,
                                        "namespace": gateway_namespace,
                                        "sectionName": "http",
                                    }
                                ]
                            }
                        }
                    }
                ],
            }
        },
    }


# --- the component ------------------------------------------------------------------------------


@dataclass
class StackGateway:
    """The resources declared, and the ones the front end's Gateway waits for."""

    crds: Any
    traefik: Any
    cert_manager: Any = None
    cluster_issuer: Any = None

    @property
    def prerequisites(self) -> list[pulumi.Resource]:
        return [r for r in (self.traefik, self.cluster_issuer) if r is not None]


def _chart(
    name: str,
    *,
    release: str,
    chart: str,
    version: str,
    repository: str,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Release:
    """A pinned chart from its repository, in a namespace of its own the release creates."""
    return k8s.helm.v3.Release(
        name,
        name=release,
        chart=chart,
        version=version,
        repository_opts={"repo": repository},
        namespace=namespace,
        create_namespace=True,
        values=values,
        opts=opts,
    )


def declare_stack_gateway(
    name: str,
    *,
    provider: k8s.Provider,
    parent: pulumi.Resource,
    service_annotations: Mapping[str, str],
    cluster_purpose: str,
    acme_gateway_namespace: str | None,
) -> StackGateway:
    """Gateway API CRDs and Traefik on the created cluster; cert-manager and its ClusterIssuer when
    the front end's certificate comes from ACME (acme_gateway_namespace: where the Gateway is)."""
    on_cluster = pulumi.ResourceOptions(parent=parent, provider=provider)

    def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=list(resources)))

    crds = k8s.yaml.v2.ConfigFile(f"{name}-gateway-api-crds", file=GATEWAY_API_CRDS, opts=on_cluster)
    traefik = _chart(
        f"{name}-traefik",
        release="modelstack-traefik",
        chart=TRAEFIK_CHART,
        version=TRAEFIK_CHART_VERSION,
        repository=TRAEFIK_REPOSITORY,
        namespace=GATEWAY_NAMESPACE,
        values=traefik_values(service_annotations, traefik_replicas(cluster_purpose)),
        opts=after(crds),
    )
    declared = StackGateway(crds=crds, traefik=traefik)
    if acme_gateway_namespace is not None:
        declared.cert_manager = _chart(
            f"{name}-cert-manager",
            release="cert-manager",
            chart=CERT_MANAGER_CHART,
            version=CERT_MANAGER_CHART_VERSION,
            repository=CERT_MANAGER_REPOSITORY,
            namespace=CERT_MANAGER_NAMESPACE,
            values=cert_manager_values(),
            opts=after(crds),
        )
        issuer = cluster_issuer_manifest(acme_gateway_namespace)
        declared.cluster_issuer = k8s.apiextensions.CustomResource(
            f"{name}-letsencrypt",
            api_version=issuer["apiVersion"],
            kind=issuer["kind"],
            metadata=issuer["metadata"],
            spec=issuer["spec"],
            opts=after(declared.cert_manager),
        )
    return declared
