"""KubernetesFrontend: the one front end of a stack's webservices on a cluster (AKS, or any).

Azure ML ran its own front end (azureml-fe) in every cluster: one address, a path per service
(`/api/v1/service/<name>/score`), TLS with the cluster's certificate, weighted routing across
an endpoint's versions. Here that front end is a Kubernetes Gateway API `Gateway`, served by
the cluster's Gateway API implementation, and each service attaches an `HTTPRoute` to it. The
cluster component says which implementation and how to listen (`cluster.gateway`, a
GatewaySettings) and what must exist before the Gateway (`cluster.gateway_prerequisites`): a
created AKS cluster gets its implementation from the stack (components.targets.azure.aks_gateway),
an attached one brings AKS's or its own, a `kubernetes` cluster names its own.

The front end is declared once per cluster and stack, by the first AKS service that uses the
cluster (`frontend_for`), as a child of the cluster's component. It owns:
- the Kubernetes namespaces the stack's services run in (`modelstack-<stack>` by default,
  or a service's `namespace`), labelled so that their routes may attach to the Gateway;
- the Gateway, exposed as the cluster says (an internal load balancer and its subnet, or the
  leaf_domain_label DNS name: on the Gateway for its implementation's load balancer, or on the
  stack's Traefik's Service), with
  - HTTPS with the cluster's certificate (ssl_cname + PEM files, a TLS Secret), or
  - HTTPS with a certificate cert-manager issues for the leaf_domain_label name (the
    Microsoft-issued certificate of Azure ML; needs cert-manager and a ClusterIssuer named
    `letsencrypt`, which a created cluster gets from the stack), plus HTTP for the ACME
    challenge only, or
  - HTTP otherwise.
The listeners' ports are the implementation's (80 and 443 for most; Traefik binds a listener to
its entry point of the same port, 8000 and 8443 in its chart).
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
GATEWAY_NAME = "modelstack"
TLS_SECRET_NAME = "modelstack-frontend-tls"
ACME_CLUSTER_ISSUER = "letsencrypt"
FRONTEND_LABEL = "modelstack.io/frontend"
MANAGED_BY_LABELS = {"app.kubernetes.io/managed-by": "modelstack"}
# On every object the stack owns. pulumi-kubernetes applies objects with server-side apply, which
# refuses to take back a field another field manager has set since (`kubectl scale` sets
# .spec.replicas as manager "kubectl", `kubectl edit` a Secret's data as "kubectl-edit"): the stack
# could not repair drift on its own objects. With patchForce its apply takes those fields back.
# Fields another controller owns by design are never declared, so nothing is fought over: a
# Deployment under an HPA has no .spec.replicas (webservice.deployment_manifest).
OWNED_BY_STACK = {"pulumi.com/patchForce": "true"}
# Pulumi waits until the implementation has programmed the Gateway (its address is known).
WAIT_FOR_PROGRAMMED = {"pulumi.com/waitFor": "condition=Programmed"}
SERVICE_PATH_PREFIX = "/api/v1/service"


def default_namespace(stack: str) -> str:
    """Where a stack's services run unless they name a namespace: modelstack-<stack>."""
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", stack.lower())).strip("-")
    return f"modelstack-{slug}"[:63].rstrip("-")


def service_path(service: str) -> str:
    """The path prefix of a service on the front end, as Azure ML's AKS front end had it."""
    return f"{SERVICE_PATH_PREFIX}/{service}"


@dataclass(frozen=True)
class GatewaySettings:
    """How a cluster's Gateway API implementation is asked for the front end: its class, the
    ports its listeners take, and annotations for the load balancer it creates from the Gateway
    (`spec.infrastructure`; empty when the implementation's own Service carries them)."""

    gateway_class: str
    http_port: int = 80
    https_port: int = 443
    infrastructure_annotations: tuple[tuple[str, str], ...] = ()
    # The ports clients reach the listeners on, when the implementation's load balancer maps
    # them (Traefik's chart: 80 -> its entry point 8000); by default the listeners' own ports.
    client_http_port: int | None = None
    client_https_port: int | None = None

    def client_port(self, scheme: str) -> int:
        if scheme == "https":
            return self.client_https_port or self.https_port
        return self.client_http_port or self.http_port


