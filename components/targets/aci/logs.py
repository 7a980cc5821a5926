"""An ACI service's log: the container group's container log, from Azure's REST API with the
user's Azure identity (the Azure CLI's token, as image pushes use)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.errors import ModelstackError
from components.targets.azure.management import ARM, resource_group_access, unanswered

ACI_API_VERSION = "2023-05-01"


def aci_logs(
    resource_group: str,
    group: str,
    container: str,
    *,
    tail: int,
    base_url: str = ARM,
    token_source: Callable[[], Any] | None = None,
) -> str:
    """A container group's container log, from Azure's REST API with the user's Azure identity."""
    import requests

    access = resource_group_access(
        resource_group, finding="the container group", base_url=base_url, token_source=token_source
    )
    url = f"{access.url}/providers/Microsoft.ContainerInstance/containerGroups/{group}/containers/{container}/logs"
    try:
        query: dict[str, str | int] = {"api-version": ACI_API_VERSION, "tail": tail}
        answer = requests.get(url, params=query, headers=access.headers, timeout=60)
    except requests.RequestException as failed:
        raise unanswered(failed, "ACI logs are read from Azure's management API") from None
    if answer.status_code == 404:
        raise ModelstackError(
            f"container group {group} was not found in resource group {resource_group}",
            rule="an ACI service runs as the container group its stack creates",
            fix="pulumi up for the stack (or `az account set` to the stack's subscription)",
        )
    if answer.status_code != 200:
        raise ModelstackError(
            f"Azure refused the log of {group}: HTTP {answer.status_code}",
            rule="reading a container's log needs Microsoft.ContainerInstance/containerGroups/containers/logs/read",
            fix="ask for Reader on the stack's resource group, or check `az login`",
        )
    return (answer.json().get("content") or "").rstrip("\n")
