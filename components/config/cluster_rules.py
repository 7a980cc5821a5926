"""Rules of `modelstack:clusters` (AksCompute provisioning and attach configuration), and the
naming rules of the Azure platform (`components.config.naming.check_names`).

Pure functions over the parsed config; each returns ConfigErrors naming key, rule and fix.
`check_clusters` is the entry point `components.config.rules` calls.

The 12-vCPU rule is decided by `components.config.capacity` (one function for this rule, the
CrossGuard policy and the attach check); here it is told as a config error on the key that sets
the node count. An attached cluster is checked against its live agent pools when it is read
(`components.targets.azure.aks_cluster`).
"""

from __future__ import annotations

import ipaddress
import re

from components.config import capacity, naming, vm_sizes
from components.config.config_files import file_errors
from components.config.kubernetes_rules import gateway_class_errors
from components.config.schema import ClusterSpec, StackConfig, config_key
from components.errors import ConfigError, ConfigWarning
from components.targets import registry

# Azure ML compute names: 3-24 characters, letters, digits and '-', starting with a letter.
COMPUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{2,23}$")
SSL_FIELDS = ("ssl_cname", "ssl_cert_pem_file", "ssl_key_pem_file")
VNET_FIELDS = (
    "vnet_resourcegroup_name",
    "vnet_name",
    "subnet_name",
    "service_cidr",
    "dns_service_ip",
    "docker_bridge_cidr",
)
AUTOSCALE_BOUNDS = ("autoscale_min_nodes", "autoscale_max_nodes")
# What `attach:` leaves to the existing cluster: its pools, version, network and location.
PROVISIONING_FIELDS = (
    "agent_count",
    "vm_size",
    "kubernetes_version",
    "location",
    "autoscale_enabled",
    *AUTOSCALE_BOUNDS,
    *VNET_FIELDS,
)
KUBERNETES_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")

# AKS refuses a system node pool on smaller machines.
SYSTEM_POOL_MIN_VCPUS = 2
SYSTEM_POOL_MIN_MEMORY_GIB = 4


def _key(name: str, *parts: str) -> str:
    return config_key("clusters", name, *parts)


def _all_or_none(name: str, cluster: ClusterSpec, fields: tuple[str, ...], what: str) -> list[ConfigError]:
    given = [f for f in fields if getattr(cluster, f)]
    if given and len(given) != len(fields):
        missing = [f for f in fields if f not in given]
        return [
            ConfigError(
                f"{what} is partly set: {', '.join(given)} given, {', '.join(missing)} missing",
                key=_key(name),
                rule=f"{', '.join(fields)} are all set or none",
                fix=f"set {', '.join(missing)}, or remove {', '.join(given)}",
            )
        ]
    return []


def parse_cluster_id(resource_id: str) -> tuple[str, str, str] | None:
    """'/subscriptions/S/resourceGroups/G/providers/Microsoft.ContainerService/managedClusters/N'
    -> (S, G, N), or None when it is not such an id."""
    match = re.match(
        r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.ContainerService/managedClusters/([^/]+)$",
        resource_id,
        re.IGNORECASE,
    )
    return (match.group(1), match.group(2), match.group(3)) if match else None


