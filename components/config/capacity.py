"""The 12-vCPU rule, decided in one place.

A production AKS cluster (`cluster_purpose: FastProd`, the default) has at least 12 vCPUs,
counted over its Linux node pools as nodes x vCPUs of the pool's VM size (from the VM-size
catalogue), each pool at the fewest nodes it can have: its count, or its autoscaler's minimum.
Three callers ask, about three descriptions of a cluster, and get the same verdict in the same
words:
- the config rule (`components.config.cluster_rules`), about a cluster the stack creates:
  `pools_of(spec)`;
- the CrossGuard policy `aks-production-min-vcpus` (`components.policy.rules`), about the
  ManagedCluster resource the program declares: `pools_from_profiles(agentPoolProfiles)`;
- the attach check (`components.targets.azure.aks_cluster`), about a live cluster's agent
  pools: `pools_from_profiles(...)` of what Azure returns.

A pool of a size the catalogue does not know cannot be counted; when the pools that can be
counted do not reach the minimum on their own, the rule cannot be decided and is refused, with
the fix of adding the size to the catalogue.

The capacity check counts the same pools: whether the services planned on a cluster fit it,
their CPU and memory requests against the nodes' allocatable capacity (the VM size less AKS's
system reservations, `components.config.aks_reservations`). At the services' minimum replicas
on the fewest nodes it is an error not to fit (pods would stay Pending, the service
Unschedulable); at their maximum replicas on the most nodes the node autoscaler can add, a
warning (the HPA could ask for replicas no node takes). A replica larger than one node never
fits, whatever the node count. The sums are a necessary condition: whole pods are packed onto
nodes, so a cluster whose sum fits can still strand a replica; the per-node check catches the
case that always does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from components.config import aks_reservations, vm_sizes
from components.config.aks_reservations import MIB_PER_GIB, NodeAllocatable
from components.config.deploy_rules import autoscale_enabled, replica_bounds
from components.config.rollout import rollout_versions
from components.config.schema import AksDeploy, ClusterSpec, StackConfig
from components.targets import registry

MIN_PRODUCTION_VCPUS = 12
PRODUCTION_PURPOSE = "FastProd"
PRODUCTION_RULE = (
    f"a production cluster (cluster_purpose FastProd, the default) has at least {MIN_PRODUCTION_VCPUS} vCPUs: "
    "nodes x vCPUs of vm_size; DevTest clusters may be smaller"
)
# The control plane's tier per cluster_purpose: FastProd gets the uptime SLA AKS recommends for
# production. The policy, which sees the ManagedCluster and not the config, reads the purpose back.
CONTROL_PLANE_TIERS = {"FastProd": "Standard", "DevTest": "Free"}
# The one agent pool of a cluster modelstack creates.
SYSTEM_POOL_NAME = "system"


@dataclass(frozen=True)
class NodePool:
    """What the rule needs of one agent pool."""

    name: str
    vm_size: str
    nodes: int  # the fewest nodes it can have: its count, or its autoscaler's minimum
    autoscaling: bool = False
    os_type: str = "Linux"
    most_nodes: int | None = None  # the most: its autoscaler's maximum, or its count (None: as `nodes`)

    @property
    def nodes_at_most(self) -> int:
        return self.most_nodes if self.most_nodes is not None else self.nodes


@dataclass(frozen=True)
class VcpuCount:
    vcpus: int  # of the Linux pools whose size the catalogue knows, each at its fewest nodes
    described: tuple[str, ...]  # "system: 3 x Standard_D3_v2 (4 vCPUs)"
    unknown_sizes: tuple[str, ...]  # "gpupool: Standard_NC6_Promo"


@dataclass(frozen=True)
class Verdict:
    """`holds`, or `problem`: one sentence saying what breaks the rule, the same for every caller."""

    holds: bool
    count: VcpuCount | None = None
    problem: str | None = None
    undecided: bool = False  # refused because a size is unknown, not because it is too small


def purpose_of_tier(tier: Any) -> str | None:
    """The cluster_purpose a control-plane tier stands for (None for a tier modelstack never sets)."""
    return next((purpose for purpose, known in CONTROL_PLANE_TIERS.items() if known == tier), None)


def pools_of(spec: ClusterSpec) -> list[NodePool]:
    """The node pools of a cluster this stack creates: its system pool."""
    autoscaling = spec.autoscale_enabled
    nodes = spec.autoscale_min_nodes if autoscaling and spec.autoscale_min_nodes is not None else spec.agent_count
    most = spec.autoscale_max_nodes if autoscaling and spec.autoscale_max_nodes is not None else spec.agent_count
    return [NodePool(SYSTEM_POOL_NAME, spec.vm_size, nodes, autoscaling, most_nodes=most)]


def ceiling_key(spec: ClusterSpec) -> str:
    """The config key that sets the most nodes a created cluster can have."""
    return "autoscale_max_nodes" if spec.autoscale_enabled and spec.autoscale_max_nodes is not None else "agent_count"


def in_node_subnet(spec: ClusterSpec) -> bool:
    """Azure CNI in the user's subnet (the vnet keys are set), else Azure CNI overlay in an
    AKS-managed network; the network decides the nodes' default maximum pods."""
    return bool(spec.service_cidr)


