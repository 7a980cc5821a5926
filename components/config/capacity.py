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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from components.config import vm_sizes
from components.config.schema import ClusterSpec

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
    return [NodePool(SYSTEM_POOL_NAME, spec.vm_size, nodes, autoscaling)]


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
        pools.append(NodePool(
            name=str(field(profile, "name", "name") or "?"),
            vm_size=str(field(profile, "vm_size", "vmSize") or ""),
            nodes=minimum if autoscaling and minimum is not None else (count or 0),
            autoscaling=autoscaling,
            os_type=str(field(profile, "os_type", "osType") or "Linux"),
        ))
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


def production_vcpus(pools: Iterable[NodePool], cluster_purpose: str | None, minimum: int = MIN_PRODUCTION_VCPUS) -> Verdict:
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
