"""Sizes from Azure ML's words to modelstack's: a VM size (v2 managed `instance_type`) to the
cpu_cores / memory_gb a pod gets when it has a node of that size to itself, and Kubernetes
quantities ("500m", "1.5Gi") to cores and GB. Pure functions.

A managed online deployment's instance is one VM of its instance_type, so the importer asks for
what a node of that size offers its pods (the VM's cores and memory less AKS's reservations,
`components.config.aks_reservations`): the service then behaves as on Azure ML and fits a node
of the same size. A size the catalogue does not know is asked for, never estimated.
"""

from __future__ import annotations

import math
import re

from components.config import aks_reservations, vm_sizes
from components.errors import ConfigError

CPU_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
MEMORY_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
MEMORY_FACTORS = {
    None: 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def _down(value: float, places: int) -> float:
    """Rounded down to `places` decimals: never promise more than the node has."""
    factor = 10**places
    return math.floor(value * factor) / factor


def instance_type_size(name: str, field: str) -> tuple[float, float]:
    """(cpu_cores, memory_gb) of one node of VM size `name` for its pods, or an error asking for them."""
    size = vm_sizes.find(name)
    if size is None:
        close = vm_sizes.nearest(name)
        hint = f" (the catalogue has {', '.join(close)})" if close else ""
        raise ConfigError(
            f"instance_type '{name}' is not in modelstack's VM-size catalogue{hint}",
            key=field,
            rule=f"an instance type becomes cpu_cores and memory_gb through {vm_sizes.CATALOGUE_PATH_FOR_PEOPLE}; a size it does not know is not guessed",
            fix=f"give the size yourself with --cpu-cores N --memory-gb N, or add '{name}' to {vm_sizes.CATALOGUE_PATH_FOR_PEOPLE} (its header says how)",
        )
    node = aks_reservations.node_allocatable(size.vcpus, size.memory_gib, aks_reservations.MAX_PODS_OVERLAY, None)
    return _down(node.allocatable_cpu_millicores / 1000, 2), _down(node.allocatable_memory_mib / 1024, 2)


def instance_type_gpus(name: str) -> int:
    """The GPUs of one VM of size `name` (0 for a CPU size or one the catalogue lacks)."""
    size = vm_sizes.find(name)
    return size.gpus if size is not None else 0


def cpu_cores(value, field: str) -> float:
    """A Kubernetes CPU quantity (1, 0.5, "500m") in cores."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = CPU_QUANTITY.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise ConfigError(
            f"'{value}' is not a CPU quantity",
            key=field,
            rule="a CPU quantity is cores (0.5) or millicores (500m)",
            fix="write it as 0.5 or 500m",
        )
    number = float(match.group(1))
    return number / 1000 if match.group(2) else number


def memory_gb(value, field: str) -> float:
    """A Kubernetes memory quantity ("512Mi", "1Gi", "1G", bytes) in GB as modelstack counts them (GiB)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _down(float(value) / 2**30, 3)
    match = MEMORY_QUANTITY.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise ConfigError(
            f"'{value}' is not a memory quantity",
            key=field,
            rule="a memory quantity is a number with a unit: Ki, Mi, Gi, Ti (or k, M, G, T)",
            fix="write it as 512Mi or 1Gi",
        )
    return _down(float(match.group(1)) * MEMORY_FACTORS[match.group(2)] / 2**30, 3)
