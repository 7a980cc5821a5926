"""What AKS keeps of every node for itself, so what its pods can request (the node's allocatable).

The figures are AKS's documented node resource reservations
(https://learn.microsoft.com/azure/aks/node-resource-reservations):
- CPU (kube-reserved) by the node's cores: 60, 100, 140, 180, 260, 420, 740 millicores for 1, 2,
  4, 8, 16, 32, 64 cores. Core counts between two documented ones are read off the straight line
  between them (which gives back every documented figure); above 64 the last step continues.
- Memory, AKS 1.29 and later: kube-reserved is the smaller of 20 MB x the node's maximum pods +
  50 MB and 25% of the node's memory; the kubelet's eviction threshold keeps 100 Mi more.
- Memory, before 1.29: kube-reserved is 25% of the first 4 GB, 20% of the next 4, 10% of the
  next 8, 6% of the next 112 and 2% of the rest; the eviction threshold keeps 750 Mi.
The kubelet's reservations are in Mi, so MB is read as MiB; a fraction of a MiB is rounded up
(reserving more, never promising room the node does not have).

The node's maximum pods is AKS's default for the cluster's network (modelstack never sets it):
30 with Azure CNI in the user's subnet, 250 with Azure CNI overlay.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import pairwise

KUBE_RESERVED_CPU_MILLICORES = ((1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420), (64, 740))
RESERVED_MIB_PER_POD = 20
RESERVED_MIB_BASE = 50
RESERVED_MEMORY_CAP = 0.25
EVICTION_MIB = 100
# Before AKS 1.29: (GiB in the band, share reserved); None is everything above.
REGRESSIVE_BANDS = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (None, 0.02))
EVICTION_MIB_BEFORE_1_29 = 750
MAX_PODS_NODE_SUBNET = 30
MAX_PODS_OVERLAY = 250
MIB_PER_GIB = 1024


@dataclass(frozen=True)
class NodeAllocatable:
    """One node's capacity and what of it pods can request."""

    cpu_millicores: int
    memory_mib: int
    reserved_cpu_millicores: int
    reserved_memory_mib: int  # kube-reserved + eviction threshold

    @property
    def allocatable_cpu_millicores(self) -> int:
        return self.cpu_millicores - self.reserved_cpu_millicores

    @property
    def allocatable_memory_mib(self) -> int:
        return self.memory_mib - self.reserved_memory_mib


def reserved_cpu_millicores(cores: int) -> int:
    """kube-reserved CPU of a node with this many cores."""
    if cores <= 0:
        return 0
    points = KUBE_RESERVED_CPU_MILLICORES
    if cores <= points[0][0]:
        return points[0][1]
    for (low, low_reserved), (high, high_reserved) in pairwise(points):
        if cores <= high:
            return math.ceil(low_reserved + (high_reserved - low_reserved) * (cores - low) / (high - low))
    (low, low_reserved), (high, high_reserved) = points[-2], points[-1]
    return math.ceil(high_reserved + (high_reserved - low_reserved) * (cores - high) / (high - low))


def from_1_29(kubernetes_version: str | None) -> bool:
    """Whether AKS's 1.29-and-later memory rule applies (None: AKS's default version, which is later)."""
    if not kubernetes_version:
        return True
    match = re.match(r"^(\d+)\.(\d+)", kubernetes_version)
    return not match or (int(match.group(1)), int(match.group(2))) >= (1, 29)


def reserved_memory_mib(memory_mib: int, max_pods: int, kubernetes_version: str | None) -> int:
    """kube-reserved memory plus the eviction threshold of a node with this much memory."""
    if from_1_29(kubernetes_version):
        kube_reserved = min(RESERVED_MIB_PER_POD * max_pods + RESERVED_MIB_BASE, memory_mib * RESERVED_MEMORY_CAP)
        return math.ceil(kube_reserved) + EVICTION_MIB
    kube_reserved, left = 0.0, float(memory_mib)
    for band_gib, share in REGRESSIVE_BANDS:
        band = left if band_gib is None else min(left, band_gib * MIB_PER_GIB)
        kube_reserved += band * share
        left -= band
        if left <= 0:
            break
    return math.ceil(kube_reserved) + EVICTION_MIB_BEFORE_1_29


def node_allocatable(vcpus: int, memory_gib: float, max_pods: int, kubernetes_version: str | None) -> NodeAllocatable:
    memory_mib = round(memory_gib * MIB_PER_GIB)
    return NodeAllocatable(
        cpu_millicores=vcpus * 1000,
        memory_mib=memory_mib,
        reserved_cpu_millicores=reserved_cpu_millicores(vcpus),
        reserved_memory_mib=reserved_memory_mib(memory_mib, max_pods, kubernetes_version),
    )
