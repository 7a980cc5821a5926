"""Every guardrail called directly, passing and failing, with its message pinned; per-stack
configuration; and a mutated prod stack failing `check` with each violation named."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from components.policy import rules
from components.policy.rules import POLICIES
from components.policy.settings import effective, evaluate_policies, load_stack_policy_config
from components.policy.types import Resource

PARAMS = {policy.name: dict(policy.parameters) for policy in POLICIES}


def web(name="diabetes", **facts) -> Resource:
    base = {
        "stack": "prod",
        "target": "aks",
        "auth_enabled": True,
        "public": True,
        "tls_enabled": True,
        "image_source": "release",
        "cpu_cores": 0.5,
        "memory_gb": 1,
    }
    return Resource(f"urn:{name}", rules.WEBSERVICE, name, {**base, **facts})


def run(policy: str, resource: Resource, **params):
    check = next(p.check for p in POLICIES if p.name == policy)
    return check(resource, {**PARAMS[policy], **params})


def test_aks_production_min_vcpus():
    def cluster(pools, tier="Standard"):
        return Resource(
            "urn:c",
            rules.MANAGED_CLUSTER,
            "aks-prod-cluster",
            {"agentPoolProfiles": pools, "sku": {"name": "Base", "tier": tier}},
        )

    def pool(count, size, **more):
        return {"name": "system", "count": count, "vmSize": size, "osType": "Linux", **more}

    assert run("aks-production-min-vcpus", cluster([pool(3, "Standard_D3_v2")])) is None
    assert run("aks-production-min-vcpus", cluster([pool(2, "Standard_D2_v2")], tier="Free")) is None, (
        "DevTest clusters may be smaller"
    )
    assert run("aks-production-min-vcpus", cluster([pool(2, "Standard_D2_v2")])) == (
        "cluster aks-prod-cluster: system: 2 x Standard_D2_v2 (2 vCPUs) = 4 vCPUs; a production (FastProd) cluster needs at least 12. "
        "Add nodes, pick a larger vm_size, or set cluster_purpose: DevTest."
    )
    assert run(
        "aks-production-min-vcpus", cluster([pool(6, "Standard_D3_v2", enableAutoScaling=True, minCount=2)])
    ) == (
        "cluster aks-prod-cluster: system: at least 2 x Standard_D3_v2 (4 vCPUs) = 8 vCPUs; a production (FastProd) cluster needs at least 12. "
        "Add nodes, pick a larger vm_size, or set cluster_purpose: DevTest."
    ), "an autoscaled pool counts at its minimum"
    assert run("aks-production-min-vcpus", cluster([pool(3, "Standard_Nope_v9")])) == (
        "cluster aks-prod-cluster: the 12-vCPU rule cannot be checked: pool(s) system: Standard_Nope_v9 use sizes the VM-size catalogue "
        "(components/config/data/vm_sizes.yaml) does not know. Add the size to components/config/data/vm_sizes.yaml with its vCPUs, "
        "or set cluster_purpose: DevTest."
    ), "an unknown size is not passed silently"
    assert run("aks-production-min-vcpus", cluster("[computed]")) is None, (
        "values a preview does not know yet are not judged"
    )


def test_no_aci_in_production():
    assert run("no-aci-in-production", web(target="aci", stack="dev")) is None
    assert run("no-aci-in-production", web(target="aks")) is None
    assert (
        run("no-aci-in-production", web(target="aci"))
        == "service diabetes targets ACI in stack prod; production services run on AKS. Set target: aks and compute: <cluster> for this stack."
    )


def test_webservice_auth_enabled():
    assert run("webservice-auth-enabled", web()) is None
    assert run("webservice-auth-enabled", web(target="local", auth_enabled=False)) is None
    assert run("webservice-auth-enabled", web(target="aci", auth_enabled=False)) == (
        "service diabetes (aci) has authentication off; every non-local webservice requires a key. Set auth_enabled: true in its deploy settings (ACI defaults to false)."
    )


def test_registry_admin_user_disabled():
    def registry(enabled):
        return Resource("urn:r", rules.ACR_REGISTRY, "registry-acr", {"adminUserEnabled": enabled})

    assert run("registry-admin-user-disabled", registry(False)) is None
    assert run("registry-admin-user-disabled", registry(True)) == (
        "registry registry-acr has its admin user enabled; use Azure identities (AcrPush for people and CI, AcrPull for clusters) instead. Set admin_user_enabled: false."
    )


def test_images_pinned_by_digest_in_every_kind_of_deployment():
    digest = "r.azurecr.io/diabetes@sha256:" + "a" * 64

    def deployment(image):
        return Resource(
            "urn:d",
            rules.K8S_DEPLOYMENT,
            "diabetes-deployment",
            {"spec": {"template": {"spec": {"containers": [{"name": "scoring", "image": image}]}}}},
        )

    def group(image):
        return Resource(
            "urn:g", rules.CONTAINER_GROUP, "diabetes-aci", {"containers": [{"name": "scoring", "image": image}]}
        )

    def local(image):
        return Resource("urn:l", rules.LOCAL_WEBSERVICE, "diabetes-local", {"image": image})

    for make in (deployment, group, local):
        assert run("images-pinned-by-digest", make(digest)) is None
        assert run("images-pinned-by-digest", make("[computed]")) is None, "unknown values are not judged"
    assert run("images-pinned-by-digest", deployment("r.azurecr.io/diabetes:latest")) == (
        "diabetes-deployment runs 'r.azurecr.io/diabetes:latest', not pinned by digest; deployments run images by digest "
        "(repository@sha256:...) so what runs is exactly what was built and tested. Use the image output of the service (or its release pin)."
    )


def test_promoted_release_in_production():
    assert run("promoted-release-in-production", web(image_source="release")) is None
    assert run("promoted-release-in-production", web(stack="dev", image_source="build")) is None
    assert run("promoted-release-in-production", web(stack="staging", image_source="build")) == (
        "service diabetes in stack staging builds its own image; promote the release that ran in the stage before (modelstack promote --from <stage> --to staging)."
    )


def test_container_resources():
    assert run("container-resources", web()) is None
    assert (
        run("container-resources", web(cpu_cores_limit=0.25))
        == "diabetes: container diabetes has a CPU limit below its request. Set cpu_cores and memory_gb (> 0), and limits at or above them."
    )
    bare = Resource(
        "urn:d",
        rules.K8S_DEPLOYMENT,
        "diabetes-deployment",
        {"spec": {"template": {"spec": {"containers": [{"name": "scoring", "image": "x"}]}}}},
    )
    assert (
        run("container-resources", bare)
        == "diabetes-deployment: container scoring has no CPU or memory request. Set cpu_cores and memory_gb (> 0), and limits at or above them."
    )
    sized = Resource(
        "urn:d",
        rules.K8S_DEPLOYMENT,
        "diabetes-deployment",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "scoring",
                                "resources": {
                                    "requests": {"cpu": "500m", "memory": "1Gi"},
                                    "limits": {"cpu": "1", "memory": "512Mi"},
                                },
                            }
                        ]
                    }
                }
            }
        },
    )
    assert (
        run("container-resources", sized)
        == "diabetes-deployment: container scoring has a memory limit below its request. Set cpu_cores and memory_gb (> 0), and limits at or above them."
    )
    group = Resource(
        "urn:g",
        rules.CONTAINER_GROUP,
        "diabetes-aci",
        {"containers": [{"name": "scoring", "resources": {"requests": {"cpu": 0.5, "memoryInGB": 1}}}]},
    )
    assert run("container-resources", group) is None


def test_autoscale_bounds():
    def scaled(low, high, target=70):
        return web(
            autoscale_enabled=True,
            autoscale_min_replicas=low,
            autoscale_max_replicas=high,
            autoscale_target_utilization=target,
        )

    assert run("autoscale-bounds", scaled(1, 10)) is None
    assert run("autoscale-bounds", scaled(5, 2)) == (
        "diabetes: min replicas 5 is above max replicas 2. Keep 1 <= autoscale_min_replicas <= autoscale_max_replicas <= 100 and autoscale_target_utilization within 1-100."
    )
    assert run("autoscale-bounds", scaled(1, 500), max_replicas=50).startswith(
        "diabetes: max replicas 500 is above the ceiling of 50."
    )
    hpa = Resource(
        "urn:h",
        rules.K8S_HPA,
        "diabetes-hpa",
        {
            "spec": {
                "minReplicas": 0,
                "maxReplicas": 3,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 170}},
                    }
                ],
            }
        },
    )
    assert run("autoscale-bounds", hpa).startswith(
        "diabetes-hpa: min replicas 0 is below 1; target utilization 170% is outside 1-100%."
    )


def test_tls_on_public_production_endpoints():
    assert run("tls-on-public-production-endpoints", web()) is None
    assert run("tls-on-public-production-endpoints", web(tls_enabled=False, public=False)) is None
    assert run("tls-on-public-production-endpoints", web(tls_enabled=False, stack="staging")) is None
    assert run("tls-on-public-production-endpoints", web(tls_enabled=False)) == (
        "service diabetes in stack prod is public without TLS; set leaf_domain_label (a Microsoft-issued certificate) or ssl_cname with "
        "ssl_cert_pem_file and ssl_key_pem_file on its cluster, or put it behind an internal load balancer."
    )


def test_required_tags():
    def group(tags):
        return Resource("urn:rg", "azure-native:resources:ResourceGroup", "resource-group", {"tags": tags})

    assert run("required-tags", group({"environment": "prod", "managed-by": "modelstack"})) is None
    assert run("required-tags", group({"environment": "prod"}), required_tags=["environment", "cost-center"]) == (
        "resource-group lacks the required tag(s) cost-center; add them under modelstack:tags in the stack file (they are merged onto every resource)."
    )


def test_allowed_locations():
    def group(location):
        return Resource("urn:rg", "azure-native:resources:ResourceGroup", "resource-group", {"location": location})

    assert run("allowed-locations", group("westeurope")) is None
    assert run("allowed-locations", group("brazilsouth"), allowed_locations=["westeurope"]) == (
        "resource-group is in 'brazilsouth', which is not an approved region (westeurope); set modelstack:location (or the resource's location) to one of them."
    )


def test_policies_are_kebab_case_with_one_sentence():
    for policy in POLICIES:
        assert policy.name == policy.name.lower() and " " not in policy.name
        assert policy.description.endswith(".") and ". " not in policy.description


def test_stack_config_sets_levels_and_parameters():
    policy = next(p for p in POLICIES if p.name == "allowed-locations")
    assert effective(policy, {}) == (
        "mandatory",
        {"allowed_locations": PARAMS["allowed-locations"]["allowed_locations"]},
    )
    assert effective(policy, {"all": "advisory"})[0] == "advisory"
    assert effective(policy, {"allowed-locations": {"enforcementLevel": "disabled", "allowed_locations": ["x"]}}) == (
        "disabled",
        {"allowed_locations": ["x"]},
    )
    violations = evaluate_policies(
        [web(target="aci", auth_enabled=False)],
        {"webservice-auth-enabled": "advisory", "no-aci-in-production": "disabled"},
    )
    assert [(v.policy, v.enforcement) for v in violations] == [("webservice-auth-enabled", "advisory")]


def test_mutated_prod_stack_fails_check_with_each_violation_named(project):
    import shutil

    from tests.conftest import REPO

    shutil.copytree(REPO / "policies", project.root / "policies")
    path = project.root / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    config = document["config"]
    config["modelstack:clusters"]["aks-prod"] = {
        "cluster_purpose": "FastProd",
        "agent_count": 2,
        "vm_size": "Standard_D2_v2",
    }
    config["modelstack:services"]["diabetes"] = {"target": "aci", "deploy": {"auth_enabled": True}}
    config["modelstack:services"]["diabetes-multi"]["deploy"]["auth_enabled"] = False
    path.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        [sys.executable, "-m", "components.commands.cli", "check", "--stack", "prod", "--json"],
        capture_output=True,
        text=True,
        cwd=project.root,
        env={"MODELSTACK_PROJECT_DIR": str(project.root), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    mandatory = sorted(
        (v["policy"], v["resource"].rsplit("::", 1)[-1])
        for v in report["violations"]
        if v["enforcement"] == "mandatory"
    )
    assert mandatory == [
        ("aks-production-min-vcpus", "aks-prod-cluster"),
        ("no-aci-in-production", "diabetes"),
        ("tls-on-public-production-endpoints", "diabetes"),
        ("tls-on-public-production-endpoints", "diabetes-multi"),  # the replaced cluster has no leaf_domain_label
        ("webservice-auth-enabled", "diabetes-multi"),
    ]
    assert report["errors"] == [
        "modelstack:clusters.aks-prod.agent_count: system: 2 x Standard_D2_v2 (2 vCPUs) = 4 vCPUs; a production (FastProd) cluster needs at least 12\n"
        "  Rule: a production cluster (cluster_purpose FastProd, the default) has at least 12 vCPUs: nodes x vCPUs of vm_size; DevTest clusters may be smaller\n"
        "  Fix: use agent_count >= 6 with Standard_D2_v2 (2 vCPUs), a larger vm_size, or cluster_purpose: DevTest"
    ]


@pytest.mark.parametrize("stack", ["local", "dev", "staging", "prod"])
def test_example_stacks_have_no_mandatory_violation(project, stack):
    from components.offline.evaluate import evaluate_stack
    from tests.conftest import REPO

    _, plan = evaluate_stack(stack, project.root)
    config = load_stack_policy_config(REPO, stack)
    violations = evaluate_policies([Resource(r.urn, r.type, r.name, r.inputs) for r in plan.resources], config)
    assert [v for v in violations if v.enforcement == "mandatory"] == []
