"""What Azure would compute for the platform's azure-native resources and invokes: the resource
group, the container registry, identities and role grants, a created or an existing AKS cluster,
Log Analytics and Application Insights. `modelstack check` and the unit tests run the program
under Pulumi's mock runtime with these answers (components.offline.evaluate); each target's own
Azure types are answered by its `mocks` module, which uses the helpers here.

Each entry returns only what Azure computes (ids, login servers, FQDNs, identities,
credentials); the inputs the program sends are echoed back unchanged. An `id` in the computed
outputs becomes the resource's id, shaped as Azure shapes it. Values are derived from names, so
a plan is the same on every run; the subscription and tenant are fixed, recognisably fake GUIDs.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from components.resource_types import ACR_REGISTRY, MANAGED_CLUSTER
from components.targets.registry import MockAnswer

MOCK_SUBSCRIPTION_ID = "00000000-0000-0000-0000-00000000aaaa"
MOCK_TENANT_ID = "00000000-0000-0000-0000-00000000bbbb"
MOCK_CLIENT_OBJECT_ID = "00000000-0000-0000-0000-00000000cccc"
MOCK_CLIENT_ID = "00000000-0000-0000-0000-00000000dddd"
# Mock credentials: never real, and still secret-shaped so tests can see they stay masked.
MOCK_REGISTRY_PASSWORD = "mock-registry-password"
MOCK_KUBECONFIG_TOKEN = "mock-kubeconfig-token"


def fake_guid(*parts: str) -> str:
    """A GUID derived from `parts`: the same names give the same GUID in every run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "modelstack-mock/" + "/".join(parts)))


def group_id(resource_group: str) -> str:
    return f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/{resource_group}"


def resource_id(inputs: dict[str, Any], provider_type: str, name: str) -> str:
    return f"{group_id(inputs['resourceGroupName'])}/providers/{provider_type}/{name}"


def assigned_identities(identity: dict[str, Any] | None) -> dict[str, Any] | None:
    """A resource's user-assigned identities as Azure returns them: sent as a list of identity
    ids, returned as a map from each id to that identity's principal and client ids."""
    if not identity or not identity.get("userAssignedIdentities"):
        return None
    return {
        **identity,
        "userAssignedIdentities": {
            identity_id: {
                "principalId": fake_guid("principal", identity_id),
                "clientId": fake_guid("client", identity_id),
            }
            for identity_id in identity["userAssignedIdentities"]
        },
    }


def mock_kubeconfig(cluster: str, server: str) -> str:
    """A kubeconfig shaped like AKS's clusterUser one, with a mock token."""
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- cluster:\n    server: https://{server}:443\n  name: {cluster}\n"
        f"contexts:\n- context:\n    cluster: {cluster}\n    user: clusterUser_{cluster}\n  name: {cluster}\n"
        f"current-context: {cluster}\n"
        f"users:\n- name: clusterUser_{cluster}\n  user:\n    token: {MOCK_KUBECONFIG_TOKEN}\n"
    )


# --- resources ------------------------------------------------------------------------------


def _resource_group(args) -> dict[str, Any]:
    name = args.inputs["resourceGroupName"]
    return {"id": group_id(name), "name": name, "properties": {"provisioningState": "Succeeded"}}


def _registry(args) -> dict[str, Any]:
    name = args.inputs["registryName"]
    return {
        "id": resource_id(args.inputs, "Microsoft.ContainerRegistry/registries", name),
        "name": name,
        "loginServer": f"{name.lower()}.azurecr.io",
        "provisioningState": "Succeeded",
    }


def _user_assigned_identity(args) -> dict[str, Any]:
    name = args.inputs["resourceName"]
    return {
        "id": resource_id(args.inputs, "Microsoft.ManagedIdentity/userAssignedIdentities", name),
        "name": name,
        "principalId": fake_guid("principal", args.name),
        "clientId": fake_guid("client", args.name),
        "tenantId": MOCK_TENANT_ID,
    }


def _role_assignment(args) -> dict[str, Any]:
    # azure-native names a role assignment with a random GUID when none is given; here the
    # GUID comes from the resource's name so that plans stay the same from run to run.
    name = args.inputs.get("roleAssignmentName") or fake_guid("role-assignment", args.name)
    return {
        "id": f"{args.inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "name": name,
        "roleAssignmentName": name,
    }


