"""What a cluster the stack does not create must have before the first `up`, checked against the
cluster itself when the stack runs under the engine (never under `check`, which reaches no cluster):
the API server answers with the kubeconfig and context given, Gateway API is installed, the
configured GatewayClass exists and its controller has accepted it, and, for an attached AKS
cluster whose front end gets its certificate from the leaf_domain_label, cert-manager's
ClusterIssuer `letsencrypt` exists. `check_stack` covers `target: kubernetes` clusters;
`check_cluster` is also what attached AKS clusters are checked with
(components.targets.azure.aks_cluster); a created AKS cluster gets all of it from the stack
(components.targets.azure.aks_gateway).
"""

from __future__ import annotations

from typing import Any

from components.config.schema import KubernetesClusterSpec, config_key
from components.errors import ModelstackError
from components.targets.kubernetes.access import api_client

GATEWAY_GROUP, GATEWAY_VERSION = "gateway.networking.k8s.io", "v1"


def _json_object(answer: object) -> dict[str, Any]:
    """An answer of the custom objects API: a JSON object (the client's annotations say `object`)."""
    assert isinstance(answer, dict), f"the custom objects API answered with {type(answer).__name__}"
    return answer


def gateway_class_problem(client, gateway_class: str) -> str | None:
    """None when the GatewayClass exists and is Accepted; else what is wrong, in a sentence."""
    from kubernetes import client as k8s_client
    from kubernetes.client.exceptions import ApiException

    api = k8s_client.CustomObjectsApi(client)
    try:
        found = _json_object(
            api.get_cluster_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, "gatewayclasses", gateway_class)
        )
    except ApiException as failed:
        if failed.status != 404:
            raise
        try:
            listed = _json_object(api.list_cluster_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, "gatewayclasses"))[
                "items"
            ]
        except ApiException as missing:
            if missing.status == 404:
                return "the cluster has no Gateway API: its CRDs (gateway.networking.k8s.io/v1) are not installed"
            raise
        names = sorted(item["metadata"]["name"] for item in listed)
        return f"the cluster has no GatewayClass '{gateway_class}' (it has: {', '.join(names) or 'none'})"
    accepted = next(
        (c for c in (found.get("status") or {}).get("conditions") or [] if c.get("type") == "Accepted"), None
    )
    if accepted is None or accepted.get("status") != "True":
        reason = (accepted or {}).get("message") or (accepted or {}).get("reason") or "no controller has accepted it"
        return f"GatewayClass '{gateway_class}' is not accepted by its controller: {reason}"
    return None


def issuer_problem(client, issuer: str) -> str | None:
    """None when cert-manager's ClusterIssuer `issuer` exists; else what is missing, in a sentence."""
    from kubernetes import client as k8s_client
    from kubernetes.client.exceptions import ApiException

    try:
        k8s_client.CustomObjectsApi(client).get_cluster_custom_object("cert-manager.io", "v1", "clusterissuers", issuer)
    except ApiException as failed:
        if failed.status != 404:
            raise
        return f"the cluster has no ClusterIssuer '{issuer}' (cert-manager issues the front end's certificate for the leaf_domain_label name)"
    return None


def check(name: str, spec: KubernetesClusterSpec, kubeconfig: str) -> None:
    """Raise a ModelstackError naming the cluster's key, the rule and the fix when it cannot host the services."""
    # The rules require gateway_class of a kubernetes cluster (components.config.kubernetes_rules).
    assert spec.gateway_class is not None, f"kubernetes cluster {name} has no gateway_class"
    check_cluster(config_key("kubernetes_clusters", name), spec.gateway_class, spec.context, kubeconfig)


def check_cluster(
    key: str, gateway_class: str, context: str | None, kubeconfig: str, acme_issuer: str | None = None
) -> None:
    """The checks of any cluster the stack does not create, its errors on `key`'s settings."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    client = api_client(kubeconfig, context, key)
    issuer = None
    try:
        problem = gateway_class_problem(client, gateway_class)
        if problem is None and acme_issuer is not None:
            issuer = issuer_problem(client, acme_issuer)
    except (ApiException, HTTPError, OSError) as failed:
        raise ModelstackError(
            f"the cluster did not answer ({getattr(failed, 'status', '') or type(failed).__name__})",
            key=key,
            rule="the stack deploys to the cluster its kubeconfig names, which must be reachable when it runs",
            fix="check it with `kubectl get nodes` using the same kubeconfig and context",
        ) from None
    finally:
        client.close()
    if problem:
        raise ModelstackError(
            problem,
            key=f"{key}.gateway_class",
            rule="services are reached through a Gateway of the cluster's Gateway API implementation, named by its GatewayClass",
            fix="install a Gateway API implementation (e.g. Traefik, Envoy Gateway, Istio, NGINX Gateway Fabric) and set gateway_class to its class (`kubectl get gatewayclass`)",
        )
    if issuer:
        raise ModelstackError(
            issuer,
            key=f"{key}.leaf_domain_label",
            rule="a leaf_domain_label's certificate is issued by cert-manager, through a ClusterIssuer named letsencrypt that answers HTTP-01 challenges through the front end's Gateway",
            fix="install cert-manager with its Gateway API support on (helm: --set crds.enabled=true --set config.enableGatewayAPI=true) and create the ClusterIssuer letsencrypt, or use ssl_cname with your own certificate",
        )


def check_stack(config: Any) -> None:
    """Every cluster that a kubernetes service of the stack uses (attached AKS clusters:
    components.targets.azure.aks_cluster.check_attached_prerequisites)."""
    from components.targets.kubernetes.cluster import kubeconfig_text

    used = {service.compute for service in config.services.values() if service.target == "kubernetes"}
    for name in sorted(used):
        spec = config.kubernetes_clusters[name]
        check(name, spec, kubeconfig_text(spec, config.project_dir))
