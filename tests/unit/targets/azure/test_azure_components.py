"""The Azure components under the mock runtime: the exact inputs each azure-native resource
would receive, the parent/child tree, and secrets kept secret in inputs and outputs.

The dev, staging and prod example stacks are evaluated as `modelstack check` evaluates them;
the rest uses small stacks or programs of its own. Ids, identities and FQDNs come from
components/targets/azure/mocks.py (what Azure would compute), never from the program.
"""

from __future__ import annotations

import logging
from typing import Any

import pulumi
import pytest

from components.config import naming
from components.config.schema import ClusterSpec
from components.errors import ConfigError
from components.offline import evaluate as offline
from components.offline.evaluate import evaluate, evaluate_stack
from components.plan_values import SECRET_PLACEHOLDER
from components.targets.aci.container_group import AciContainer, AciGroup
from components.targets.azure import mocks as azure_mocks
from components.targets.azure.aks_cluster import AksCluster, attach_target, frontend_annotations, frontend_fqdn

SUB = azure_mocks.MOCK_SUBSCRIPTION_ID
ACR_PULL = (
    f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
)
NETWORK_CONTRIBUTOR = (
    f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7"
)
GET_CLUSTER = "azure-native:containerservice:getManagedCluster"


def stack_urn(stack: str) -> str:
    return f"urn:pulumi:{stack}::modelstack::pulumi:pulumi:Stack::modelstack-{stack}"


def child_urn(stack: str, component_type: str, name: str) -> str:
    return f"urn:pulumi:{stack}::modelstack::pulumi:pulumi:Stack${component_type}::{name}"


def tags(stack: str, **extra: str) -> dict[str, str]:
    return {
        "cost-center": "ml-platform",
        "environment": stack,
        "managed-by": "modelstack",
        "modelstack-project": "modelstack",
        "modelstack-stack": stack,
        **extra,
    }


def tree(plan) -> list[tuple[str, str, str]]:
    """(type, name, parent's name) of every resource, sorted."""
    names = {r.urn: r.name for r in plan.resources}
    return sorted((r.type, r.name, names.get(r.parent, "<stack>")) for r in plan.resources)


