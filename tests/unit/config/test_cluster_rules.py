"""Rules of modelstack:clusters, each message pinned: the 12-vCPU rule at and around its
boundary, unknown and too-small sizes, attach, SSL, vnet, load balancer, autoscale, names.

Errors come out of the config loader (`load_from_files`) as ConfigErrors, as `check` shows them.
"""

from __future__ import annotations

import pytest

from components.config.cluster_rules import production_vcpus_error
from components.config.schema import ClusterSpec
from components.errors import ConfigErrors

RULE_12 = (
    "  Rule: a production cluster (cluster_purpose FastProd, the default) has at least 12 vCPUs: "
    "nodes x vCPUs of vm_size; DevTest clusters may be smaller\n"
)


def cluster_errors(project, clusters: dict) -> list[str]:
    """The messages for a stack whose only change is these clusters (no messages: loads clean)."""
    project.write_stack("local", {"clusters": clusters})
    try:
        project.load("local")
    except ConfigErrors as caught:
        return [str(e) for e in caught.errors]
    return []


# --- the 12-vCPU rule ---------------------------------------------------------------------------


def test_two_nodes_of_the_default_size_are_too_few_for_production(project):
    assert cluster_errors(project, {"aks-prod": {"cluster_purpose": "FastProd", "agent_count": 2}}) == [
        "modelstack:clusters.aks-prod.agent_count: system: 2 x Standard_D3_v2 (4 vCPUs) = 8 vCPUs; a production (FastProd) cluster needs at least 12\n"
        + RULE_12
        + "  Fix: use agent_count >= 3 with Standard_D3_v2 (4 vCPUs), a larger vm_size, or cluster_purpose: DevTest"
    ]


def test_the_default_purpose_is_production(project):
    assert cluster_errors(project, {"aks-prod": {"agent_count": 2}}) == [
        "modelstack:clusters.aks-prod.agent_count: system: 2 x Standard_D3_v2 (4 vCPUs) = 8 vCPUs; "
        "a production (FastProd) cluster needs at least 12\n"
        + RULE_12
        + "  Fix: use agent_count >= 3 with Standard_D3_v2 (4 vCPUs), a larger vm_size, or cluster_purpose: DevTest"
    ]


def test_azure_ml_defaults_make_exactly_twelve(project):
    assert cluster_errors(project, {"aks-prod": {}}) == [], "3 x Standard_D3_v2 = 12"


@pytest.mark.parametrize(
    "agent_count, expected", [(11, "system: 11 x Standard_D1_v2 (1 vCPUs) = 11 vCPUs"), (12, None), (13, None)]
)
def test_boundary_in_one_vcpu_steps(agent_count, expected):
    """11, 12 and 13 vCPUs, with a one-vCPU size so that every count is reachable."""
    error = production_vcpus_error("aks-prod", ClusterSpec(agent_count=agent_count, vm_size="Standard_D1_v2"))
    if expected is None:
        assert error is None
    else:
        assert str(error) == (
            f"modelstack:clusters.aks-prod.agent_count: {expected}; a production (FastProd) cluster needs at least 12\n"
            + RULE_12
            + "  Fix: use agent_count >= 12 with Standard_D1_v2 (1 vCPUs), a larger vm_size, or cluster_purpose: DevTest"
        )


@pytest.mark.parametrize(
    "clusters, count",
    [
        ({"aks-prod": {"agent_count": 2, "vm_size": "Standard_D4s_v5"}}, 1),  # 8
        ({"aks-prod": {"agent_count": 3, "vm_size": "Standard_D4s_v5"}}, 0),  # 12
        ({"aks-prod": {"agent_count": 1, "vm_size": "Standard_D16s_v5"}}, 0),  # 16
        ({"aks-prod": {"agent_count": 2, "vm_size": "Standard_F8s_v2"}}, 0),  # 16
        ({"aks-prod": {"agent_count": 1, "vm_size": "Standard_NC6s_v3"}}, 1),  # 6
    ],
)
def test_other_sizes_count_their_own_vcpus(project, clusters, count):
    assert len(cluster_errors(project, clusters)) == count


def test_one_vcpu_nodes_break_the_system_pool_minimum_as_well(project):
    assert cluster_errors(project, {"aks-prod": {"agent_count": 11, "vm_size": "Standard_D1_v2"}}) == [
        "modelstack:clusters.aks-prod.vm_size: vm_size Standard_D1_v2 has 1 vCPUs and 3.5 GiB of memory\n"
        "  Rule: an AKS system node pool needs at least 2 vCPUs and 4 GiB of memory per node\n"
        "  Fix: use a vm_size with 2 or more vCPUs and 4 GiB or more, e.g. Standard_D2s_v5",
        "modelstack:clusters.aks-prod.agent_count: system: 11 x Standard_D1_v2 (1 vCPUs) = 11 vCPUs; "
        "a production (FastProd) cluster needs at least 12\n"
        + RULE_12
        + "  Fix: use agent_count >= 12 with Standard_D1_v2 (1 vCPUs), a larger vm_size, or cluster_purpose: DevTest",
    ]