def check_attach(name: str, cluster: ClusterSpec) -> list[ConfigError]:
    attach = cluster.attach
    if attach is None:
        return []
    key = _key(name, "attach")
    by_name = attach.resource_group or attach.cluster_name
    if attach.resource_id and by_name:
        return [
            ConfigError(
                "names the cluster twice",
                key=key,
                rule="attach uses resource_group + cluster_name, or resource_id, not both",
                fix="keep resource_id, or keep resource_group + cluster_name",
            )
        ]
    if not attach.resource_id and not (attach.resource_group and attach.cluster_name):
        return [
            ConfigError(
                "does not say which cluster",
                key=key,
                rule="attach needs resource_group and cluster_name together, or a resource_id",
                fix="set both resource_group and cluster_name, or set resource_id",
            )
        ]
    if attach.resource_id and "/providers/Microsoft.ContainerService/managedClusters/" not in attach.resource_id:
        return [
            ConfigError(
                f"resource_id '{attach.resource_id}' is not an AKS cluster id",
                key=f"{key}.resource_id",
                rule="resource_id is a Microsoft.ContainerService/managedClusters resource id",
                fix="copy the id from `az aks show --query id`",
            )
        ]
    if attach.resource_id and parse_cluster_id(attach.resource_id) is None:
        return [
            ConfigError(
                f"resource_id '{attach.resource_id}' is not a whole AKS cluster id",
                key=f"{key}.resource_id",
                rule="resource_id is /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerService/managedClusters/<name>",
                fix="copy the id from `az aks show --query id`",
            )
        ]
    provisioning = [f for f in PROVISIONING_FIELDS if f in cluster.model_fields_set]
    if provisioning:
        return [
            ConfigError(
                f"attach is set together with provisioning settings: {', '.join(provisioning)}",
                key=_key(name),
                rule="an attached cluster keeps its own node pools, Kubernetes version, network and location; only cluster_purpose, load_balancer_type, load_balancer_subnet, the SSL settings and gateway_class apply to it",
                fix=f"remove {', '.join(provisioning)}, or remove attach to create a new cluster",
            )
        ]
    return []


def _check_pem_files(name: str, cluster: ClusterSpec, project_dir: str) -> list[ConfigError]:
    errors = []
    for field in ("ssl_cert_pem_file", "ssl_key_pem_file"):
        errors += file_errors(project_dir, getattr(cluster, field), _key(name, field), field)
    return errors


def _check_vnet_addresses(name: str, cluster: ClusterSpec) -> list[ConfigError]:
    if not (cluster.service_cidr and cluster.dns_service_ip):
        return []
    try:
        service_range = ipaddress.ip_network(cluster.service_cidr, strict=True)
    except ValueError:
        return [
            ConfigError(
                f"service_cidr '{cluster.service_cidr}' is not a network in CIDR notation",
                key=_key(name, "service_cidr"),
                rule="service_cidr is the range Kubernetes services get addresses from, e.g. 10.0.0.0/16",
                fix="write it as <network address>/<prefix length>",
            )
        ]
    try:
        dns_ip = ipaddress.ip_address(cluster.dns_service_ip)
    except ValueError:
        return [
            ConfigError(
                f"dns_service_ip '{cluster.dns_service_ip}' is not an IP address",
                key=_key(name, "dns_service_ip"),
                rule="dns_service_ip is the cluster DNS service's address inside service_cidr, e.g. 10.0.0.10",
                fix="write it as an IP address",
            )
        ]
    if dns_ip not in service_range or dns_ip == service_range.network_address + 1:
        return [
            ConfigError(
                f"dns_service_ip {dns_ip} is not a usable address of service_cidr {service_range}",
                key=_key(name, "dns_service_ip"),
                rule="dns_service_ip lies inside service_cidr and is not its first address (Kubernetes' own API service takes that one)",
                fix=f"use e.g. {service_range.network_address + 10}",
            )
        ]
    return []


def check_network(name: str, cluster: ClusterSpec, project_dir: str | None = None) -> list[ConfigError]:
    errors = _all_or_none(name, cluster, SSL_FIELDS, "SSL") + _all_or_none(name, cluster, VNET_FIELDS, "vnet")
    internal = cluster.load_balancer_type == "InternalLoadBalancer"
    if cluster.load_balancer_subnet and not internal:
        errors.append(
            ConfigError(
                "load_balancer_subnet is set with a public load balancer",
                key=_key(name, "load_balancer_subnet"),
                rule="load_balancer_subnet only applies to load_balancer_type InternalLoadBalancer",
                fix="set load_balancer_type: InternalLoadBalancer, or remove load_balancer_subnet",
            )
        )
    if cluster.leaf_domain_label and internal:
        errors.append(
            ConfigError(
                "leaf_domain_label is set with an internal load balancer",
                key=_key(name, "leaf_domain_label"),
                rule="a Microsoft-issued certificate (leaf_domain_label) needs a public load balancer",
                fix="use ssl_cname with your own certificate, or load_balancer_type: PublicIp",
            )
        )
    if cluster.leaf_domain_label and cluster.ssl_cname:
        errors.append(
            ConfigError(
                "leaf_domain_label and ssl_cname are both set",
                key=_key(name),
                rule="SSL comes from a Microsoft-issued certificate (leaf_domain_label) or your own (ssl_cname + cert + key), not both",
                fix="keep one of them",
            )
        )
    if project_dir is not None:
        errors += _check_pem_files(name, cluster, project_dir)
    errors += _check_vnet_addresses(name, cluster)
    return errors