def registry_id(stack: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg-modelstack-{stack}/providers/Microsoft.ContainerRegistry/registries/{name}"


# --- prod: FastProd cluster, Premium registry ------------------------------------------------------


def test_prod_declares_this_tree(project):
    _, plan = evaluate_stack("prod", project.root)
    assert tree(plan) == [
        ("azure-native:authorization:RoleAssignment", "aks-prod-acr-pull", "aks-prod"),
        ("azure-native:containerregistry:Registry", "registry-acr", "registry"),
        ("azure-native:containerservice:ManagedCluster", "aks-prod-cluster", "aks-prod"),
        ("azure-native:resources:ResourceGroup", "resource-group", "<stack>"),
        ("kubernetes:apps/v1:Deployment", "diabetes-deployment", "diabetes-aks"),
        ("kubernetes:apps/v1:Deployment", "diabetes-multi-deployment", "diabetes-multi-aks"),
        ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "diabetes-hpa", "diabetes-aks"),
        ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "diabetes-multi-hpa", "diabetes-multi-aks"),
        ("kubernetes:cert-manager.io/v1:ClusterIssuer", "aks-prod-letsencrypt", "aks-prod"),
        ("kubernetes:core/v1:Namespace", "aks-prod-frontend-namespace-modelstack-prod", "aks-prod-frontend"),
        ("kubernetes:core/v1:Secret", "diabetes-keys", "diabetes-aks"),
        ("kubernetes:core/v1:Secret", "diabetes-multi-keys", "diabetes-multi-aks"),
        ("kubernetes:core/v1:Service", "diabetes-multi-service", "diabetes-multi-aks"),
        ("kubernetes:core/v1:Service", "diabetes-service", "diabetes-aks"),
        ("kubernetes:gateway.networking.k8s.io/v1:Gateway", "aks-prod-frontend-gateway", "aks-prod-frontend"),
        ("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "diabetes-multi-route", "diabetes-multi-aks"),
        ("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "diabetes-route", "diabetes-aks"),
        ("kubernetes:helm.sh/v3:Release", "aks-prod-cert-manager", "aks-prod"),
        ("kubernetes:helm.sh/v3:Release", "aks-prod-traefik", "aks-prod"),
        ("kubernetes:policy/v1:PodDisruptionBudget", "diabetes-multi-pdb", "diabetes-multi-aks"),
        ("kubernetes:policy/v1:PodDisruptionBudget", "diabetes-pdb", "diabetes-aks"),
        ("kubernetes:yaml/v2:ConfigFile", "aks-prod-gateway-api-crds", "aks-prod"),
        ("modelstack:aks:AksCluster", "aks-prod", "<stack>"),
        ("modelstack:kubernetes:Frontend", "aks-prod-frontend", "aks-prod"),
        ("modelstack:kubernetes:Webservice", "diabetes-aks", "diabetes"),
        ("modelstack:kubernetes:Webservice", "diabetes-multi-aks", "diabetes-multi"),
        ("modelstack:registry:ContainerRegistry", "registry", "<stack>"),
        ("modelstack:webservice:Webservice", "diabetes", "<stack>"),
        ("modelstack:webservice:Webservice", "diabetes-multi", "<stack>"),
        ("pulumi-python:dynamic/modelstack:KubernetesRollout", "diabetes-multi-rollout", "diabetes-multi-aks"),
        ("pulumi-python:dynamic/modelstack:KubernetesRollout", "diabetes-rollout", "diabetes-aks"),
        ("pulumi-python:dynamic/modelstack:ServiceImage", "diabetes-image", "diabetes"),
        ("pulumi-python:dynamic/modelstack:ServiceImage", "diabetes-multi-image", "diabetes-multi"),
        ("pulumi:providers:kubernetes", "aks-prod-k8s", "aks-prod"),
        ("random:index/randomPassword:RandomPassword", "diabetes-multi-primary-key", "diabetes-multi"),
        ("random:index/randomPassword:RandomPassword", "diabetes-multi-secondary-key", "diabetes-multi"),
        ("random:index/randomPassword:RandomPassword", "diabetes-primary-key", "diabetes"),
        ("random:index/randomPassword:RandomPassword", "diabetes-secondary-key", "diabetes"),
    ]
    assert plan.named("aks-prod").parent == stack_urn("prod")
    assert plan.named("aks-prod-cluster").parent == child_urn("prod", "modelstack:aks:AksCluster", "aks-prod")


def test_prod_resource_group_and_registry(project):
    _, plan = evaluate_stack("prod", project.root)
    assert plan.named("resource-group").inputs == {
        "location": "westeurope",
        "resourceGroupName": "rg-modelstack-prod",
        "tags": tags("prod"),
    }
    assert plan.named("registry").inputs == {
        "admin_user_enabled": False,
        "registry_name": "modelstackprod66885afe",
        "sku": "Premium",
    }
    assert plan.named("registry-acr").inputs == {
        "adminUserEnabled": False,
        "anonymousPullEnabled": False,
        "location": "westeurope",
        "networkRuleBypassOptions": "AzureServices",  # the provider's default, sent as is
        "publicNetworkAccess": "Enabled",
        "registryName": "modelstackprod66885afe",
        "resourceGroupName": "rg-modelstack-prod",
        "sku": {"name": "Premium"},
        "tags": tags("prod"),
        "zoneRedundancy": "Disabled",  # the provider's default
    }


def test_prod_managed_cluster(project):
    _, plan = evaluate_stack("prod", project.root)
    assert plan.named("aks-prod").inputs == {
        "agent_count": 3,
        "cluster_purpose": "FastProd",
        "mode": "create",
        "vm_size": "Standard_D4s_v5",
    }
    assert plan.named("aks-prod-cluster").inputs == {
        "agentPoolProfiles": [
            {
                "count": 3,
                "enableAutoScaling": True,
                "maxCount": 6,
                "minCount": 3,
                "mode": "System",
                "name": "system",
                "osType": "Linux",
                "type": "VirtualMachineScaleSets",
                "vmSize": "Standard_D4s_v5",
            }
        ],
        "dnsPrefix": "modelstack-prod-aks-prod",
        "enableRBAC": True,
        "identity": {"type": "SystemAssigned"},
        "location": "westeurope",
        "networkProfile": {
            "loadBalancerSku": "standard",
            "networkPlugin": "azure",
            "networkPluginMode": "overlay",
            "outboundType": "loadBalancer",
        },
        "resourceGroupName": "rg-modelstack-prod",
        "resourceName": "modelstack-prod-aks-prod",
        "sku": {"name": "Base", "tier": "Standard"},
        "tags": tags("prod", **{"modelstack-cluster": "aks-prod"}),
    }


def test_prod_kubelet_identity_pulls_from_the_registry(project):
    _, plan = evaluate_stack("prod", project.root)
    assert plan.named("aks-prod-acr-pull").inputs == {
        "principalId": azure_mocks.fake_guid("kubelet-object", "aks-prod-cluster"),
        "principalType": "ServicePrincipal",
        "roleDefinitionId": ACR_PULL,
        "scope": registry_id("prod", "modelstackprod66885afe"),
    }


def test_kubeconfig_is_secret_in_inputs_and_outputs(project):
    _, plan = evaluate_stack("prod", project.root)
    assert plan.named("aks-prod-k8s").inputs == {"kubeconfig": SECRET_PLACEHOLDER}
    assert plan.outputs["kubeconfigs"] == SECRET_PLACEHOLDER
    assert azure_mocks.MOCK_KUBECONFIG_TOKEN not in offline.plan_json(plan)
    assert plan.outputs["clusters"] == {
        "aks-prod": {
            "api_server_fqdn": "modelstack-prod-aks-prod-3e2706e1.hcp.westeurope.azmk8s.io",
            "cluster_name": "modelstack-prod-aks-prod",
            "frontend_fqdn": "modelstack-prod.westeurope.cloudapp.azure.com",  # leaf_domain_label in the prod stack
        }
    }
    assert plan.outputs["registry"] == {
        "login_server": "modelstackprod66885afe.azurecr.io",
        "registry_name": "modelstackprod66885afe",
    }


def test_images_go_to_the_registry(project):
    _, plan = evaluate_stack("prod", project.root)
    assert plan.named("diabetes-image").inputs["repository"] == "modelstackprod66885afe.azurecr.io/diabetes"
    assert plan.named("diabetes-multi-image").inputs["repository"] == "modelstackprod66885afe.azurecr.io/diabetes-multi"


def test_autoscaled_node_count_is_left_to_the_autoscaler(project):
    _, prod = evaluate_stack("prod", project.root)
    assert prod.named("aks-prod-cluster").options["ignore_changes"] == ["agentPoolProfiles[0].count"]
    _, staging = evaluate_stack("staging", project.root)
    assert staging.named("aks-staging-cluster").options["ignore_changes"] == [], (
        "a fixed-size pool keeps its count under Pulumi's control"
    )


# --- staging: DevTest cluster, Standard registry --------------------------------------------------


def test_staging_devtest_cluster(project):
    _, plan = evaluate_stack("staging", project.root)
    cluster = plan.named("aks-staging-cluster").inputs
    assert cluster["agentPoolProfiles"] == [
        {
            "count": 1,
            "mode": "System",
            "name": "system",
            "osType": "Linux",
            "type": "VirtualMachineScaleSets",
            "vmSize": "Standard_D2s_v5",
        }
    ]
    assert cluster["sku"] == {"name": "Base", "tier": "Free"}
    assert plan.named("registry-acr").inputs["sku"] == {"name": "Standard"}
    assert plan.named("aks-staging-acr-pull").inputs["scope"] == registry_id("staging", "modelstackstaging2c310a51")
    assert not plan.by_type("azure-native:managedidentity:UserAssignedIdentity"), "no ACI service, no ACI pull identity"


# --- dev: ACI services, Basic registry ------------------------------------------------------------


def test_dev_has_a_basic_registry_and_an_identity_aci_pulls_with(project):
    _, plan = evaluate_stack("dev", project.root)
    assert tree(plan) == [
        ("azure-native:authorization:RoleAssignment", "registry-pull-identity-acr-pull", "registry"),
        ("azure-native:containerinstance:ContainerGroup", "diabetes-group", "diabetes"),
        ("azure-native:containerinstance:ContainerGroup", "diabetes-multi-group", "diabetes-multi"),
        ("azure-native:containerregistry:Registry", "registry-acr", "registry"),
        ("azure-native:managedidentity:UserAssignedIdentity", "registry-pull-identity", "registry"),
        ("azure-native:resources:ResourceGroup", "resource-group", "<stack>"),
        ("modelstack:aci:AciGroup", "diabetes", "diabetes-aci"),
        ("modelstack:aci:AciGroup", "diabetes-multi", "diabetes-multi-aci"),
        ("modelstack:aci:AciWebservice", "diabetes-aci", "diabetes"),
        ("modelstack:aci:AciWebservice", "diabetes-multi-aci", "diabetes-multi"),
        ("modelstack:registry:ContainerRegistry", "registry", "<stack>"),
        ("modelstack:webservice:Webservice", "diabetes", "<stack>"),
        ("modelstack:webservice:Webservice", "diabetes-multi", "<stack>"),
        ("pulumi-python:dynamic/modelstack:ServiceImage", "diabetes-image", "diabetes"),
        ("pulumi-python:dynamic/modelstack:ServiceImage", "diabetes-multi-image", "diabetes-multi"),
        ("random:index/randomPassword:RandomPassword", "diabetes-multi-primary-key", "diabetes-multi"),
        ("random:index/randomPassword:RandomPassword", "diabetes-multi-secondary-key", "diabetes-multi"),
        ("random:index/randomPassword:RandomPassword", "diabetes-primary-key", "diabetes"),
        ("random:index/randomPassword:RandomPassword", "diabetes-secondary-key", "diabetes"),
    ]
    registry = plan.named("registry-acr").inputs
    assert (registry["sku"], registry["adminUserEnabled"], registry["anonymousPullEnabled"]) == (
        {"name": "Basic"},
        False,
        False,
    )
    assert plan.named("registry-pull-identity").inputs == {
        "location": "westeurope",
        "resourceGroupName": "rg-modelstack-dev",
        "resourceName": "modelstack-dev-aci-pull",
        "tags": tags("dev"),
    }
    assert plan.named("registry-pull-identity-acr-pull").inputs == {
        "principalId": azure_mocks.fake_guid("principal", "registry-pull-identity"),
        "principalType": "ServicePrincipal",
        "roleDefinitionId": ACR_PULL,
        "scope": registry_id("dev", "modelstackdev3ee9a8d2"),
    }
    assert "kubeconfigs" not in plan.outputs and "registry_credentials" not in plan.outputs


def test_admin_credentials_when_enabled_are_secret(project):
    project.write_stack(
        "admin",
        {
            "registry": {"kind": "acr", "sku": "Standard", "name": "modelstackadmin01", "admin_user_enabled": True},
            "services": {"diabetes": {"target": "aci"}},
        },
    )
    _, plan = evaluate_stack("admin", project.root)
    assert plan.named("registry-acr").inputs["adminUserEnabled"] is True
    assert plan.named("registry-acr").inputs["registryName"] == "modelstackadmin01"
    assert plan.outputs["registry_credentials"] == SECRET_PLACEHOLDER
    assert azure_mocks.MOCK_REGISTRY_PASSWORD not in offline.plan_json(plan)


def test_a_given_resource_group_and_user_tags_are_used(project):
    project.write_stack(
        "named",
        {
            "registry": {"kind": "acr"},
            "resource_group": "rg-ml-shared",
            "tags": {"owner": "ml"},
            "location": "northeurope",
        },
    )
    _, plan = evaluate_stack("named", project.root)
    assert plan.named("resource-group").inputs == {
        "location": "northeurope",
        "resourceGroupName": "rg-ml-shared",
        "tags": {
            "managed-by": "modelstack",
            "modelstack-project": "modelstack",
            "modelstack-stack": "named",
            "owner": "ml",
        },
    }
    assert plan.named("registry-acr").inputs["resourceGroupName"] == "rg-ml-shared"


# --- vnet, internal load balancer, SSL --------------------------------------------------------------


def test_a_cluster_in_a_vnet(project):
    vnet = {
        "vnet_resourcegroup_name": "rg-net",
        "vnet_name": "vnet-ml",
        "subnet_name": "aks",
        "service_cidr": "10.0.0.0/16",
        "dns_service_ip": "10.0.0.10",
        "docker_bridge_cidr": "172.17.0.1/16",
        "load_balancer_type": "InternalLoadBalancer",
        "kubernetes_version": "1.33",
    }
    project.write_stack("vnet", {"registry": {"kind": "acr"}, "clusters": {"aks-vnet": vnet}})
    _, plan = evaluate_stack("vnet", project.root)
    subnet = (
        f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-ml/subnets/aks"
    )
    cluster = plan.named("aks-vnet-cluster").inputs
    assert cluster["agentPoolProfiles"][0]["vnetSubnetID"] == subnet
    assert cluster["agentPoolProfiles"][0]["orchestratorVersion"] == "1.33"
    assert cluster["kubernetesVersion"] == "1.33"
    assert cluster["networkProfile"] == {
        "dnsServiceIP": "10.0.0.10",
        "loadBalancerSku": "standard",
        "networkPlugin": "azure",
        "outboundType": "loadBalancer",
        "serviceCidr": "10.0.0.0/16",
    }
    assert plan.named("aks-vnet-subnet-network-contributor").inputs == {
        "principalId": azure_mocks.fake_guid("cluster-principal", "aks-vnet-cluster"),
        "principalType": "ServicePrincipal",
        "roleDefinitionId": NETWORK_CONTRIBUTOR,
        "scope": subnet,
    }
    assert plan.named("aks-vnet-subnet-network-contributor").parent == child_urn(
        "vnet", "modelstack:aks:AksCluster", "aks-vnet"
    )


def test_frontend_exposure_follows_the_load_balancer_settings():
    assert frontend_annotations(ClusterSpec(load_balancer_type="InternalLoadBalancer")) == {
        "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
        "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "aks-subnet",
    }
    internal = ClusterSpec(load_balancer_type="InternalLoadBalancer", load_balancer_subnet="ml-frontends")
    assert (
        frontend_annotations(internal)["service.beta.kubernetes.io/azure-load-balancer-internal-subnet"]
        == "ml-frontends"
    )
    public = ClusterSpec(leaf_domain_label="diabetes-prod")
    assert frontend_annotations(public) == {"service.beta.kubernetes.io/azure-dns-label-name": "diabetes-prod"}
    assert frontend_fqdn(public, "westeurope") == "diabetes-prod.westeurope.cloudapp.azure.com"
    assert frontend_annotations(ClusterSpec()) == {} and frontend_fqdn(ClusterSpec(), "westeurope") is None


def test_ssl_certificate_and_key_are_handed_on_as_secrets(project):
    (project.root / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (project.root / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----\n")
    project.write_stack("ssl", {"registry": {"kind": "acr"}})
    config = project.load("ssl")
    spec = ClusterSpec(ssl_cname="ml.example.com", ssl_cert_pem_file="cert.pem", ssl_key_pem_file="key.pem")

    def program(_):
        cluster = AksCluster(
            "aks-ssl",
            spec=spec,
            project="modelstack",
            stack="ssl",
            project_dir=str(project.root),
            resource_group_name="rg",
            location="westeurope",
            subscription_id=SUB,
            tags={},
        )
        pulumi.export(
            "ssl", {"cname": cluster.ssl_cname, "certificate": cluster.tls_certificate, "key": cluster.tls_key}
        )

    plan = evaluate(config, program)
    assert plan.outputs["ssl"] == SECRET_PLACEHOLDER
    assert "secret-key-bytes" not in offline.plan_json(plan)
    assert not plan.by_type("azure-native:authorization:RoleAssignment"), "no registry given, no AcrPull"


# --- attach -------------------------------------------------------------------------------------

CLUSTER_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-ml/providers/Microsoft.ContainerService/managedClusters/aks-shared"
)


def attach_stack(project, attach: dict, **cluster) -> str:
    project.write_stack(
        "attach",
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-shared": {"attach": attach, **cluster}},
            "services": {"diabetes": {"target": "aks", "compute": "aks-shared"}},
        },
    )
    return "attach"


def live_cluster_with(monkeypatch, pools):
    monkeypatch.setitem(
        offline.MOCK_CALLS,
        GET_CLUSTER,
        lambda args: azure_mocks.existing_cluster(
            args.args["resourceGroupName"], args.args["resourceName"], pools=pools
        ),
    )


@pytest.mark.parametrize(
    "attach", [{"resource_id": CLUSTER_ID}, {"resource_group": "rg-ml", "cluster_name": "aks-shared"}]
)
def test_attach_reads_the_cluster_and_creates_none(project, attach):
    _, plan = evaluate_stack(attach_stack(project, attach), project.root)
    assert not plan.by_type("azure-native:containerservice:ManagedCluster")
    assert plan.named("aks-shared").inputs == {"cluster_purpose": "FastProd", "mode": "attach"}
    assert plan.named("aks-shared-acr-pull").inputs == {
        "principalId": azure_mocks.fake_guid("kubelet-object", "rg-ml", "aks-shared"),
        "principalType": "ServicePrincipal",
        "roleDefinitionId": ACR_PULL,
        "scope": registry_id("attach", naming.registry_name("modelstack", "attach", SUB)),
    }
    assert plan.named("aks-shared-k8s").inputs == {"kubeconfig": SECRET_PLACEHOLDER}
    assert plan.outputs["clusters"]["aks-shared"]["cluster_name"] == "aks-shared"


ATTACHED_RULE = "  Rule: a production cluster (cluster_purpose FastProd, the default) has at least 12 vCPUs: nodes x vCPUs of vm_size; DevTest clusters may be smaller\n"


@pytest.mark.parametrize(
    "pools, problem, fix",
    [
        (
            [
                {"name": "system", "count": 1, "vmSize": "Standard_D4s_v5", "osType": "Linux", "mode": "System"},
                {
                    "name": "user",
                    "count": 5,
                    "vmSize": "Standard_D2s_v5",
                    "osType": "Linux",
                    "mode": "User",
                    "enableAutoScaling": True,
                    "minCount": 1,
                },
                {"name": "win", "count": 3, "vmSize": "Standard_D8s_v5", "osType": "Windows", "mode": "User"},
            ],
            "system: 1 x Standard_D4s_v5 (4 vCPUs); user: at least 1 x Standard_D2s_v5 (2 vCPUs) = 6 vCPUs; a production (FastProd) cluster needs at least 12",
            "add nodes or a larger pool to that cluster (az aks nodepool scale / az aks nodepool add), or set cluster_purpose: DevTest",
        ),
        (  # a size the catalogue does not know is not guessed
            [
                {"name": "system", "count": 1, "vmSize": "Standard_D2s_v5", "osType": "Linux", "mode": "System"},
                {"name": "big", "count": 2, "vmSize": "Standard_L32s_v3", "osType": "Linux", "mode": "User"},
            ],
            "the 12-vCPU rule cannot be checked: pool(s) big: Standard_L32s_v3 use sizes the VM-size catalogue "
            "(components/config/data/vm_sizes.yaml) does not know (the known pools have 2)",
            "add Standard_L32s_v3 to components/config/data/vm_sizes.yaml with its vCPUs, or set cluster_purpose: DevTest",
        ),
    ],
)
def test_attach_checks_the_12_vcpu_rule_against_the_live_pools(project, monkeypatch, pools, problem, fix):
    live_cluster_with(monkeypatch, pools)
    with pytest.raises(ConfigError) as caught:
        evaluate_stack(attach_stack(project, {"resource_id": CLUSTER_ID}), project.root)
    assert (
        str(caught.value)
        == f"modelstack:clusters.aks-shared.attach: attached cluster rg-ml/aks-shared: {problem}\n{ATTACHED_RULE}  Fix: {fix}"
    )


def test_a_small_attached_cluster_is_fine_for_devtest(project, monkeypatch):
    live_cluster_with(
        monkeypatch, [{"name": "system", "count": 1, "vmSize": "Standard_D2s_v5", "osType": "Linux", "mode": "System"}]
    )
    _, plan = evaluate_stack(
        attach_stack(project, {"resource_id": CLUSTER_ID}, cluster_purpose="DevTest"), project.root
    )
    assert plan.named("aks-shared").inputs["cluster_purpose"] == "DevTest"


def test_known_pools_that_reach_12_vcpus_need_no_unknown_size(project, monkeypatch):
    live_cluster_with(
        monkeypatch,
        [
            {"name": "system", "count": 3, "vmSize": "Standard_D4s_v5", "osType": "Linux", "mode": "System"},
            {"name": "big", "count": 2, "vmSize": "Standard_L32s_v3", "osType": "Linux", "mode": "User"},
        ],
    )
    _, plan = evaluate_stack(attach_stack(project, {"resource_id": CLUSTER_ID}), project.root)
    assert plan.named("aks-shared").inputs["mode"] == "attach"


def test_attach_target_from_either_form():
    assert attach_target(ClusterSpec(attach={"resource_id": CLUSTER_ID})) == ("rg-ml", "aks-shared")
    assert attach_target(ClusterSpec(attach={"resource_group": "rg-x", "cluster_name": "c"})) == ("rg-x", "c")


# --- ACI ------------------------------------------------------------------------------------------

IDENTITY = f"/subscriptions/{SUB}/resourceGroups/rg-modelstack-dev/providers/Microsoft.ManagedIdentity/userAssignedIdentities/modelstack-dev-aci-pull"
IMAGE = "modelstackdev3ee9a8d2.azurecr.io/diabetes@sha256:" + "0" * 64


def aci_plan(project, **overrides):
    config = project.load("dev")
    arguments: dict[str, Any] = dict(
        group_name="modelstack-dev-diabetes",
        resource_group_name="rg-modelstack-dev",
        location="westeurope",
        containers=[
            AciContainer(name="diabetes", image=IMAGE, cpu_cores=0.5, memory_gb=1.0, environment={"WORKER_COUNT": "1"})
        ],
        registry_server="modelstackdev3ee9a8d2.azurecr.io",
        registry_identity_id=IDENTITY,
        dns_name_label="diabetes-dev",
        tags={"managed-by": "modelstack"},
    )
    arguments.update(overrides)

    def program(_):
        group = AciGroup("diabetes", **arguments)
        pulumi.export("fqdn", group.fqdn)
        pulumi.export("ip_address", group.ip_address)

    return evaluate(config, program)


def test_aci_group_with_a_pull_identity_and_a_dns_label(project):
    plan = aci_plan(project)
    assert tree(plan) == [
        ("azure-native:containerinstance:ContainerGroup", "diabetes-group", "diabetes"),
        ("modelstack:aci:AciGroup", "diabetes", "<stack>"),
    ]
    assert plan.named("diabetes-group").inputs == {
        "containerGroupName": "modelstack-dev-diabetes",
        "containers": [
            {
                "environmentVariables": [{"name": "WORKER_COUNT", "value": "1"}],
                "image": IMAGE,
                "name": "diabetes",
                "ports": [{"port": 5001, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": 0.5, "memoryInGB": 1}},
            }
        ],
        "identity": {"type": "UserAssigned", "userAssignedIdentities": [IDENTITY]},
        "imageRegistryCredentials": [{"identity": IDENTITY, "server": "modelstackdev3ee9a8d2.azurecr.io"}],
        "ipAddress": {
            "autoGeneratedDomainNameLabelScope": "TenantReuse",
            "dnsNameLabel": "diabetes-dev",
            "ports": [{"port": 5001, "protocol": "TCP"}],
            "type": "Public",
        },
        "location": "westeurope",
        "osType": "Linux",
        "resourceGroupName": "rg-modelstack-dev",
        "restartPolicy": "Always",
        "tags": {"managed-by": "modelstack"},
    }
    fqdn = plan.outputs["fqdn"]
    assert fqdn.startswith("diabetes-dev.") and fqdn.endswith(".westeurope.azurecontainer.io")
    assert plan.outputs["ip_address"] == "20.0.0.4"


def test_aci_secure_environment_and_registry_password_stay_secret(project):
    container = AciContainer(
        name="diabetes",
        image=IMAGE,
        cpu_cores=1,
        memory_gb=2,
        ports=(5001, 8080),
        secure_environment={"PRIMARY_KEY": "key-one-value"},
    )
    plan = aci_plan(
        project,
        containers=[container],
        registry_identity_id=None,
        registry_username="modelstackdev3ee9a8d2",
        registry_password="admin-password-value",
        restart_policy="OnFailure",
    )
    inputs = plan.named("diabetes-group").inputs
    # A secret anywhere inside a property makes the provider send the whole property as a secret.
    assert inputs["containers"] == SECRET_PLACEHOLDER and inputs["imageRegistryCredentials"] == SECRET_PLACEHOLDER
    assert "identity" not in inputs and inputs["restartPolicy"] == "OnFailure"
    assert inputs["ipAddress"]["ports"] == [{"port": 5001, "protocol": "TCP"}, {"port": 8080, "protocol": "TCP"}]
    text = offline.plan_json(plan)
    assert "key-one-value" not in text and "admin-password-value" not in text


def test_aci_group_in_a_vnet_has_a_private_ip_only(project):
    subnet = (
        f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-ml/subnets/aci"
    )
    plan = aci_plan(project, dns_name_label=None, subnet_id=subnet)
    inputs = plan.named("diabetes-group").inputs
    assert inputs["ipAddress"] == {"ports": [{"port": 5001, "protocol": "TCP"}], "type": "Private"}
    assert inputs["subnetIds"] == [{"id": subnet}]
    assert plan.outputs["ip_address"] == "10.0.0.4"


def test_aci_group_refuses_ambiguous_pull_settings(project):
    with pytest.raises(ValueError, match="exactly one"):
        AciGroup(
            "x",
            group_name="x",
            resource_group_name="rg",
            location="westeurope",
            containers=[AciContainer(name="x", image="i", cpu_cores=1, memory_gb=1)],
            registry_server="r",
            tags={},
        )


def test_an_attached_service_principal_cluster_gets_no_acr_pull_and_a_warning(project, monkeypatch, caplog):
    def without_kubelet_identity(args):
        live = azure_mocks.existing_cluster(args.args["resourceGroupName"], args.args["resourceName"])
        del live["identityProfile"]
        return live

    monkeypatch.setitem(offline.MOCK_CALLS, GET_CLUSTER, without_kubelet_identity)
    with caplog.at_level(logging.WARNING):
        _, plan = evaluate_stack(attach_stack(project, {"resource_id": CLUSTER_ID}), project.root)
    assert not plan.by_type("azure-native:authorization:RoleAssignment")
    assert (
        "the cluster has no kubelet managed identity (a service-principal cluster), so no AcrPull is granted"
        in caplog.text
    )