def max_pods_per_node(spec: ClusterSpec) -> int:
    return aks_reservations.MAX_PODS_NODE_SUBNET if in_node_subnet(spec) else aks_reservations.MAX_PODS_OVERLAY


def floor_key(spec: ClusterSpec) -> str:
    """The config key that sets the fewest nodes a created cluster can have."""
    return "autoscale_min_nodes" if spec.autoscale_enabled and spec.autoscale_min_nodes is not None else "agent_count"


def pools_from_profiles(profiles: Iterable[Any] | None) -> list[NodePool]:
    """NodePools from agent pool profiles: the ManagedCluster's inputs as the engine sends them
    (camelCase maps), Azure's JSON, or the azure-native SDK's response objects."""

    def field(profile: Any, name: str, wire: str) -> Any:
        if type(profile) is dict:  # plain JSON; the SDK's response types are dict subclasses with getters
            return profile.get(wire, profile.get(name))
        return getattr(profile, name, None)

    pools = []
    for profile in profiles or []:
        autoscaling = bool(field(profile, "enable_auto_scaling", "enableAutoScaling"))
        count = _whole(field(profile, "count", "count"))
        minimum = _whole(field(profile, "min_count", "minCount"))
        maximum = _whole(field(profile, "max_count", "maxCount"))
        pools.append(
            NodePool(
                name=str(field(profile, "name", "name") or "?"),
                vm_size=str(field(profile, "vm_size", "vmSize") or ""),
                nodes=minimum if autoscaling and minimum is not None else (count or 0),
                autoscaling=autoscaling,
                os_type=str(field(profile, "os_type", "osType") or "Linux"),
                most_nodes=maximum if autoscaling and maximum is not None else (count or 0),
            )
        )
    return pools