def check_autoscale(name: str, cluster: ClusterSpec) -> list[ConfigError]:
    bounds = [f for f in AUTOSCALE_BOUNDS if getattr(cluster, f) is not None]
    if not cluster.autoscale_enabled:
        if bounds:
            return [
                ConfigError(
                    f"{', '.join(bounds)} set while autoscale_enabled is false",
                    key=_key(name),
                    rule="autoscale_min_nodes and autoscale_max_nodes bound the cluster autoscaler, which runs only with autoscale_enabled: true",
                    fix=f"set autoscale_enabled: true, or remove {', '.join(bounds)}",
                )
            ]
        return []
    if cluster.autoscale_max_nodes is None:
        return [
            ConfigError(
                "autoscale_enabled is true but autoscale_max_nodes is not set",
                key=_key(name, "autoscale_max_nodes"),
                rule="the cluster autoscaler needs an upper bound on the node count",
                fix=f"set autoscale_max_nodes (at least agent_count, {cluster.agent_count})",
            )
        ]
    low = cluster.autoscale_min_nodes if cluster.autoscale_min_nodes is not None else cluster.agent_count
    if not low <= cluster.agent_count <= cluster.autoscale_max_nodes:
        return [
            ConfigError(
                f"agent_count {cluster.agent_count} is outside autoscale_min_nodes..autoscale_max_nodes ({low}..{cluster.autoscale_max_nodes})",
                key=_key(name),
                rule="autoscale_min_nodes <= agent_count <= autoscale_max_nodes: agent_count is the node count the cluster starts with",
                fix="change agent_count or the bounds so that the starting count lies between them",
            )
        ]
    return []


def production_vcpus_error(name: str, cluster: ClusterSpec) -> ConfigError | None:
    """The 12-vCPU rule (components.config.capacity) for a cluster this stack creates, or None
    when it holds (or the cluster is DevTest)."""
    verdict = capacity.production_vcpus(capacity.pools_of(cluster), cluster.cluster_purpose)
    if verdict.holds:
        return None
    assert verdict.problem is not None  # a verdict that does not hold says why
    nodes_key = capacity.floor_key(cluster)
    size = vm_sizes.find(cluster.vm_size)
    fix = (
        f"use {nodes_key} >= {capacity.nodes_needed(cluster.vm_size)} with {size.name} ({size.vcpus} vCPUs), a larger vm_size, or cluster_purpose: DevTest"
        if size
        else f"add {cluster.vm_size} to {vm_sizes.CATALOGUE_PATH_FOR_PEOPLE}, or use a vm_size it lists"
    )
    return ConfigError(verdict.problem, key=_key(name, nodes_key), rule=capacity.PRODUCTION_RULE, fix=fix)


def check_capacity(name: str, cluster: ClusterSpec) -> list[ConfigError]:
    """vm_size is known, fits an AKS system pool, and the 12-vCPU rule holds."""
    if cluster.attach is not None:
        return []  # the live cluster's pools are checked when it is read (components.targets.azure.aks_cluster)
    size = vm_sizes.find(cluster.vm_size)
    if size is None:
        return [vm_sizes.unknown_size_error(cluster.vm_size, key=_key(name, "vm_size"))]
    errors = []
    if size.vcpus < SYSTEM_POOL_MIN_VCPUS or size.memory_gib < SYSTEM_POOL_MIN_MEMORY_GIB:
        errors.append(
            ConfigError(
                f"vm_size {size.name} has {size.vcpus} vCPUs and {size.memory_gib:g} GiB of memory",
                key=_key(name, "vm_size"),
                rule=f"an AKS system node pool needs at least {SYSTEM_POOL_MIN_VCPUS} vCPUs and {SYSTEM_POOL_MIN_MEMORY_GIB} GiB of memory per node",
                fix="use a vm_size with 2 or more vCPUs and 4 GiB or more, e.g. Standard_D2s_v5",
            )
        )
    production = production_vcpus_error(name, cluster)
    if production:
        errors.append(production)
    return errors


