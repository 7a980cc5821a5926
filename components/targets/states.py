"""Azure ML's service states (Healthy, Transitioning, Unhealthy, Unschedulable, Failed) from what
each target reports, decided in one place: read by the components when `up` records a service's
`state`, and by `promote` and `drift` from the outputs a refresh finds live.

Pure functions over plain values: the azure-native and kubernetes SDKs' response objects, or
the camelCase JSON the engine records, alike. Nothing here imports a provider, so the commands
can use it without loading them.
"""

from __future__ import annotations

from typing import Any

from modelstack_server import contract

STATE_ORDER = ("Healthy", "Transitioning", "Unhealthy", "Unschedulable", "Failed")  # worst last
# How a live resource names the service it runs: a tag on an Azure resource (an ACI container
# group, a container app), a label on each version's Deployment (also its pods' selector label).
SERVICE_TAG = "modelstack-service"
K8S_SERVICE_LABEL = contract.K8S_SERVICE_LABEL


def _get(value: Any, snake: str, camel: str) -> Any:
    if value is None:
        return None
    if type(value) is dict:  # engine JSON; the SDKs' response types are dict subclasses with getters
        return value.get(camel, value.get(snake))
    return getattr(value, snake, None)


def aci_state(provisioning_state: str | None, instance_state: str | None) -> str:
    """What ACI reports, in Azure ML's service states."""
    provisioning = (provisioning_state or "").lower()
    instance = (instance_state or "").lower()
    if provisioning == "failed" or instance == "failed":
        return "Failed"
    if provisioning in ("", "pending", "creating", "updating", "repairing", "accepted") or instance in (
        "",
        "pending",
        "waiting",
    ):
        return "Transitioning"
    if instance == "running":
        return "Healthy"
    return "Unhealthy"  # Stopped, Terminated: the group exists but does not serve


def deployment_state(status: Any) -> str:
    """A Deployment's status (what the cluster reports), in Azure ML's service states."""
    if status is None:
        return "Transitioning"
    conditions = {_get(c, "type", "type"): c for c in (_get(status, "conditions", "conditions") or [])}
    progressing, failure, available = (
        conditions.get("Progressing"),
        conditions.get("ReplicaFailure"),
        conditions.get("Available"),
    )
    if progressing is not None and _get(progressing, "reason", "reason") == "ProgressDeadlineExceeded":
        return "Failed"
    if failure is not None and _get(failure, "status", "status") == "True":
        return "Unschedulable"  # pods could not be created: quota or resources
    wanted = _get(status, "replicas", "replicas") or 0
    ready = _get(status, "ready_replicas", "readyReplicas") or 0
    updated = _get(status, "updated_replicas", "updatedReplicas") or 0
    if (
        available is not None
        and _get(available, "status", "status") == "True"
        and ready >= wanted
        and updated >= wanted
    ):
        return "Healthy"
    if available is not None and _get(available, "status", "status") == "False":
        return "Unhealthy"
    return "Transitioning"


def service_state(states: list[str]) -> str:
    """The state of a service whose parts (versions) are in `states`: the worst of them."""
    return max(states, key=STATE_ORDER.index) if states else "Transitioning"


def live_state(resource_type: str, outputs: dict[str, Any] | None) -> tuple[str, str] | None:
    """(service, state) of a live resource that runs a service (an ACI container group, a
    Kubernetes Deployment, ...) from the outputs the engine records for it, as its target reads
    them; None for any other resource, or one that names no service."""
    from components.targets import registry

    for target in registry.all_targets():
        found = target.live_state(resource_type, outputs or {})
        if found is not None:
            return found
    return None