def _whole(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def count_vcpus(pools: Iterable[NodePool]) -> VcpuCount:
    """vCPUs of the Linux pools at their fewest nodes; pools of unknown sizes listed apart."""
    total, described, unknown = 0, [], []
    for pool in pools:
        if pool.os_type.lower() != "linux":
            continue  # webservices run on Linux nodes only
        size = vm_sizes.find(pool.vm_size)
        if size is None:
            unknown.append(f"{pool.name}: {pool.vm_size}")
            continue
        total += pool.nodes * size.vcpus
        at_least = "at least " if pool.autoscaling else ""
        described.append(f"{pool.name}: {at_least}{pool.nodes} x {size.name} ({size.vcpus} vCPUs)")
    return VcpuCount(total, tuple(described), tuple(unknown))


def production_vcpus(
    pools: Iterable[NodePool], cluster_purpose: str | None, minimum: int = MIN_PRODUCTION_VCPUS
) -> Verdict:
    """The 12-vCPU rule's verdict on a cluster of these pools."""
    if cluster_purpose != PRODUCTION_PURPOSE:
        return Verdict(holds=True)
    count = count_vcpus(pools)
    if count.vcpus >= minimum:
        return Verdict(holds=True, count=count)
    if count.unknown_sizes:
        known = f" (the known pools have {count.vcpus})" if count.described else ""
        return Verdict(
            holds=False,
            count=count,
            undecided=True,
            problem=(
                f"the {minimum}-vCPU rule cannot be checked: pool(s) {', '.join(count.unknown_sizes)} use sizes the "
                f"VM-size catalogue ({vm_sizes.CATALOGUE_PATH_FOR_PEOPLE}) does not know{known}"
            ),
        )
    pools_text = "; ".join(count.described) or "no Linux pools"
    return Verdict(
        holds=False,
        count=count,
        problem=f"{pools_text} = {count.vcpus} vCPUs; a production (FastProd) cluster needs at least {minimum}",
    )


def nodes_needed(vm_size: str, minimum: int = MIN_PRODUCTION_VCPUS) -> int | None:
    """The fewest nodes of `vm_size` that reach the minimum (None for an unknown size)."""
    size = vm_sizes.find(vm_size)
    return math.ceil(minimum / size.vcpus) if size else None


# --- the capacity check ---------------------------------------------------------------------------


def millicores(cores: float) -> int:
    """cpu_cores as the pods request it (the Kubernetes quantity is whole millicores)."""
    return round(cores * 1000)


def mebibytes(gigabytes: float) -> int:
    """memory_gb as the pods request it: Azure ML's GB are GiB, requested as whole Mi."""
    return round(gigabytes * MIB_PER_GIB)


@dataclass(frozen=True)
class Workload:
    """One Deployment on a cluster: a service's version, its requests per replica, its replica bounds."""

    service: str
    version: str | None  # None for the one implicit version of a service without `versions:`
    cpu_millicores: int
    memory_mib: int
    min_replicas: int
    max_replicas: int

    @property
    def label(self) -> str:
        return self.service if self.version is None else f"{self.service}/{self.version}"


def workload_of(service: str, version: str | None, deploy: AksDeploy) -> Workload:
    low, high = replica_bounds(deploy) if autoscale_enabled(deploy) else ((deploy.num_replicas or 1),) * 2
    return Workload(service, version, millicores(deploy.cpu_cores), mebibytes(deploy.memory_gb), low, high)


def workloads_on(config: StackConfig, cluster: str) -> list[Workload]:
    """Every Deployment the stack plans on `cluster`: one per rollout version of each service its
    target runs on that AKS cluster."""
    workloads = []
    for name, service in config.services.items():
        on = registry.target(service.target).aks_cluster(config, service)
        if on is None or on is not config.clusters.get(cluster) or not isinstance(service.deploy, AksDeploy):
            continue
        for version in rollout_versions(name, service):
            workloads.append(workload_of(name, version.name if version.declared else None, service.deploy))
    return workloads


@dataclass(frozen=True)
class PoolRoom:
    pool: NodePool
    per_node: NodeAllocatable
    nodes: int


@dataclass(frozen=True)
class Room:
    """The allocatable capacity of a cluster's Linux pools at a node count (fewest or most)."""

    pools: tuple[PoolRoom, ...]
    unknown_sizes: tuple[str, ...]

    @property
    def cpu_millicores(self) -> int:
        return sum(p.nodes * p.per_node.allocatable_cpu_millicores for p in self.pools)

    @property
    def memory_mib(self) -> int:
        return sum(p.nodes * p.per_node.allocatable_memory_mib for p in self.pools)

    def described(self) -> str:
        return (
            " + ".join(
                f"{p.nodes} x {p.pool.vm_size} with {cores_text(p.per_node.allocatable_cpu_millicores)} vCPUs and "
                f"{gib_text(p.per_node.allocatable_memory_mib)} GiB allocatable each"
                for p in self.pools
            )
            or "no Linux pools"
        )


def room(pools: Iterable[NodePool], *, most: bool, max_pods: int, kubernetes_version: str | None) -> Room:
    rooms, unknown = [], []
    for pool in pools:
        if pool.os_type.lower() != "linux":
            continue
        size = vm_sizes.find(pool.vm_size)
        if size is None:
            unknown.append(f"{pool.name}: {pool.vm_size}")
            continue
        per_node = aks_reservations.node_allocatable(size.vcpus, size.memory_gib, max_pods, kubernetes_version)
        rooms.append(
            PoolRoom(
                NodePool(pool.name, size.name, pool.nodes, pool.autoscaling, pool.os_type, pool.most_nodes),
                per_node,
                pool.nodes_at_most if most else pool.nodes,
            )
        )
    return Room(tuple(rooms), tuple(unknown))


def cores_text(millicores_: int) -> str:
    """Whole millicores as vCPUs, exactly: 1901 -> '1.901'."""
    return f"{millicores_ / 1000:.3f}".rstrip("0").rstrip(".")


def gib_text(mebibytes_: int) -> str:
    """MiB as GiB to three places (a MiB is about 0.001 GiB): 6044 -> '5.902'."""
    return f"{mebibytes_ / MIB_PER_GIB:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Demand:
    cpu_millicores: int
    memory_mib: int
    described: str


def demand(workloads: Iterable[Workload], *, most: bool) -> Demand:
    parts, cpu, memory = [], 0, 0
    for w in workloads:
        replicas = w.max_replicas if most else w.min_replicas
        cpu += replicas * w.cpu_millicores
        memory += replicas * w.memory_mib
        parts.append(f"{w.label}: {replicas} x {cores_text(w.cpu_millicores)} vCPU, {gib_text(w.memory_mib)} GiB")
    return Demand(cpu, memory, "; ".join(parts))


@dataclass(frozen=True)
class Fit:
    """Whether the planned services fit a cluster at their minimum (or maximum) replicas.

    `problem` is the sentence every caller says when they do not; `nodes_needed` the node count
    of a one-pool cluster that would hold them (None with several pools)."""

    fits: bool
    problem: str | None = None
    nodes_needed: int | None = None


def _short(demand_: Demand, room_: Room) -> list[str]:
    short = []
    if demand_.cpu_millicores > room_.cpu_millicores:
        short.append("CPU")
    if demand_.memory_mib > room_.memory_mib:
        short.append("memory")
    return short


def services_fit(
    workloads: list[Workload], pools: list[NodePool], *, most: bool, max_pods: int, kubernetes_version: str | None
) -> Fit:
    """The services' requests at their fewest (most) replicas against the pools at their fewest (most) nodes."""
    if not workloads:
        return Fit(True)
    room_ = room(pools, most=most, max_pods=max_pods, kubernetes_version=kubernetes_version)
    if room_.unknown_sizes:
        return Fit(True)  # an unknown size is refused by the size rules; nothing to add here
    demand_ = demand(workloads, most=most)
    short = _short(demand_, room_)
    if not short:
        return Fit(True)
    replicas, nodes = ("maximum", "most") if most else ("minimum", "fewest")
    problem = (
        f"at their {replicas} replicas the services on this cluster request {cores_text(demand_.cpu_millicores)} vCPUs and "
        f"{gib_text(demand_.memory_mib)} GiB ({demand_.described}); its {nodes} nodes, {room_.described()} "
        f"(after AKS's reservations), have {cores_text(room_.cpu_millicores)} vCPUs and {gib_text(room_.memory_mib)} GiB: "
        f"not enough {' or '.join(short)}"
    )
    needed = None
    if len(room_.pools) == 1:
        per_node = room_.pools[0].per_node
        needed = max(
            math.ceil(demand_.cpu_millicores / per_node.allocatable_cpu_millicores),
            math.ceil(demand_.memory_mib / per_node.allocatable_memory_mib),
        )
    return Fit(False, problem, needed)


@dataclass(frozen=True)
class Oversized:
    """A replica that no node of the cluster can hold."""

    workload: Workload
    field: str  # cpu_cores or memory_gb
    problem: str
    largest_text: str  # the most one node offers, as the field is written


def oversized_replicas(
    workloads: list[Workload], pools: list[NodePool], *, max_pods: int, kubernetes_version: str | None
) -> list[Oversized]:
    room_ = room(pools, most=False, max_pods=max_pods, kubernetes_version=kubernetes_version)
    if room_.unknown_sizes or not room_.pools:
        return []
    best_cpu = max(p.per_node.allocatable_cpu_millicores for p in room_.pools)
    best_memory = max(p.per_node.allocatable_memory_mib for p in room_.pools)
    sizes = " or ".join(sorted({p.pool.vm_size for p in room_.pools}))
    found = []
    for w in workloads:
        if w.cpu_millicores > best_cpu:
            found.append(
                Oversized(
                    w,
                    "cpu_cores",
                    f"one replica of {w.label} requests {cores_text(w.cpu_millicores)} vCPUs; a {sizes} node has {cores_text(best_cpu)} allocatable",
                    cores_text(best_cpu),
                )
            )
        if w.memory_mib > best_memory:
            found.append(
                Oversized(
                    w,
                    "memory_gb",
                    f"one replica of {w.label} requests {gib_text(w.memory_mib)} GiB; a {sizes} node has {gib_text(best_memory)} GiB allocatable",
                    gib_text(best_memory),
                )
            )
    return found
