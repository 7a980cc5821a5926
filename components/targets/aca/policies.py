"""Guardrails of Container Apps resources, judged with every other policy
(components.policy.rules): by the CrossGuard pack on a preview, and by `modelstack check` offline.

Authentication is not here: the webservice-auth-enabled policy judges every target's services by
their facts (AcaTarget.policy_facts gives auth_enabled).
"""

from __future__ import annotations

from typing import Any

from components.plan_values import is_known
from components.policy.types import Policy, Resource
from components.resource_types import CONTAINER_APP


def stack_of(urn: str) -> str | None:
    """The stack a resource belongs to, from its URN (urn:pulumi:<stack>::<project>::...)."""
    parts = urn.split(":", 2)
    return parts[2].split("::", 1)[0] if len(parts) == 3 and parts[0] == "urn" and parts[1] == "pulumi" else None


def allow_insecure(inputs: dict[str, Any]) -> Any:
    """configuration.ingress.allowInsecure as sent (None when unset, or not known yet)."""
    configuration = inputs.get("configuration")
    if not isinstance(configuration, dict):
        return None
    ingress = configuration.get("ingress")
    return ingress.get("allowInsecure") if isinstance(ingress, dict) else None


def no_plain_http_in_production(resource: Resource, params: dict[str, Any]) -> str | None:
    """A container app in a production stack answers HTTPS only (Container Apps redirects plain
    HTTP to HTTPS unless allowInsecure is set)."""
    if resource.type != CONTAINER_APP or stack_of(resource.urn) not in params["production_stacks"]:
        return None
    insecure = allow_insecure(resource.inputs)
    if not is_known(insecure) or insecure is not True:
        return None
    return (
        f"container app {resource.name} in stack {stack_of(resource.urn)} accepts plain HTTP (ingress allowInsecure); "
        "production endpoints are HTTPS only, so keys and payloads never cross the network in clear text. "
        "Remove allow_insecure from the service's deploy settings (Container Apps then redirects HTTP to HTTPS)."
    )


POLICIES: tuple[Policy, ...] = (
    Policy(
        "aca-no-plain-http-in-production",
        "Container apps in production stacks accept HTTPS only (no allowInsecure ingress).",
        "mandatory",
        no_plain_http_in_production,
        {"production_stacks": ["prod"]},
    ),
)