def check_version(name: str, cluster: ClusterSpec) -> list[ConfigError]:
    version = cluster.kubernetes_version
    if version is None or KUBERNETES_VERSION.match(version):
        return []
    return [
        ConfigError(
            f"kubernetes_version '{version}' is not a version",
            key=_key(name, "kubernetes_version"),
            rule="kubernetes_version is <major>.<minor> (AKS picks the newest patch) or <major>.<minor>.<patch>",
            fix="write e.g. 1.30, or remove it to get AKS's default version",
        )
    ]


def check_gateway_class(name: str, cluster: ClusterSpec) -> list[ConfigError]:
    if cluster.gateway_class is None:
        return []
    if cluster.attach is None:
        return [
            ConfigError(
                "gateway_class is set on a cluster the stack creates",
                key=_key(name, "gateway_class"),
                rule="a cluster the stack creates gets its Gateway API implementation from the stack (Traefik, class modelstack); gateway_class names an attached cluster's own",
                fix="remove gateway_class, or attach the cluster that has that implementation",
            )
        ]
    return gateway_class_errors(cluster.gateway_class, _key(name, "gateway_class"))


def check_cluster(name: str, cluster: ClusterSpec, project_dir: str | None = None) -> list[ConfigError]:
    errors: list[ConfigError] = []
    if not COMPUTE_NAME.match(name):
        errors.append(
            ConfigError(
                f"cluster name '{name}' is not allowed",
                key=_key(name),
                rule="compute names are 3-24 characters: letters, digits and '-', starting with a letter",
                fix="rename the cluster",
            )
        )
    errors += check_attach(name, cluster)
    errors += check_network(name, cluster, project_dir)
    errors += check_autoscale(name, cluster)
    errors += check_version(name, cluster)
    errors += check_gateway_class(name, cluster)
    errors += check_capacity(name, cluster)
    return errors


CAPACITY_RULE = (
    "the CPU and memory requests of the services on a cluster, at their minimum replicas, fit its nodes at their "
    "fewest: nodes x (vCPUs and memory of vm_size less AKS's system reservations)"
)
CAPACITY_AT_MOST_RULE = (
    "at their maximum replicas the services' requests fit the most nodes the cluster can have "
    "(autoscale_max_nodes, or agent_count without node autoscaling); beyond that, replicas the HPA adds stay Pending"
)
REPLICA_SIZE_RULE = "a replica runs on one node: its cpu_cores and memory_gb fit one node's allocatable capacity (vm_size less AKS's system reservations)"


def _service_key(service: str, *parts: str) -> str:
    return config_key("services", service, *parts)


def _capacity_inputs(config: StackConfig, name: str, cluster: ClusterSpec):
    """The services planned on a created cluster, its pools, max pods and version; None when
    the cluster is attached (its pools are Azure's to tell) or nothing runs on it."""
    if cluster.attach is not None or vm_sizes.find(cluster.vm_size) is None:
        return None
    workloads = capacity.workloads_on(config, name)
    if not workloads:
        return None
    return workloads, capacity.pools_of(cluster), capacity.max_pods_per_node(cluster), cluster.kubernetes_version


