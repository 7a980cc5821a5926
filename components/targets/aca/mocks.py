"""What Azure would compute for a Container Apps environment, its apps and its Log Analytics
workspace's keys (`check` and the unit tests run the program under Pulumi's mock runtime with it;
components.targets.azure.mocks says how)."""

from __future__ import annotations

from typing import Any

from components import pulumi_internals
from components.resource_types import CONTAINER_APP
from components.targets.azure.mocks import assigned_identities, fake_guid, resource_id
from components.targets.registry import MockAnswer

MOCK_WORKSPACE_SHARED_KEY = "mock-workspace-shared-key"


def _aca_default_domain(environment_name: str, location: str) -> str:
    """A Container Apps environment's domain: a unique prefix, then the region's."""
    return f"mock{fake_guid('aca-domain', environment_name).replace('-', '')[:8]}.{location}.azurecontainerapps.io"


def _managed_environment(args) -> dict[str, Any]:
    name = args.inputs["environmentName"]
    location = args.inputs.get("location", "westeurope")
    return {
        "id": resource_id(args.inputs, "Microsoft.App/managedEnvironments", name),
        "name": name,
        "defaultDomain": _aca_default_domain(name, location),
        "staticIp": "20.0.0.5",
        "provisioningState": "Succeeded",
    }


def _container_app(args) -> dict[str, Any]:
    """A container app whose revision runs: its ingress's FQDN in the environment's domain
    (apps with internal ingress get an `.internal` one), as Azure names it."""
    inputs = args.inputs
    name = inputs["containerAppName"]
    environment = str(inputs.get("environmentId", "")).rsplit("/", 1)[-1]
    domain = _aca_default_domain(environment, inputs.get("location", "westeurope"))
    # The configuration arrives secret as a whole (the app's secrets are in it) and stays so.
    sent = inputs.get("configuration") or {}
    secret = pulumi_internals.is_secret_wire(sent)
    configuration = dict(sent.get("value") or {}) if secret else dict(sent)
    ingress = configuration.get("ingress")
    if isinstance(ingress, dict):
        configuration["ingress"] = {
            **ingress,
            "fqdn": f"{name}.{domain}" if ingress.get("external") else f"{name}.internal.{domain}",
        }
    if secret:
        configuration = {**sent, "value": configuration}
    outputs = {
        "id": resource_id(inputs, "Microsoft.App/containerApps", name),
        "name": name,
        "configuration": configuration,
        "latestRevisionName": f"{name}--{fake_guid('revision', args.name)[:7]}",
        "latestRevisionFqdn": f"{name}--{fake_guid('revision', args.name)[:7]}.{domain}",
        "provisioningState": "Succeeded",
        "runningStatus": "Running",
    }
    identity = assigned_identities(inputs.get("identity"))
    if identity:
        outputs["identity"] = identity
    return outputs


def _workspace_shared_keys(args) -> dict[str, Any]:
    return {"primarySharedKey": MOCK_WORKSPACE_SHARED_KEY, "secondarySharedKey": MOCK_WORKSPACE_SHARED_KEY + "2"}


MOCK_OUTPUTS: dict[str, MockAnswer] = {
    "azure-native:app:ManagedEnvironment": _managed_environment,
    CONTAINER_APP: _container_app,
}
MOCK_CALLS: dict[str, MockAnswer] = {"azure-native:operationalinsights:getSharedKeys": _workspace_shared_keys}
