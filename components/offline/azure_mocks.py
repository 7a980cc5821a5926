"""What Azure would compute for the azure-native resources and invokes the program uses.

Merged into components.offline.evaluate's tables, keyed by type token (resources) and by function
token (invokes). Each entry returns only what Azure computes (ids, login servers, FQDNs,
identities, credentials); the inputs the program sends are echoed back unchanged. An `id`
in a resource's computed outputs becomes the resource's id, shaped as Azure shapes it.

Values are deterministic (derived from names), so a plan is the same on every run. The
subscription and tenant are fixed, recognisably fake GUIDs. The webservices' other providers
are here too: random (generated keys) and Kubernetes (what a cluster reports on a Deployment
and a Gateway).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from components import pulumi_internals
from components.resource_types import ACR_REGISTRY, CONTAINER_APP, CONTAINER_GROUP, K8S_DEPLOYMENT, MANAGED_CLUSTER

MOCK_SUBSCRIPTION_ID = "00000000-0000-0000-0000-00000000aaaa"
MOCK_TENANT_ID = "00000000-0000-0000-0000-00000000bbbb"
MOCK_CLIENT_OBJECT_ID = "00000000-0000-0000-0000-00000000cccc"
MOCK_CLIENT_ID = "00000000-0000-0000-0000-00000000dddd"
# Mock credentials: never real, and still secret-shaped so tests can see they stay masked.
MOCK_REGISTRY_PASSWORD = "mock-registry-password"
MOCK_KUBECONFIG_TOKEN = "mock-kubeconfig-token"
MOCK_KEY_PREFIX = "mockkey"
MOCK_WORKSPACE_SHARED_KEY = "mock-workspace-shared-key"
MOCK_GATEWAY_ADDRESS = "20.50.60.70"


def fake_guid(*parts: str) -> str:
    """A GUID derived from `parts`: the same names give the same GUID in every run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "modelstack-mock/" + "/".join(parts)))


def _group_id(resource_group: str) -> str:
    return f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/{resource_group}"


def _resource_id(inputs: dict[str, Any], provider_type: str, name: str) -> str:
    return f"{_group_id(inputs['resourceGroupName'])}/providers/{provider_type}/{name}"


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
    return {"id": _group_id(name), "name": name, "properties": {"provisioningState": "Succeeded"}}


def _registry(args) -> dict[str, Any]:
    name = args.inputs["registryName"]
    return {
        "id": _resource_id(args.inputs, "Microsoft.ContainerRegistry/registries", name),
        "name": name,
        "loginServer": f"{name.lower()}.azurecr.io",
        "provisioningState": "Succeeded",
    }


