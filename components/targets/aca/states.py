"""A container app's state in Azure ML's service states (components.targets.states): pure
functions over what Azure reports, as the engine records it or the SDK returns it."""

from __future__ import annotations

from typing import Any

from components.resource_types import CONTAINER_APP
from components.targets.states import SERVICE_TAG


def aca_state(provisioning_state: str | None, running_status: str | None) -> str:
    """Container Apps' provisioningState (InProgress, Succeeded, Failed, Canceled, Deleting) and
    runningStatus (Progressing, Running, Ready, Stopped, Suspended) as Azure ML names states.

    An app scaled to zero is Running with no replica: Healthy, since the next request starts one.
    """
    provisioning = (provisioning_state or "").lower()
    running = (running_status or "").lower()
    if provisioning in ("failed", "canceled"):
        return "Failed"
    if provisioning in ("", "inprogress", "deleting") or running in ("", "progressing"):
        return "Transitioning"
    if running in ("running", "ready"):
        return "Healthy"
    return "Unhealthy"  # Stopped, Suspended: the app exists but does not serve


def live_state(resource_type: str, outputs: dict[str, Any] | None) -> tuple[str, str] | None:
    """(service, state) of a live container app from the outputs the engine records for it; None
    for any other resource, or an app that names no service."""
    if resource_type != CONTAINER_APP:
        return None
    outputs = outputs or {}
    service = (outputs.get("tags") or {}).get(SERVICE_TAG)
    if not isinstance(service, str) or not service:
        return None
    return service, aca_state(outputs.get("provisioningState"), outputs.get("runningStatus"))
