"""The 12-vCPU rule has one home (components.config.capacity): the config rule, the CrossGuard
policy and the attach check give the same verdict on the same cluster shapes, in the same words.

Each shape is put into a copy of the prod stack. The config rule speaks through `check`'s
loader; the policy judges the ManagedCluster the program declares for it; the attach check
judges a live cluster whose agent pools are exactly that ManagedCluster's. An unknown size is
refused by all three: by the config rule as an unknown vm_size (with the nearest known names),
by the others as a rule that cannot be checked.
"""

from __future__ import annotations

import pytest
import yaml

from components.config import capacity
from components.config.schema import ClusterSpec
from components.offline.evaluate import evaluate_stack
from components.policy.settings import evaluate_policies
from components.policy.types import Resource
from components.targets.azure.aks_cluster import attached_production_error

MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
HOLDS, FAILS, REFUSED = "holds", "fails", "refused"

SHAPES = {
    # name: (cluster settings, verdict, the sentence every caller says when it fails)
    "at the boundary": ({"agent_count": 3, "vm_size": "Standard_D3_v2"}, HOLDS, None),
    "below it": (
        {"agent_count": 2, "vm_size": "Standard_D3_v2"},
        FAILS,
        "system: 2 x Standard_D3_v2 (4 vCPUs) = 8 vCPUs; a production (FastProd) cluster needs at least 12",
    ),
    "above it": ({"agent_count": 4, "vm_size": "Standard_D3_v2"}, HOLDS, None),
    "one vCPU short": (
        {"agent_count": 11, "vm_size": "Standard_D1_v2"},
        FAILS,
        "system: 11 x Standard_D1_v2 (1 vCPUs) = 11 vCPUs; a production (FastProd) cluster needs at least 12",
    ),
    "autoscale floor below": (
        {
            "agent_count": 3,
            "vm_size": "Standard_D3_v2",
            "autoscale_enabled": True,
            "autoscale_min_nodes": 2,
            "autoscale_max_nodes": 6,
        },
        FAILS,
        "system: at least 2 x Standard_D3_v2 (4 vCPUs) = 8 vCPUs; a production (FastProd) cluster needs at least 12",
    ),
    "autoscale floor at the boundary": (
        {
            "agent_count": 4,
            "vm_size": "Standard_D3_v2",
            "autoscale_enabled": True,
            "autoscale_min_nodes": 3,
            "autoscale_max_nodes": 6,
        },
        HOLDS,
        None,
    ),
    "small DevTest": ({"agent_count": 1, "vm_size": "Standard_D2s_v5", "cluster_purpose": "DevTest"}, HOLDS, None),
    "unknown size": ({"agent_count": 3, "vm_size": "Standard_Nope_v9"}, REFUSED, None),
}


def with_cluster(project, settings: dict) -> None:
    path = project.root / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["modelstack:clusters"]["aks-prod"] = {"cluster_purpose": "FastProd", **settings}
    path.write_text(yaml.safe_dump(document))


def config_verdict(errors) -> tuple[str, str | None]:
    production = [e for e in errors if e.rule == capacity.PRODUCTION_RULE]
    if production:
        return FAILS, production[0].detail
    if any("is not in modelstack's VM-size catalogue" in e.detail for e in errors):
        return REFUSED, None
    return HOLDS, None


def policy_verdict(plan) -> tuple[str, str | None]:
    resources = [Resource(r.urn, r.type, r.name, r.inputs) for r in plan.resources]
    found = [v for v in evaluate_policies(resources) if v.policy == "aks-production-min-vcpus"]
    if not found:
        return HOLDS, None
    message = found[0].message
    return (REFUSED, None) if "cannot be checked" in message else (FAILS, message)


def attach_verdict(settings: dict, profiles) -> tuple[str, str | None]:
    spec = ClusterSpec(
        attach={"resource_group": "rg", "cluster_name": "live"},
        cluster_purpose=settings.get("cluster_purpose", "FastProd"),
    )
    error = attached_production_error("aks-prod", spec, ("rg", "live"), capacity.pools_from_profiles(profiles))
    if error is None:
        return HOLDS, None
    return (REFUSED, None) if "cannot be checked" in error.detail else (FAILS, error.detail)


@pytest.mark.parametrize("shape", SHAPES)
def test_config_rule_policy_and_attach_check_agree(project, shape):
    settings, expected, sentence = SHAPES[shape]
    with_cluster(project, settings)
    errors: list = []
    _, plan = evaluate_stack("prod", project.root, rule_errors=errors)
    profiles = plan.named("aks-prod-cluster").inputs["agentPoolProfiles"]

    verdicts = {
        "config rule": config_verdict(errors),
        "policy": policy_verdict(plan),
        "attach check": attach_verdict(settings, profiles),
    }
    assert {caller: verdict for caller, (verdict, _) in verdicts.items()} == dict.fromkeys(verdicts, expected)
    if expected == FAILS:
        config_text, policy_text, attach_text = (text for _, text in verdicts.values())
        assert config_text == sentence
        assert (
            policy_text
            == f"cluster aks-prod-cluster: {sentence}. Add nodes, pick a larger vm_size, or set cluster_purpose: DevTest."
        )
        assert attach_text == f"attached cluster rg/live: {sentence}"


def test_the_minimum_is_the_policys_parameter_and_the_rules_default():
    pools = [capacity.NodePool("system", "Standard_D3_v2", 3)]
    assert capacity.production_vcpus(pools, "FastProd").holds
    assert not capacity.production_vcpus(pools, "FastProd", minimum=13).holds
    assert capacity.production_vcpus([], "DevTest").holds


def test_pools_count_linux_nodes_at_their_floor():
    pools = capacity.pools_from_profiles(
        [
            {"name": "a", "count": 3, "vmSize": "standard_d3_v2"},
            {
                "name": "b",
                "count": 4,
                "vmSize": "Standard_D2s_v5",
                "enableAutoScaling": True,
                "minCount": 2,
                "maxCount": 5,
            },
            {"name": "w", "count": 9, "vmSize": "Standard_D8s_v5", "osType": "Windows"},
        ]
    )
    assert pools[1] == capacity.NodePool(name="b", vm_size="Standard_D2s_v5", nodes=2, autoscaling=True, most_nodes=5)
    count = capacity.count_vcpus(pools)
    assert (count.vcpus, count.described, count.unknown_sizes) == (
        16,
        ("a: 3 x Standard_D3_v2 (4 vCPUs)", "b: at least 2 x Standard_D2s_v5 (2 vCPUs)"),
        (),
    )


def test_control_plane_tiers_read_back_as_purposes():
    assert {tier: capacity.purpose_of_tier(tier) for tier in ("Standard", "Free", "Premium")} == {
        "Standard": "FastProd",
        "Free": "DevTest",
        "Premium": None,
    }