def _user_assigned_identity(args) -> dict[str, Any]:
    name = args.inputs["resourceName"]
    return {
        "id": _resource_id(args.inputs, "Microsoft.ManagedIdentity/userAssignedIdentities", name),
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
        "id": _resource_id(inputs, "Microsoft.ContainerService/managedClusters", name),
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


def _container_group(args) -> dict[str, Any]:
    inputs = args.inputs
    name = inputs["containerGroupName"]
    location = inputs.get("location", "westeurope")
    ip_address = dict(inputs.get("ipAddress") or {})
    if ip_address.get("type") == "Private":
        ip_address["ip"] = "10.0.0.4"
    elif ip_address:
        ip_address["ip"] = "20.0.0.4"
        if ip_address.get("dnsNameLabel"):
            # With a reuse scope Azure adds a hash of the scope to the label.
            infix = (
                f".{fake_guid('dns', args.name)[:6]}"
                if ip_address.get("autoGeneratedDomainNameLabelScope") not in (None, "Unsecure")
                else ""
            )
            ip_address["fqdn"] = f"{ip_address['dnsNameLabel']}{infix}.{location}.azurecontainer.io"
    outputs = {
        "id": _resource_id(inputs, "Microsoft.ContainerInstance/containerGroups", name),
        "name": name,
        "ipAddress": ip_address,
        "provisioningState": "Succeeded",
        "instanceView": {"state": "Running", "events": []},
    }
    identity = inputs.get("identity")
    if identity and identity.get("userAssignedIdentities"):
        # Sent as a list of identity ids, returned as a map from id to the identity's ids.
        outputs["identity"] = {
            **identity,
            "userAssignedIdentities": {
                identity_id: {
                    "principalId": fake_guid("principal", identity_id),
                    "clientId": fake_guid("client", identity_id),
                }
                for identity_id in identity["userAssignedIdentities"]
            },
        }
    return outputs


def _log_workspace(args) -> dict[str, Any]:
    name = args.inputs["workspaceName"]
    return {
        "id": _resource_id(args.inputs, "Microsoft.OperationalInsights/workspaces", name),
        "name": name,
        "customerId": fake_guid("workspace", name),
        "provisioningState": "Succeeded",
    }


def _aca_default_domain(environment_name: str, location: str) -> str:
    """A Container Apps environment's domain: a unique prefix, then the region's."""
    return f"mock{fake_guid('aca-domain', environment_name).replace('-', '')[:8]}.{location}.azurecontainerapps.io"


def _managed_environment(args) -> dict[str, Any]:
    name = args.inputs["environmentName"]
    location = args.inputs.get("location", "westeurope")
    return {
        "id": _resource_id(args.inputs, "Microsoft.App/managedEnvironments", name),
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
        "id": _resource_id(inputs, "Microsoft.App/containerApps", name),
        "name": name,
        "configuration": configuration,
        "latestRevisionName": f"{name}--{fake_guid('revision', args.name)[:7]}",
        "latestRevisionFqdn": f"{name}--{fake_guid('revision', args.name)[:7]}.{domain}",
        "provisioningState": "Succeeded",
        "runningStatus": "Running",
    }
    identity = inputs.get("identity")
    if identity and identity.get("userAssignedIdentities"):
        # Sent as a list of identity ids, returned as a map from id to the identity's ids.
        outputs["identity"] = {
            **identity,
            "userAssignedIdentities": {
                identity_id: {
                    "principalId": fake_guid("principal", identity_id),
                    "clientId": fake_guid("client", identity_id),
                }
                for identity_id in identity["userAssignedIdentities"]
            },
        }
    return outputs


def _app_insights(args) -> dict[str, Any]:
    """A component's connection string, shaped as Azure's (a fake key, the region's endpoints)."""
    name = args.inputs["resourceName"]
    key = fake_guid("instrumentation-key", name)
    location = args.inputs.get("location", "westeurope")
    return {
        "id": _resource_id(args.inputs, "microsoft.insights/components", name),
        "name": name,
        "instrumentationKey": key,
        "connectionString": f"InstrumentationKey={key};IngestionEndpoint=https://{location}-5.in.applicationinsights.azure.com/;LiveEndpoint=https://{location}.livediagnostics.monitor.azure.com/",
        "provisioningState": "Succeeded",
    }


def _random_password(args) -> dict[str, Any]:
    """A generated key: derived from the resource's name, so plans are stable; never real."""
    length = int(args.inputs.get("length", 32))
    return {"result": (MOCK_KEY_PREFIX + hashlib.sha256(args.name.encode()).hexdigest())[:length]}


def _deployment(args) -> dict[str, Any]:
    """A Deployment whose rollout finished: every replica updated, ready and available."""
    replicas = int((args.inputs.get("spec") or {}).get("replicas", 1))
    return {
        "status": {
            "replicas": replicas,
            "readyReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }
    }


def _gateway(args) -> dict[str, Any]:
    """A Gateway the implementation programmed, with its load balancer's address."""
    return {
        "status": {
            "addresses": [{"type": "IPAddress", "value": MOCK_GATEWAY_ADDRESS}],
            "conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "True"}],
        }
    }


MOCK_OUTPUTS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "random:index/randomPassword:RandomPassword": _random_password,
    K8S_DEPLOYMENT: _deployment,
    "kubernetes:gateway.networking.k8s.io/v1:Gateway": _gateway,
    "azure-native:resources:ResourceGroup": _resource_group,
    ACR_REGISTRY: _registry,
    "azure-native:managedidentity:UserAssignedIdentity": _user_assigned_identity,
    "azure-native:authorization:RoleAssignment": _role_assignment,
    MANAGED_CLUSTER: _managed_cluster,
    CONTAINER_GROUP: _container_group,
    "azure-native:operationalinsights:Workspace": _log_workspace,
    "azure-native:applicationinsights:Component": _app_insights,
    "azure-native:app:ManagedEnvironment": _managed_environment,
    CONTAINER_APP: _container_app,
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
        "id": f"{_group_id(resource_group)}/providers/Microsoft.ContainerService/managedClusters/{name}",
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


def _workspace_shared_keys(args) -> dict[str, Any]:
    return {"primarySharedKey": MOCK_WORKSPACE_SHARED_KEY, "secondarySharedKey": MOCK_WORKSPACE_SHARED_KEY + "2"}


MOCK_CALLS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "azure-native:authorization:getClientConfig": _client_config,
    "azure-native:containerservice:listManagedClusterUserCredentials": _user_credentials,
    "azure-native:containerservice:getManagedCluster": _get_managed_cluster,
    "azure-native:containerregistry:listRegistryCredentials": _registry_credentials,
    "azure-native:operationalinsights:getSharedKeys": _workspace_shared_keys,
}
