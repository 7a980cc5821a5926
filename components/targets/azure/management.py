"""Calls to Azure Resource Manager as the user (the Azure CLI's token, as image pushes use), for
what a command reads of a stack's live Azure resources (an ACI container's log, a Container Apps
workspace's query)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components.errors import ModelstackError

ARM = "https://management.azure.com"


@dataclass(frozen=True)
class ResourceGroupAccess:
    """A resource group of the user's current subscription: its URL under Resource Manager, and the
    headers that authenticate as the user (the token stays in them; never printed)."""

    url: str
    headers: dict[str, str]


def resource_group_access(
    resource_group: str, *, finding: str, base_url: str = ARM, token_source: Callable[[], Any] | None = None
) -> ResourceGroupAccess:
    """`finding` says what is looked for there, for the error when the CLI names no subscription."""
    from components.image.registry_auth import azure_cli_access_token

    token = (token_source or azure_cli_access_token)()
    subscription = getattr(token, "subscription", None)
    if not subscription:
        raise ModelstackError(
            "the Azure CLI names no subscription",
            rule=f"{finding} is found in your current subscription",
            fix="az account set --subscription <id of the stack's subscription>",
        )
    return ResourceGroupAccess(
        f"{base_url}/subscriptions/{subscription}/resourceGroups/{resource_group}",
        {"Authorization": f"Bearer {token.token.get_secret_value()}"},
    )


def unanswered(failed: Exception, rule: str) -> ModelstackError:
    """The error for a call Azure did not answer (the network, a timeout)."""
    return ModelstackError(
        f"Azure did not answer: {type(failed).__name__}", rule=rule, fix="check your network, then try again"
    )
