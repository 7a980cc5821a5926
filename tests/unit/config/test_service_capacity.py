"""The capacity check: do the services planned on a cluster fit its nodes?

Every expected figure below is worked out by hand from AKS's documented reservations
(components/config/aks_reservations.py cites them), never by the code under test:

  Standard_D2s_v5 (2 vCPUs, 8 GiB = 8192 MiB), overlay network (AKS's default 250 pods a node),
  Kubernetes 1.29 or later:
    CPU     2000m - 100m kube-reserved                             = 1900m   ("1.9" vCPUs)
    memory  8192 - min(20 x 250 + 50 = 5050, 25% of 8192 = 2048)
                 - 100 eviction                                     = 6044 MiB ("5.902" GiB)
  the same in the user's subnet (Azure CNI, 30 pods a node):
    memory  8192 - min(20 x 30 + 50 = 650, 2048) - 100              = 7442 MiB
  the same on Kubernetes 1.28:
    memory  8192 - (25% of 4096 + 20% of 4096 = 1843.2 -> 1844) - 750 = 5598 MiB

Each stack is the staging stack with one cluster (aks-staging) and the example's two services
on it; a default AKS service requests 0.1 vCPU and 0.5 GiB.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from components.config import aks_reservations, capacity
from components.config.rules import stack_warnings
from components.config.schema import ClusterSpec
from components.errors import ConfigErrors

D2S_V5 = {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D2s_v5"}
TAGS = {"environment": "staging", "cost-center": "ml-platform"}  # the policy pack requires them
VNET = {
    "vnet_resourcegroup_name": "network-rg",
    "vnet_name": "ml-vnet",
    "subnet_name": "aks",
    "service_cidr": "10.10.0.0/16",
    "dns_service_ip": "10.10.0.10",
    "docker_bridge_cidr": "172.17.0.1/16",
}


def write(project, cluster: dict, diabetes: dict, multi: dict | None = None) -> None:
    project.write_stack(
        "staging",
        {
            "tags": TAGS,
            "registry": {"kind": "acr", "sku": "Standard"},
            "clusters": {"aks-staging": cluster},
            "services": {
                "diabetes": {"target": "aks", "compute": "aks-staging", "deploy": diabetes},
                "diabetes-multi": {"target": "aks", "compute": "aks-staging", "deploy": multi or {"num_replicas": 1}},
            },
        },
    )


def outcome(project) -> tuple[list[str], list[str]]:
    """(errors, warnings) of the stack, as the messages a user reads."""
    try:
        config = project.load("staging")
    except ConfigErrors as raised:
        return [str(e) for e in raised.errors], []
    return [], [str(w) for w in stack_warnings(config)]


# --- AKS's reservations, as documented ------------------------------------------------------------


@pytest.mark.parametrize("cores, reserved", [(1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420), (64, 740)])
def test_kube_reserved_cpu_is_the_documented_table(cores, reserved):
    assert aks_reservations.reserved_cpu_millicores(cores) == reserved


@pytest.mark.parametrize("cores, reserved", [(3, 120), (6, 160), (20, 300), (48, 580), (96, 1060)])
def test_core_counts_between_documented_ones_lie_on_the_line_between_them(cores, reserved):
    assert aks_reservations.reserved_cpu_millicores(cores) == reserved


def test_the_documented_memory_examples():
    # AKS's own examples: 8 GB with 30 pods reserves 650 (+ 100 eviction); 4 GB with 70 pods
    # reserves 25% of the memory, because 20 x 70 + 50 = 1450 is more.
    assert aks_reservations.reserved_memory_mib(8192, 30, "1.30") == 750
    assert aks_reservations.reserved_memory_mib(4096, 70, None) == 1024 + 100
    # before 1.29: 25% of 4 + 20% of 4 + 10% of 6 GiB of a 14 GiB node = 2457.6 -> 2458, + 750
    assert aks_reservations.reserved_memory_mib(14336, 250, "1.28.9") == 3208
    # 2% above 128 GiB: 1024 + 819.2 + 819.2 + 6881.28 + 2% of 128 GiB (2621.44) = 12165.12 -> 12166
    assert aks_reservations.reserved_memory_mib(256 * 1024, 30, "1.27") == 12166 + 750


def test_pools_count_the_fewest_and_the_most_nodes_for_both_rules():
    spec = ClusterSpec(
        agent_count=3, vm_size="Standard_D4s_v5", autoscale_enabled=True, autoscale_min_nodes=2, autoscale_max_nodes=7
    )
    (pool,) = capacity.pools_of(spec)
    assert (pool.nodes, pool.nodes_at_most) == (2, 7)  # the 12-vCPU rule counts pool.nodes
    (fixed,) = capacity.pools_of(ClusterSpec(agent_count=3, vm_size="Standard_D4s_v5"))
    assert (fixed.nodes, fixed.nodes_at_most) == (3, 3)


# --- fits / does not fit at minimum replicas --------------------------------------------------------


def test_cpu_requests_equal_to_the_allocatable_fit(project):
    write(project, D2S_V5, {"num_replicas": 2, "cpu_cores": 0.9}, {"num_replicas": 1, "cpu_cores": 0.1})
    assert outcome(project) == ([], [])


def test_one_millicore_more_than_the_allocatable_does_not_fit(project):
    write(project, D2S_V5, {"num_replicas": 2, "cpu_cores": 0.9}, {"num_replicas": 1, "cpu_cores": 0.101})
    errors, _ = outcome(project)
    assert errors == [
        "modelstack:clusters.aks-staging.agent_count: at their minimum replicas the services on this cluster request "
        "1.901 vCPUs and 1.5 GiB (diabetes: 2 x 0.9 vCPU, 0.5 GiB; diabetes-multi: 1 x 0.101 vCPU, 0.5 GiB); "
        "its fewest nodes, 1 x Standard_D2s_v5 with 1.9 vCPUs and 5.902 GiB allocatable each (after AKS's reservations), "
        "have 1.9 vCPUs and 5.902 GiB: not enough CPU\n"
        "  Rule: the CPU and memory requests of the services on a cluster, at their minimum replicas, fit its nodes at "
        "their fewest: nodes x (vCPUs and memory of vm_size less AKS's system reservations)\n"
        "  Fix: set agent_count to at least 2, use a larger vm_size, or lower the services' cpu_cores, memory_gb or "
        "minimum replicas (autoscale_min_replicas, num_replicas)"
    ]


def test_memory_at_the_boundary(project):
    # 2 x 2.5 GiB + 924 MiB = 6044 MiB: exactly the node's allocatable memory
    write(project, D2S_V5, {"num_replicas": 2, "memory_gb": 2.5}, {"num_replicas": 1, "memory_gb": 924 / 1024})
    assert outcome(project) == ([], [])
    # 0.903 GiB is requested as 925 MiB: one MiB short
    write(project, D2S_V5, {"num_replicas": 2, "memory_gb": 2.5}, {"num_replicas": 1, "memory_gb": 0.903})
    (error,), _ = outcome(project)
    assert "request 0.3 vCPUs and 5.903 GiB" in error and error.split("\n")[0].endswith(
        "have 1.9 vCPUs and 5.902 GiB: not enough memory"
    )


def test_the_autoscale_floor_is_what_must_fit(project):
    autoscaling = {
        **D2S_V5,
        "agent_count": 2,
        "autoscale_enabled": True,
        "autoscale_min_nodes": 1,
        "autoscale_max_nodes": 3,
    }
    write(project, autoscaling, {"num_replicas": 2, "cpu_cores": 1}, {"num_replicas": 1})
    (error,), _ = outcome(project)
    assert error.startswith(
        "modelstack:clusters.aks-staging.autoscale_min_nodes: at their minimum replicas the services on this cluster request 2.1 vCPUs"
    )
    assert "its fewest nodes, 1 x Standard_D2s_v5" in error and "Fix: set autoscale_min_nodes to at least 2," in error


def test_each_rollout_version_is_a_deployment_of_its_own(project):
    versions = [
        {"version_name": "blue", "traffic_percentile": 50, "is_default": True, "is_control_version_type": True},
        {"version_name": "green", "traffic_percentile": 50},
    ]

    def write_versions(cpu_cores: float) -> None:
        project.write_stack(
            "staging",
            {
                "tags": TAGS,
                "registry": {"kind": "acr", "sku": "Standard"},
                "clusters": {"aks-staging": D2S_V5},
                "services": {
                    "diabetes": {
                        "target": "aks",
                        "compute": "aks-staging",
                        "versions": versions,
                        "deploy": {"num_replicas": 1, "cpu_cores": cpu_cores},
                    },
                    "diabetes-multi": {"target": "aks", "compute": "aks-staging", "deploy": {"num_replicas": 1}},
                },
            },
        )

    write_versions(0.9)  # 2 x 0.9 + 0.1 = 1.9
    assert outcome(project) == ([], [])
    write_versions(0.901)
    (error,), _ = outcome(project)
    assert (
        "request 1.902 vCPUs and 1.5 GiB (diabetes/blue: 1 x 0.901 vCPU, 0.5 GiB; diabetes/green: 1 x 0.901 vCPU, 0.5 GiB; diabetes-multi: 1 x 0.1 vCPU, 0.5 GiB)"
        in error
    )


def test_a_replica_larger_than_any_node_is_named_on_its_own_key(project):
    write(
        project,
        {**D2S_V5, "agent_count": 3},
        {"num_replicas": 1, "cpu_cores": 1.901},
        {"num_replicas": 1, "memory_gb": 6},
    )
    errors, _ = outcome(project)
    assert errors == [
        "modelstack:services.diabetes.deploy.cpu_cores: one replica of diabetes requests 1.901 vCPUs; a Standard_D2s_v5 node has 1.9 allocatable\n"
        "  Rule: a replica runs on one node: its cpu_cores and memory_gb fit one node's allocatable capacity (vm_size less AKS's system reservations)\n"
        "  Fix: lower cpu_cores to at most 1.9, or give cluster aks-staging a vm_size with more vCPUs",
        "modelstack:services.diabetes-multi.deploy.memory_gb: one replica of diabetes-multi requests 6 GiB; a Standard_D2s_v5 node has 5.902 GiB allocatable\n"
        "  Rule: a replica runs on one node: its cpu_cores and memory_gb fit one node's allocatable capacity (vm_size less AKS's system reservations)\n"
        "  Fix: lower memory_gb to at most 5.902, or give cluster aks-staging a vm_size with more memory",
    ]


def test_the_network_decides_the_pods_a_node_reserves_memory_for(project):
    # 2 x 2.5 GiB + 2.2 GiB (2253 MiB) = 7373 MiB: more than 6044 (overlay), less than 7442 (subnet)
    write(project, D2S_V5, {"num_replicas": 2, "memory_gb": 2.5}, {"num_replicas": 1, "memory_gb": 2.2})
    (error,), _ = outcome(project)
    assert error.split("\n")[0].endswith("not enough memory")
    write(project, {**D2S_V5, **VNET}, {"num_replicas": 2, "memory_gb": 2.5}, {"num_replicas": 1, "memory_gb": 2.2})
    assert outcome(project) == ([], [])


def test_kubernetes_before_1_29_reserves_more_memory(project):
    # 2 x 2.8 GiB (2867 MiB) + 0.1 GiB (102 MiB) = 5836 MiB: fits 6044 (1.29+), not 5598 (1.28)
    write(project, D2S_V5, {"num_replicas": 2, "memory_gb": 2.8}, {"num_replicas": 1, "memory_gb": 0.1})
    assert outcome(project) == ([], [])
    write(
        project,
        {**D2S_V5, "kubernetes_version": "1.28"},
        {"num_replicas": 2, "memory_gb": 2.8},
        {"num_replicas": 1, "memory_gb": 0.1},
    )
    (error,), _ = outcome(project)
    assert "have 1.9 vCPUs and 5.467 GiB: not enough memory" in error


def test_an_attached_cluster_is_not_judged_by_its_config(project):
    attached = {"cluster_purpose": "DevTest", "attach": {"resource_group": "ml-rg", "cluster_name": "existing-aks"}}
    write(project, attached, {"num_replicas": 40, "cpu_cores": 4})
    assert outcome(project) == ([], [])


# --- may not fit at maximum replicas: a warning -----------------------------------------------------


def test_maximum_replicas_that_fit_the_nodes_warn_of_nothing(project):
    write(
        project,
        D2S_V5,
        {"autoscale_min_replicas": 1, "autoscale_max_replicas": 2, "cpu_cores": 0.9},
        {"num_replicas": 1, "cpu_cores": 0.1},
    )
    assert outcome(project) == ([], [])


def test_maximum_replicas_beyond_a_fixed_node_count_warn(project):
    write(
        project,
        D2S_V5,
        {"autoscale_min_replicas": 1, "autoscale_max_replicas": 3, "cpu_cores": 0.9},
        {"num_replicas": 1, "cpu_cores": 0.1},
    )
    assert outcome(project) == (
        [],
        [
            "modelstack:clusters.aks-staging.agent_count: at their maximum replicas the services on this cluster request "
            "2.8 vCPUs and 2 GiB (diabetes: 3 x 0.9 vCPU, 0.5 GiB; diabetes-multi: 1 x 0.1 vCPU, 0.5 GiB); "
            "its most nodes, 1 x Standard_D2s_v5 with 1.9 vCPUs and 5.902 GiB allocatable each (after AKS's reservations), "
            "have 1.9 vCPUs and 5.902 GiB: not enough CPU\n"
            "  Rule: at their maximum replicas the services' requests fit the most nodes the cluster can have "
            "(autoscale_max_nodes, or agent_count without node autoscaling); beyond that, replicas the HPA adds stay Pending\n"
            "  Fix: let the cluster grow to 2 nodes (autoscale_enabled: true with autoscale_max_nodes: 2, or agent_count: 2), "
            "use a larger vm_size, or lower the services' autoscale_max_replicas"
        ],
    )


def test_maximum_replicas_are_judged_against_the_node_autoscalers_maximum(project):
    autoscaling = {**D2S_V5, "autoscale_enabled": True, "autoscale_min_nodes": 1, "autoscale_max_nodes": 2}
    # 4 x 0.9 + 0.1 = 3.7 vCPUs <= 2 x 1.9 = 3.8
    write(
        project,
        autoscaling,
        {"autoscale_min_replicas": 1, "autoscale_max_replicas": 4, "cpu_cores": 0.9},
        {"num_replicas": 1, "cpu_cores": 0.1},
    )
    assert outcome(project) == ([], [])
    # 5 x 0.9 + 0.1 = 4.6 vCPUs > 3.8
    write(
        project,
        autoscaling,
        {"autoscale_min_replicas": 1, "autoscale_max_replicas": 5, "cpu_cores": 0.9},
        {"num_replicas": 1, "cpu_cores": 0.1},
    )
    errors, (warning,) = outcome(project)
    assert errors == []
    assert warning.startswith(
        "modelstack:clusters.aks-staging.autoscale_max_nodes: at their maximum replicas the services on this cluster request 4.6 vCPUs"
    )
    assert (
        "its most nodes, 2 x Standard_D2s_v5 with 1.9 vCPUs" in warning
        and "have 3.8 vCPUs and 11.805 GiB: not enough CPU" in warning
    )
    assert "Fix: raise autoscale_max_nodes to 3, use a larger vm_size" in warning


def test_the_example_stacks_fit_their_clusters(project):
    for stack in ("staging", "prod"):
        config = project.load(stack)
        assert stack_warnings(config) == []


# --- what `check` shows ---------------------------------------------------------------------------


def modelstack(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        capture_output=True,
        text=True,
        cwd=project.root,
        env={"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin", "COLUMNS": "400"},
    )


def test_check_prints_a_warning_and_passes(project):
    write(
        project,
        D2S_V5,
        {"autoscale_min_replicas": 1, "autoscale_max_replicas": 3, "cpu_cores": 0.9},
        {"num_replicas": 1, "cpu_cores": 0.1},
    )
    shown = modelstack(project, "check", "--stack", "staging")
    assert shown.returncode == 0, shown.stdout[-3000:]
    assert "warning modelstack:clusters.aks-staging.agent_count: at their maximum replicas" in shown.stdout
    assert "mandatory" not in shown.stdout
    as_json = modelstack(project, "check", "--stack", "staging", "--json")
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert document["errors"] == [] and len(document["warnings"]) == 1
    assert document["warnings"][0].startswith("modelstack:clusters.aks-staging.agent_count: at their maximum replicas")


def test_check_fails_when_the_services_do_not_fit(project):
    write(project, D2S_V5, {"num_replicas": 2, "cpu_cores": 1})
    shown = modelstack(project, "check", "--stack", "staging")
    assert shown.returncode == 1
    assert (
        "modelstack:clusters.aks-staging.agent_count: at their minimum replicas the services on this cluster request 2.1 vCPUs"
        in shown.stderr
    )
    assert "Traceback" not in shown.stderr + shown.stdout
