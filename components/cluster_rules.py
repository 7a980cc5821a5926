"""Rules of `modelstack:clusters` (AksCompute provisioning and attach configuration).

Pure functions over the parsed config; each returns ConfigErrors naming key, rule and fix.
"""

from __future__ import annotations

import re

from .config import NAMESPACE, ClusterSpec, StackConfig
from .errors import ConfigError

# Azure ML compute names: 3-24 characters, letters, digits and '-', starting with a letter.
COMPUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{2,23}$")
SSL_FIELDS = ("ssl_cname", "ssl_cert_pem_file", "ssl_key_pem_file")
VNET_FIELDS = ("vnet_resourcegroup_name", "vnet_name", "subnet_name", "service_cidr", "dns_service_ip", "docker_bridge_cidr")


def _key(name: str, *parts: str) -> str:
    return f"{NAMESPACE}:clusters." + ".".join((name, *parts))


def _all_or_none(name: str, cluster: ClusterSpec, fields: tuple[str, ...], what: str) -> list[ConfigError]:
    given = [f for f in fields if getattr(cluster, f)]
    if given and len(given) != len(fields):
        missing = [f for f in fields if f not in given]
        return [ConfigError(
            f"{what} is partly set: {', '.join(given)} given, {', '.join(missing)} missing",
            key=_key(name),
            rule=f"{', '.join(fields)} are all set or none",
            fix=f"set {', '.join(missing)}, or remove {', '.join(given)}",
        )]
    return []


def check_attach(name: str, cluster: ClusterSpec) -> list[ConfigError]:
    attach = cluster.attach
    if attach is None:
        return []
    key = _key(name, "attach")
    by_name = attach.resource_group or attach.cluster_name
    if attach.resource_id and by_name:
        return [ConfigError("names the cluster twice", key=key, rule="attach uses resource_group + cluster_name, or resource_id, not both", fix="keep resource_id, or keep resource_group + cluster_name")]
    if not attach.resource_id and not (attach.resource_group and attach.cluster_name):
        return [ConfigError("does not say which cluster", key=key, rule="attach needs resource_group and cluster_name together, or a resource_id", fix="set both resource_group and cluster_name, or set resource_id")]
    if attach.resource_id and "/providers/Microsoft.ContainerService/managedClusters/" not in attach.resource_id:
        return [ConfigError(f"resource_id '{attach.resource_id}' is not an AKS cluster id", key=f"{key}.resource_id", rule="resource_id is a Microsoft.ContainerService/managedClusters resource id", fix="copy the id from `az aks show --query id`")]
    return []


def check_network(name: str, cluster: ClusterSpec) -> list[ConfigError]:
    errors = _all_or_none(name, cluster, SSL_FIELDS, "SSL") + _all_or_none(name, cluster, VNET_FIELDS, "vnet")
    internal = cluster.load_balancer_type == "InternalLoadBalancer"
    if cluster.load_balancer_subnet and not internal:
        errors.append(ConfigError("load_balancer_subnet is set with a public load balancer", key=_key(name, "load_balancer_subnet"), rule="load_balancer_subnet only applies to load_balancer_type InternalLoadBalancer", fix="set load_balancer_type: InternalLoadBalancer, or remove load_balancer_subnet"))
    if cluster.leaf_domain_label and internal:
        errors.append(ConfigError("leaf_domain_label is set with an internal load balancer", key=_key(name, "leaf_domain_label"), rule="a Microsoft-issued certificate (leaf_domain_label) needs a public load balancer", fix="use ssl_cname with your own certificate, or load_balancer_type: PublicIp"))
    if cluster.leaf_domain_label and cluster.ssl_cname:
        errors.append(ConfigError("leaf_domain_label and ssl_cname are both set", key=_key(name), rule="SSL comes from a Microsoft-issued certificate (leaf_domain_label) or your own (ssl_cname + cert + key), not both", fix="keep one of them"))
    return errors


def check_clusters(config: StackConfig) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for name, cluster in config.clusters.items():
        if not COMPUTE_NAME.match(name):
            errors.append(ConfigError(f"cluster name '{name}' is not allowed", key=_key(name), rule="compute names are 3-24 characters: letters, digits and '-', starting with a letter", fix="rename the cluster"))
        errors += check_attach(name, cluster)
        errors += check_network(name, cluster)
    return errors
