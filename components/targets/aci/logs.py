"""An ACI service's log: the container group's container log, from Azure's REST API with the
user's Azure identity (the Azure CLI's token, as image pushes use)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.errors import ModelstackError

ARM = "https://management.azure.com"
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

    from components.image.registry_auth import azure_cli_access_token

    token = (token_source or azure_cli_access_token)()
    subscription = getattr(token, "subscription", None)
    if not subscription:
        raise ModelstackError(
            "the Azure CLI names no subscription",
            rule="the container group is found in your current subscription",
            fix="az account set --subscription <id of the stack's subscription>",
        )
    url = (
        f"{base_url}/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.ContainerInstance"
        f"/containerGroups/{group}/containers/{container}/logs"
    )
    try:
        query: dict[str, str | int] = {"api-version": ACI_API_VERSION, "tail": tail}
        answer = requests.get(
            url, params=query, headers={"Authorization": f"Bearer {token.token.get_secret_value()}"}, timeout=60
        )
    except requests.RequestException as failed:
        raise ModelstackError(
            f"Azure did not answer: {type(failed).__name__}",
            rule="ACI logs are read from Azure's management API",
            fix="check your network, then try again",
        ) from None
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