@dataclass(frozen=True)
class Exposure:
    """How the front end listens: TLS or not, for which host name, with whose certificate."""

    tls: str | None  # "certificate" (the cluster's own), "acme" (cert-manager), or None
    hostname: str | None  # the public name, when known before deployment

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def route_listener(self) -> str:
        return "https" if self.tls else "http"


DEFAULT_PORTS = {"http": 80, "https": 443}


def service_base_uri(scheme: str, host: str, port: int, service: str) -> str:
    """Where clients call a service through the front end: the port is written when it is not the
    scheme's default, so the URI the stack reports is the one that answers."""
    authority = host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{authority}{service_path(service)}"


def exposure(ssl_cname: str | None, has_certificate: bool, frontend_fqdn: str | None) -> Exposure:
    if ssl_cname and has_certificate:
        return Exposure("certificate", ssl_cname)
    if frontend_fqdn:
        return Exposure("acme", frontend_fqdn)
    return Exposure(None, None)


def namespace_manifest(name: str, frontend_namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {**MANAGED_BY_LABELS, FRONTEND_LABEL: frontend_namespace},
            "annotations": dict(OWNED_BY_STACK),
        },
    }


def gateway_manifest(namespace: str, exposed: Exposure, gateway: GatewaySettings) -> dict[str, Any]:
    routes_from_services = {
        "namespaces": {"from": "Selector", "selector": {"matchLabels": {FRONTEND_LABEL: namespace}}}
    }
    if exposed.tls:
        https: dict[str, Any] = {
            "name": "https",
            "protocol": "HTTPS",
            "port": gateway.https_port,
            "hostname": exposed.hostname,
            "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": TLS_SECRET_NAME}]},
            "allowedRoutes": routes_from_services,
        }
        listeners = [https]
        if exposed.tls == "acme":  # cert-manager answers the HTTP-01 challenge on port 80
            listeners.append(
                {
                    "name": "http",
                    "protocol": "HTTP",
                    "port": gateway.http_port,
                    "hostname": exposed.hostname,
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                }
            )
    else:
        listeners = [
            {"name": "http", "protocol": "HTTP", "port": gateway.http_port, "allowedRoutes": routes_from_services}
        ]
    gateway_annotations = {**WAIT_FOR_PROGRAMMED, **OWNED_BY_STACK}
    if exposed.tls == "acme":
        gateway_annotations["cert-manager.io/cluster-issuer"] = ACME_CLUSTER_ISSUER
    spec: dict[str, Any] = {"gatewayClassName": gateway.gateway_class, "listeners": listeners}
    if gateway.infrastructure_annotations:
        spec["infrastructure"] = {"annotations": dict(gateway.infrastructure_annotations)}
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": "Gateway",
        "metadata": {
            "name": GATEWAY_NAME,
            "namespace": namespace,
            "labels": dict(MANAGED_BY_LABELS),
            "annotations": gateway_annotations,
        },
        "spec": spec,
    }


