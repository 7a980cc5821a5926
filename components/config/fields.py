"""The building blocks of every configuration model: strict numbers, flags and secrets, the
limits of what each platform accepts, and the base model that refuses unknown keys.

Imports nothing of modelstack's: the config schema and every target's deploy parameters
(components.targets.<name>.schema) are built from it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.fields import FieldInfo

# --- numbers ---------------------------------------------------------------------------------
# Numbers are numbers: `true` is not 1 (pydantic's strict mode refuses booleans and strings;
# an integer is still a valid float), never nan or inf, and bounded by what the target accepts.

# Kubernetes' int32 fields (Deployment replicas, HPA min/max replicas, probe periods, delays,
# timeouts and thresholds: k8s.io/api core/v1 Probe, apps/v1 DeploymentSpec).
INT32_MAX = 2**31 - 1
PORT_MAX = 65535
# ACI: a Linux container group gets at most 4 vCPUs and 16 GB of memory (Azure docs, "Resource
# availability for Azure Container Instances by region", standard container groups).
ACI_MAX_CPU_CORES = 4
ACI_MAX_MEMORY_GB = 16
# AKS: a pod fits on one node; the largest Azure VM size (Standard_M416ms_v2) has 416 vCPUs and
# 11,400 GiB of memory, and the largest GPU sizes (ND96 series) have 8 GPUs.
AKS_MAX_CPU_CORES = 416
AKS_MAX_MEMORY_GB = 11_400
AKS_MAX_GPU_CORES = 8
# AKS: at most 1,000 nodes per node pool (Azure docs, "Quotas, virtual machine size restrictions,
# and region availability in AKS"); the cluster autoscaler's bounds are per pool too.
AKS_MAX_POOL_NODES = 1000


# A field's bounds go in its annotation's metadata, `Annotated[int, int_range(1, PORT_MAX)]`, so
# that type checkers still see an int (a type built by a function call is opaque to them).


def int_range(low: int, high: int = INT32_MAX) -> FieldInfo:
    """An integer field's bounds, low..high; booleans, strings and floats refused."""
    return Field(strict=True, ge=low, le=high)


def positive_up_to(high: float) -> FieldInfo:
    """A number field's bounds: finite, above 0 and at most high; booleans and strings refused."""
    return Field(strict=True, gt=0, le=high, allow_inf_nan=False)


# Booleans are booleans: true or false, not 1, 'yes' or 'true' (the engine hands YAML 1.2 values
# over, where yes and on are text; accepting them here would make `check` and the engine differ).
Flag = Annotated[bool, Field(strict=True)]
# A secret that is set is not empty (an empty key or connection string authenticates nothing).
Secret = Annotated[SecretStr, Field(min_length=1)]


class Strict(BaseModel):
    """Unknown keys are errors (with a suggestion), never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