def capacity_findings(config: StackConfig) -> tuple[list[ConfigError], list[ConfigWarning]]:
    """Per created cluster, one verdict: a replica no node can hold, or services that do not fit
    at their minimum replicas (errors); else services that may not fit at their maximum (a warning)."""
    errors: list[ConfigError] = []
    warnings: list[ConfigWarning] = []
    for name, cluster in config.clusters.items():
        inputs = _capacity_inputs(config, name, cluster)
        if inputs is None:
            continue
        workloads, pools, max_pods, version = inputs
        oversized = capacity.oversized_replicas(workloads, pools, max_pods=max_pods, kubernetes_version=version)
        for found in oversized:
            errors.append(
                ConfigError(
                    found.problem,
                    key=_service_key(found.workload.service, "deploy", found.field),
                    rule=REPLICA_SIZE_RULE,
                    fix=f"lower {found.field} to at most {found.largest_text}, or give cluster {name} a vm_size with more {'vCPUs' if found.field == 'cpu_cores' else 'memory'}",
                )
            )
        if oversized:
            continue  # more nodes would not help; the sums would only repeat it
        at_least = capacity.services_fit(workloads, pools, most=False, max_pods=max_pods, kubernetes_version=version)
        if not at_least.fits:
            assert at_least.problem is not None  # a Fit that does not fit says why
            floor = capacity.floor_key(cluster)
            errors.append(
                ConfigError(
                    at_least.problem,
                    key=_key(name, floor),
                    rule=CAPACITY_RULE,
                    fix=f"set {floor} to at least {at_least.nodes_needed}, use a larger vm_size, or lower the services' cpu_cores, memory_gb or minimum replicas (autoscale_min_replicas, num_replicas)",
                )
            )
            continue
        at_most = capacity.services_fit(workloads, pools, most=True, max_pods=max_pods, kubernetes_version=version)
        if not at_most.fits:
            assert at_most.problem is not None
            more_nodes = (
                f"raise autoscale_max_nodes to {at_most.nodes_needed}"
                if cluster.autoscale_enabled
                else f"let the cluster grow to {at_most.nodes_needed} nodes (autoscale_enabled: true with autoscale_max_nodes: {at_most.nodes_needed}, or agent_count: {at_most.nodes_needed})"
            )
            warnings.append(
                ConfigWarning(
                    at_most.problem,
                    key=_key(name, capacity.ceiling_key(cluster)),
                    rule=CAPACITY_AT_MOST_RULE,
                    fix=f"{more_nodes}, use a larger vm_size, or lower the services' autoscale_max_replicas",
                )
            )
    return errors, warnings


def capacity_warnings(config: StackConfig) -> list[ConfigWarning]:
    return capacity_findings(config)[1]


def gpu_errors(config: StackConfig) -> list[ConfigError]:
    """A service asking for more GPUs per replica than a node of its created cluster has (none,
    on most sizes): its pods would wait unscheduled forever. An attached cluster's pools are
    Azure's to tell, and a cluster of unknown size is named by its own rule."""
    errors = []
    for service_name, service in config.services.items():
        cluster = registry.target(service.target).aks_cluster(config, service)
        gpu_cores = getattr(service.deploy, "gpu_cores", 0)
        if not gpu_cores or cluster is None or cluster.attach is not None:
            continue
        size = vm_sizes.find(cluster.vm_size)
        if size is not None and size.gpus < gpu_cores:
            has = f"{size.gpus} GPU{'s' if size.gpus != 1 else ''}" if size.gpus else "no GPU"
            errors.append(
                ConfigError(
                    f"gpu_cores is {gpu_cores}, and the nodes of cluster {service.compute} ({cluster.vm_size}) have {has}",
                    key=_service_key(service_name, "deploy", "gpu_cores"),
                    rule="a replica's GPUs come from one node: gpu_cores is at most the GPUs of the cluster's vm_size",
                    fix=f"give cluster {service.compute} a GPU vm_size (e.g. Standard_NC4as_T4_v3), or remove gpu_cores",
                )
            )
    return errors


def check_clusters(config: StackConfig) -> list[ConfigError]:
    """Every cluster rule and every Azure naming rule of the stack, in one pass."""
    errors: list[ConfigError] = []
    for name, cluster in config.clusters.items():
        errors += check_cluster(name, cluster, config.project_dir)
    errors += gpu_errors(config)
    errors += capacity_findings(config)[0]
    errors += naming.check_names(config)
    return errors