def test_devtest_may_be_smaller(project):
    assert (
        cluster_errors(
            project, {"aks-dev": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D2s_v5"}}
        )
        == []
    )


def test_an_autoscaled_cluster_is_judged_by_its_minimum(project):
    clusters = {
        "aks-prod": {"agent_count": 3, "autoscale_enabled": True, "autoscale_min_nodes": 2, "autoscale_max_nodes": 6}
    }
    assert cluster_errors(project, clusters) == [
        "modelstack:clusters.aks-prod.autoscale_min_nodes: system: at least 2 x Standard_D3_v2 (4 vCPUs) = 8 vCPUs; "
        "a production (FastProd) cluster needs at least 12\n"
        + RULE_12
        + "  Fix: use autoscale_min_nodes >= 3 with Standard_D3_v2 (4 vCPUs), a larger vm_size, or cluster_purpose: DevTest"
    ]
    clusters["aks-prod"]["autoscale_min_nodes"] = 3
    assert cluster_errors(project, clusters) == []


# --- sizes --------------------------------------------------------------------------------------


def test_unknown_vm_size_suggests_the_nearest_known_names(project):
    assert cluster_errors(project, {"aks-prod": {"vm_size": "Standard_D3_v3"}}) == [
        "modelstack:clusters.aks-prod.vm_size: vm_size 'Standard_D3_v3' is not in modelstack's VM-size catalogue\n"
        "  Rule: vm_size is an Azure VM size listed in components/config/data/vm_sizes.yaml, which gives the vCPUs the 12-vCPU rule counts\n"
        "  Fix: did you mean Standard_D3_v2, Standard_D32s_v3 or Standard_DS3_v2? If 'Standard_D3_v3' is a real Azure size, "
        "add it to components/config/data/vm_sizes.yaml (the file's header says how)"
    ]


# --- attach -------------------------------------------------------------------------------------

CLUSTER_ID = "/subscriptions/0000/resourceGroups/rg-ml/providers/Microsoft.ContainerService/managedClusters/aks-shared"


def test_attach_with_both_forms_is_refused(project):
    attach = {"resource_group": "rg-ml", "cluster_name": "aks-shared", "resource_id": CLUSTER_ID}
    assert cluster_errors(project, {"aks-prod": {"attach": attach}}) == [
        "modelstack:clusters.aks-prod.attach: names the cluster twice\n"
        "  Rule: attach uses resource_group + cluster_name, or resource_id, not both\n"
        "  Fix: keep resource_id, or keep resource_group + cluster_name"
    ]


def test_attach_with_half_a_name_is_refused(project):
    assert cluster_errors(project, {"aks-prod": {"attach": {"resource_group": "rg-ml"}}}) == [
        "modelstack:clusters.aks-prod.attach: does not say which cluster\n"
        "  Rule: attach needs resource_group and cluster_name together, or a resource_id\n"
        "  Fix: set both resource_group and cluster_name, or set resource_id"
    ]


def test_attach_by_a_resource_id_that_is_not_a_cluster(project):
    assert cluster_errors(
        project, {"aks-prod": {"attach": {"resource_id": "/subscriptions/0000/resourceGroups/rg-ml"}}}
    ) == [
        "modelstack:clusters.aks-prod.attach.resource_id: resource_id '/subscriptions/0000/resourceGroups/rg-ml' is not an AKS cluster id\n"
        "  Rule: resource_id is a Microsoft.ContainerService/managedClusters resource id\n"
        "  Fix: copy the id from `az aks show --query id`"
    ]


def test_attach_with_provisioning_settings_is_refused(project):
    assert cluster_errors(
        project, {"aks-prod": {"attach": {"resource_id": CLUSTER_ID}, "agent_count": 5, "vm_size": "Standard_D4s_v5"}}
    ) == [
        "modelstack:clusters.aks-prod: attach is set together with provisioning settings: agent_count, vm_size\n"
        "  Rule: an attached cluster keeps its own node pools, Kubernetes version, network and location; "
        "only cluster_purpose, load_balancer_type, load_balancer_subnet, the SSL settings and gateway_class apply to it\n"
        "  Fix: remove agent_count, vm_size, or remove attach to create a new cluster"
    ]


@pytest.mark.parametrize(
    "attach", [{"resource_id": CLUSTER_ID}, {"resource_group": "rg-ml", "cluster_name": "aks-shared"}]
)
def test_attach_in_either_form_is_accepted(project, attach):
    assert cluster_errors(project, {"aks-prod": {"attach": attach, "cluster_purpose": "FastProd"}}) == []


# --- SSL, load balancer, vnet -----------------------------------------------------------------


def test_ssl_partly_set(project):
    assert cluster_errors(project, {"aks-prod": {"ssl_cname": "ml.example.com", "ssl_cert_pem_file": "cert.pem"}}) == [
        "modelstack:clusters.aks-prod: SSL is partly set: ssl_cname, ssl_cert_pem_file given, ssl_key_pem_file missing\n"
        "  Rule: ssl_cname, ssl_cert_pem_file, ssl_key_pem_file are all set or none\n"
        "  Fix: set ssl_key_pem_file, or remove ssl_cname, ssl_cert_pem_file",
        "modelstack:clusters.aks-prod.ssl_cert_pem_file: ssl_cert_pem_file 'cert.pem' does not exist\n"
        "  Rule: the ssl_cert_pem_file is a file inside the project (paths are relative to Pulumi.yaml's folder)\n"
        "  Fix: create cert.pem, or correct the path",
    ]


def test_ssl_with_its_files_is_accepted(project):
    (project.root / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (project.root / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    assert (
        cluster_errors(
            project,
            {
                "aks-prod": {
                    "ssl_cname": "ml.example.com",
                    "ssl_cert_pem_file": "cert.pem",
                    "ssl_key_pem_file": "key.pem",
                }
            },
        )
        == []
    )


def test_leaf_domain_label_with_an_internal_load_balancer(project):
    assert cluster_errors(
        project, {"aks-prod": {"leaf_domain_label": "diabetes", "load_balancer_type": "InternalLoadBalancer"}}
    ) == [
        "modelstack:clusters.aks-prod.leaf_domain_label: leaf_domain_label is set with an internal load balancer\n"
        "  Rule: a Microsoft-issued certificate (leaf_domain_label) needs a public load balancer\n"
        "  Fix: use ssl_cname with your own certificate, or load_balancer_type: PublicIp"
    ]


def test_leaf_domain_label_must_be_a_dns_label(project):
    assert cluster_errors(project, {"aks-prod": {"leaf_domain_label": "Diabetes.Prod"}}) == [
        "modelstack:clusters.aks-prod.leaf_domain_label: leaf_domain_label 'Diabetes.Prod' is not a valid DNS label\n"
        "  Rule: a DNS label is 3-63 lowercase letters, digits and '-', starting with a letter and not ending with '-'\n"
        "  Fix: use e.g. 'diabetes-prod'"
    ]


def test_load_balancer_subnet_with_a_public_load_balancer(project):
    assert cluster_errors(project, {"aks-prod": {"load_balancer_subnet": "aks-subnet"}}) == [
        "modelstack:clusters.aks-prod.load_balancer_subnet: load_balancer_subnet is set with a public load balancer\n"
        "  Rule: load_balancer_subnet only applies to load_balancer_type InternalLoadBalancer\n"
        "  Fix: set load_balancer_type: InternalLoadBalancer, or remove load_balancer_subnet"
    ]


VNET = {
    "vnet_resourcegroup_name": "rg-net",
    "vnet_name": "vnet-ml",
    "subnet_name": "aks",
    "service_cidr": "10.0.0.0/16",
    "dns_service_ip": "10.0.0.10",
    "docker_bridge_cidr": "172.17.0.1/16",
}


def test_vnet_partly_set(project):
    assert cluster_errors(project, {"aks-prod": {"vnet_name": "vnet-ml", "subnet_name": "aks"}}) == [
        "modelstack:clusters.aks-prod: vnet is partly set: vnet_name, subnet_name given, "
        "vnet_resourcegroup_name, service_cidr, dns_service_ip, docker_bridge_cidr missing\n"
        "  Rule: vnet_resourcegroup_name, vnet_name, subnet_name, service_cidr, dns_service_ip, docker_bridge_cidr are all set or none\n"
        "  Fix: set vnet_resourcegroup_name, service_cidr, dns_service_ip, docker_bridge_cidr, or remove vnet_name, subnet_name"
    ]


def test_complete_vnet_settings_are_accepted(project):
    assert cluster_errors(project, {"aks-prod": dict(VNET)}) == []


def test_dns_service_ip_outside_service_cidr(project):
    assert cluster_errors(project, {"aks-prod": {**VNET, "dns_service_ip": "10.1.0.10"}}) == [
        "modelstack:clusters.aks-prod.dns_service_ip: dns_service_ip 10.1.0.10 is not a usable address of service_cidr 10.0.0.0/16\n"
        "  Rule: dns_service_ip lies inside service_cidr and is not its first address (Kubernetes' own API service takes that one)\n"
        "  Fix: use e.g. 10.0.0.10"
    ]


def test_service_cidr_that_is_not_a_network(project):
    assert cluster_errors(project, {"aks-prod": {**VNET, "service_cidr": "10.0.0.1/16"}}) == [
        "modelstack:clusters.aks-prod.service_cidr: service_cidr '10.0.0.1/16' is not a network in CIDR notation\n"
        "  Rule: service_cidr is the range Kubernetes services get addresses from, e.g. 10.0.0.0/16\n"
        "  Fix: write it as <network address>/<prefix length>"
    ]


# --- autoscale, version, names ----------------------------------------------------------------


def test_autoscale_bounds_without_autoscale(project):
    assert cluster_errors(project, {"aks-prod": {"autoscale_max_nodes": 6}}) == [
        "modelstack:clusters.aks-prod: autoscale_max_nodes set while autoscale_enabled is false\n"
        "  Rule: autoscale_min_nodes and autoscale_max_nodes bound the cluster autoscaler, which runs only with autoscale_enabled: true\n"
        "  Fix: set autoscale_enabled: true, or remove autoscale_max_nodes"
    ]


def test_autoscale_without_an_upper_bound(project):
    assert cluster_errors(project, {"aks-prod": {"autoscale_enabled": True}}) == [
        "modelstack:clusters.aks-prod.autoscale_max_nodes: autoscale_enabled is true but autoscale_max_nodes is not set\n"
        "  Rule: the cluster autoscaler needs an upper bound on the node count\n"
        "  Fix: set autoscale_max_nodes (at least agent_count, 3)"
    ]


def test_agent_count_outside_the_autoscale_bounds(project):
    assert cluster_errors(
        project,
        {"aks-prod": {"agent_count": 8, "autoscale_enabled": True, "autoscale_min_nodes": 3, "autoscale_max_nodes": 6}},
    ) == [
        "modelstack:clusters.aks-prod: agent_count 8 is outside autoscale_min_nodes..autoscale_max_nodes (3..6)\n"
        "  Rule: autoscale_min_nodes <= agent_count <= autoscale_max_nodes: agent_count is the node count the cluster starts with\n"
        "  Fix: change agent_count or the bounds so that the starting count lies between them"
    ]


def test_kubernetes_version_format(project):
    assert cluster_errors(project, {"aks-prod": {"kubernetes_version": "v1.30"}}) == [
        "modelstack:clusters.aks-prod.kubernetes_version: kubernetes_version 'v1.30' is not a version\n"
        "  Rule: kubernetes_version is <major>.<minor> (AKS picks the newest patch) or <major>.<minor>.<patch>\n"
        "  Fix: write e.g. 1.30, or remove it to get AKS's default version"
    ]
    assert cluster_errors(project, {"aks-prod": {"kubernetes_version": "1.30.4"}}) == []


@pytest.mark.parametrize("name", ["1aks", "ak", "aks_prod", "a" * 25])
def test_invalid_cluster_names(project, name):
    assert cluster_errors(project, {name: {}}) == [
        f"modelstack:clusters.{name}: cluster name '{name}' is not allowed\n"
        "  Rule: compute names are 3-24 characters: letters, digits and '-', starting with a letter\n"
        "  Fix: rename the cluster"
    ]


def test_every_problem_of_a_cluster_is_reported_at_once(project):
    messages = cluster_errors(
        project,
        {
            "x": {
                "agent_count": 1,
                "vm_size": "Standard_D3_v3",
                "leaf_domain_label": "ok-label",
                "load_balancer_type": "InternalLoadBalancer",
                "ssl_cname": "a",
            }
        },
    )
    firsts = [m.splitlines()[0] for m in messages]
    assert firsts == [
        "modelstack:clusters.x: cluster name 'x' is not allowed",
        "modelstack:clusters.x: SSL is partly set: ssl_cname given, ssl_cert_pem_file, ssl_key_pem_file missing",
        "modelstack:clusters.x.leaf_domain_label: leaf_domain_label is set with an internal load balancer",
        "modelstack:clusters.x: leaf_domain_label and ssl_cname are both set",
        "modelstack:clusters.x.vm_size: vm_size 'Standard_D3_v3' is not in modelstack's VM-size catalogue",
    ]