def _managed_cluster(args) -> dict[str, Any]:
    inputs = args.inputs
    name = inputs["resourceName"]
    group = inputs["resourceGroupName"]
    location = inputs.get("location", "westeurope")
    identity = dict(inputs.get("identity") or {})
    identity.update(principalId=fake_guid("cluster-principal", args.name), tenantId=MOCK_TENANT_ID)
    node_group = f"MC_{group}_{name}_{location}"
    kubelet = f"{name}-agentpool"
    return {
        "id": resource_id(inputs, "Microsoft.ContainerService/managedClusters", name),
        "name": name,
        "fqdn": f"{inputs.get('dnsPrefix', name)}-{fake_guid('fqdn', args.name)[:8]}.hcp.{location}.azmk8s.io",
        "identity": identity,
        "identityProfile": {
            "kubeletidentity": {
                "objectId": fake_guid("kubelet-object", args.name),
                "clientId": fake_guid("kubelet-client", args.name),
                "resourceId": f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/{node_group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{kubelet}",
            }
        },
        "nodeResourceGroup": node_group,
        "currentKubernetesVersion": inputs.get("kubernetesVersion", "1.33.2"),
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
    }


def _log_workspace(args) -> dict[str, Any]:
    name = args.inputs["workspaceName"]
    return {
        "id": resource_id(args.inputs, "Microsoft.OperationalInsights/workspaces", name),
        "name": name,
        "customerId": fake_guid("workspace", name),
        "provisioningState": "Succeeded",
    }


def _app_insights(args) -> dict[str, Any]:
    """A component's connection string, shaped as Azure's (a fake key, the region's endpoints)."""
    name = args.inputs["resourceName"]
    key = fake_guid("instrumentation-key", name)
    location = args.inputs.get("location", "westeurope")
    return {
        "id": resource_id(args.inputs, "microsoft.insights/components", name),
        "name": name,
        "instrumentationKey": key,
        "connectionString": f"InstrumentationKey={key};IngestionEndpoint=https://{location}-5.in.applicationinsights.azure.com/;LiveEndpoint=https://{location}.livediagnostics.monitor.azure.com/",
        "provisioningState": "Succeeded",
    }


MOCK_OUTPUTS: dict[str, MockAnswer] = {
    "azure-native:resources:ResourceGroup": _resource_group,
    ACR_REGISTRY: _registry,
    "azure-native:managedidentity:UserAssignedIdentity": _user_assigned_identity,
    "azure-native:authorization:RoleAssignment": _role_assignment,
    MANAGED_CLUSTER: _managed_cluster,
    "azure-native:operationalinsights:Workspace": _log_workspace,
    "azure-native:applicationinsights:Component": _app_insights,
}


# --- invokes --------------------------------------------------------------------------------


def _client_config(args) -> dict[str, Any]:
    return {
        "clientId": MOCK_CLIENT_ID,
        "objectId": MOCK_CLIENT_OBJECT_ID,
        "subscriptionId": MOCK_SUBSCRIPTION_ID,
        "tenantId": MOCK_TENANT_ID,
    }


def _user_credentials(args) -> dict[str, Any]:
    name = args.args["resourceName"]
    kubeconfig = mock_kubeconfig(name, f"{name}.hcp.mock.azmk8s.io")
    return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]}


def existing_cluster(
    resource_group: str, name: str, pools: list[dict[str, Any]] | None = None, location: str = "westeurope"
) -> dict[str, Any]:
    """What `getManagedCluster` returns for a cluster that exists: by default one system pool
    of 3 x Standard_D3_v2 (12 vCPUs). Tests pass other `pools` to try the 12-vCPU rule."""
    if pools is None:
        pools = [{"name": "nodepool1", "count": 3, "vmSize": "Standard_D3_v2", "osType": "Linux", "mode": "System"}]
    node_group = f"MC_{resource_group}_{name}_{location}"
    return {
        "id": f"{group_id(resource_group)}/providers/Microsoft.ContainerService/managedClusters/{name}",
        "name": name,
        "location": location,
        "fqdn": f"{name}-{fake_guid('fqdn', resource_group, name)[:8]}.hcp.{location}.azmk8s.io",
        "agentPoolProfiles": pools,
        "identity": {
            "type": "SystemAssigned",
            "principalId": fake_guid("cluster-principal", resource_group, name),
            "tenantId": MOCK_TENANT_ID,
        },
        "identityProfile": {
            "kubeletidentity": {
                "objectId": fake_guid("kubelet-object", resource_group, name),
                "clientId": fake_guid("kubelet-client", resource_group, name),
                "resourceId": f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/{node_group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool",
            }
        },
        "nodeResourceGroup": node_group,
        "kubernetesVersion": "1.33",
        "currentKubernetesVersion": "1.33.2",
        "provisioningState": "Succeeded",
    }


def _get_managed_cluster(args) -> dict[str, Any]:
    return existing_cluster(args.args["resourceGroupName"], args.args["resourceName"])


def _registry_credentials(args) -> dict[str, Any]:
    name = args.args["registryName"]
    return {
        "username": name,
        "passwords": [
            {"name": "password", "value": MOCK_REGISTRY_PASSWORD},
            {"name": "password2", "value": MOCK_REGISTRY_PASSWORD + "2"},
        ],
    }


MOCK_CALLS: dict[str, MockAnswer] = {
    "azure-native:authorization:getClientConfig": _client_config,
    "azure-native:containerservice:listManagedClusterUserCredentials": _user_credentials,
    "azure-native:containerservice:getManagedCluster": _get_managed_cluster,
    "azure-native:containerregistry:listRegistryCredentials": _registry_credentials,
}