def tls_secret_manifest(namespace: str) -> dict[str, Any]:
    """The certificate's Secret, without its data (that goes in as a secret)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": TLS_SECRET_NAME,
            "namespace": namespace,
            "labels": dict(MANAGED_BY_LABELS),
            "annotations": dict(OWNED_BY_STACK),
        },
    }


def gateway_address(status: Any) -> str | None:
    """The first address the implementation reports on the Gateway."""
    addresses = (status or {}).get("addresses") or []
    return addresses[0].get("value") if addresses else None


class GatewayApiObject(pulumi.CustomResource):
    """A Gateway API object (Gateway, HTTPRoute): pulumi-kubernetes' CustomResource, with its
    `status` as an output (the generic class has none)."""

    status: pulumi.Output[Any]

    def __init__(self, name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions):
        props = {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            "metadata": manifest["metadata"],
            "spec": manifest["spec"],
            "status": None,
        }
        if opts.provider is None:
            raise ValueError("Gateway API objects go to a cluster through its explicit provider")
        super().__init__(f"kubernetes:{manifest['apiVersion']}:{manifest['kind']}", name, props, opts)


# Named for AKS before any cluster could have one: see components.targets.kubernetes.webservice.
PREVIOUS_FRONTEND_TYPE = "modelstack:aks:AksFrontend"


class KubernetesFrontend(pulumi.ComponentResource):
    """The Gateway a stack's services on one cluster are reached through: `ensure_namespace(name)`,
    `gateway_namespace`, `exposure`, `address` (the host clients call)."""

    def __init__(self, name: str, *, cluster, stack: str, opts: pulumi.ResourceOptions | None = None):
        self.gateway_namespace = default_namespace(stack)
        self.exposure = exposure(cluster.ssl_cname, cluster.tls_certificate is not None, cluster.frontend_fqdn)
        settings: GatewaySettings = cluster.gateway
        self.client_port = settings.client_port(self.exposure.scheme)
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=PREVIOUS_FRONTEND_TYPE)])
        )
        super().__init__(
            "modelstack:kubernetes:Frontend",
            name,
            {"namespace": self.gateway_namespace, "gateway_class": settings.gateway_class, "tls": self.exposure.tls},
            opts,
        )
        self._name = name
        self._provider = cluster.provider
        self._namespaces: dict[str, k8s.core.v1.Namespace] = {}
        own = self.ensure_namespace(self.gateway_namespace)
        depends = [own, *cluster.gateway_prerequisites]
        if self.exposure.tls == "certificate":
            secret = tls_secret_manifest(self.gateway_namespace)
            self.tls_secret = k8s.core.v1.Secret(
                f"{name}-tls",
                metadata=secret["metadata"],
                type=secret["type"],
                string_data={"tls.crt": cluster.tls_certificate, "tls.key": cluster.tls_key},
                opts=self._child(depends_on=[own]),
            )
            depends.append(self.tls_secret)
        manifest = gateway_manifest(self.gateway_namespace, self.exposure, settings)
        self.gateway = GatewayApiObject(f"{name}-gateway", manifest, self._child(depends_on=depends))
        reported = self.gateway.status.apply(gateway_address)
        self.address = pulumi.Output.from_input(self.exposure.hostname) if self.exposure.hostname else reported
        self.register_outputs({"namespace": self.gateway_namespace, "address": self.address})

    def _child(self, **extra) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._provider, **extra)

    def ensure_namespace(self, name: str) -> k8s.core.v1.Namespace:
        """The namespace `name`, declared once whatever the number of services in it."""
        if name not in self._namespaces:
            manifest = namespace_manifest(name, self.gateway_namespace)
            self._namespaces[name] = k8s.core.v1.Namespace(
                f"{self._name}-namespace-{name}", metadata=manifest["metadata"], opts=self._child()
            )
        return self._namespaces[name]


# One front end per cluster component (that is, per cluster and stack), for this program run.
_frontends: weakref.WeakKeyDictionary[Any, KubernetesFrontend] = weakref.WeakKeyDictionary()


def frontend_for(cluster, stack: str, cluster_name: str) -> KubernetesFrontend:
    """The cluster's front end, declared by the first service that needs it."""
    frontend = _frontends.get(cluster)
    if frontend is None:
        frontend = KubernetesFrontend(
            f"{cluster_name}-frontend", cluster=cluster, stack=stack, opts=pulumi.ResourceOptions(parent=cluster)
        )
        _frontends[cluster] = frontend
    return frontend
