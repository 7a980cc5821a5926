"""Guardrails as plain functions: the same code runs in the CrossGuard pack (`policies/`)
and in `modelstack check` (offline, no engine), and the tests call it directly.

A rule looks at one resource (type, name, inputs) with its policy's parameters and returns a
violation message, or None. Values the engine does not know yet (a preview before the image
exists) are not judged. Every message states the rule and how to comply.

Per-stack levels and parameters, and the evaluation over a plan: `components.policy.settings`.
"""

from __future__ import annotations

import re
from typing import Any

from components.config import capacity
from components.config.vm_sizes import CATALOGUE_PATH_FOR_PEOPLE
from components.errors import number_text
from components.plan_values import is_known
from components.policy.types import Policy, Resource
from components.resource_types import ACR_REGISTRY, CONTAINER_GROUP, K8S_DEPLOYMENT, MANAGED_CLUSTER
from components.targets import registry
from components.targets.base import Target

WEBSERVICE = "modelstack:webservice:Webservice"
LOCAL_WEBSERVICE = "pulumi-python:dynamic/modelstack:LocalWebservice"
K8S_HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
# azure-native types that take tags and that modelstack creates.
TAGGABLE = (
    "azure-native:resources:ResourceGroup",
    ACR_REGISTRY,
    MANAGED_CLUSTER,
    CONTAINER_GROUP,
    "azure-native:managedidentity:UserAssignedIdentity",
    *(resource_type for target in registry.all_targets() for resource_type in target.tagged_types),
)


# --- kubernetes quantities ----------------------------------------------------------------

_SUFFIXES = {
    "m": 1e-3,
    "": 1,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(value: Any) -> float | None:
    """'500m' -> 0.5, '1Gi' -> 1073741824.0, 2 -> 2.0; None for what is not a quantity."""
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(value))
    if not match or match.group(2) not in _SUFFIXES:
        return None
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


# --- the rules ------------------------------------------------------------------------------


def aks_production_min_vcpus(resource: Resource, params: dict[str, Any]) -> str | None:
    """A production (FastProd) cluster has at least 12 vCPUs over its node pools, each at its
    fewest nodes (components.config.capacity decides it, as for the config rule and attach)."""
    if resource.type != MANAGED_CLUSTER:
        return None
    profiles, tier = resource.inputs.get("agentPoolProfiles"), (resource.inputs.get("sku") or {}).get("tier")
    if not is_known(profiles) or not is_known(tier) or not all(isinstance(p, dict) for p in profiles):
        return None
    verdict = capacity.production_vcpus(
        capacity.pools_from_profiles(profiles), capacity.purpose_of_tier(tier), minimum=int(params["min_vcpus"])
    )
    if verdict.holds:
        return None
    remedy = (
        f"Add the size to {CATALOGUE_PATH_FOR_PEOPLE} with its vCPUs, or set cluster_purpose: DevTest."
        if verdict.undecided
        else "Add nodes, pick a larger vm_size, or set cluster_purpose: DevTest."
    )
    return f"cluster {resource.name}: {verdict.problem}. {remedy}"


def _target(facts: dict[str, Any]) -> Target | None:
    """The service's target, when its facts name a known one."""
    name = facts.get("target")
    return registry.target(name) if registry.known(name) else None


def no_aci_in_production(resource: Resource, params: dict[str, Any]) -> str | None:
    """Production webservices run on a target fit for production: not ACI (no autoscaling, no
    rolling updates), which the registry marks as such."""
    facts = resource.inputs
    target = _target(facts)
    if (
        resource.type != WEBSERVICE
        or target is None
        or target.production_grade
        or facts.get("stack") not in params["production_stacks"]
    ):
        return None
    return f"service {resource.name} targets {target.title} in stack {facts['stack']}; production services run on AKS. Set target: aks and compute: <cluster> for this stack."


def webservice_auth_enabled(resource: Resource, params: dict[str, Any]) -> str | None:
    """Every webservice outside local Docker requires a key or a token."""
    facts = resource.inputs
    target = _target(facts)
    if (
        resource.type != WEBSERVICE
        or target is None
        or not target.authenticates
        or facts.get("auth_enabled") is not False
    ):
        return None
    return f"service {resource.name} ({facts['target']}) has authentication off; every non-local webservice requires a key. Set auth_enabled: true in its deploy settings (ACI defaults to false)."


def registry_admin_user_disabled(resource: Resource, params: dict[str, Any]) -> str | None:
    """Registries have their admin user disabled: pushes and pulls use Azure identities."""
    if resource.type != ACR_REGISTRY or resource.inputs.get("adminUserEnabled") is not True:
        return None
    return f"registry {resource.name} has its admin user enabled; use Azure identities (AcrPush for people and CI, AcrPull for clusters) instead. Set admin_user_enabled: false."


def _deployed_images(resource: Resource) -> list[Any]:
    """The images as the inputs give them: possibly missing or unknown (components.plan_values)."""
    if resource.type == LOCAL_WEBSERVICE:
        return [resource.inputs.get("image")]
    if resource.type == K8S_DEPLOYMENT:
        pod = ((resource.inputs.get("spec") or {}).get("template") or {}).get("spec") or {}
        return [c.get("image") for c in (pod.get("containers") or []) + (pod.get("initContainers") or [])]
    if resource.type == CONTAINER_GROUP:
        return [c.get("image") for c in resource.inputs.get("containers") or [] if isinstance(c, dict)]
    return [
        image for target in registry.all_targets() for image in target.deployed_images(resource.type, resource.inputs)
    ]


def images_pinned_by_digest(resource: Resource, params: dict[str, Any]) -> str | None:
    """Every deployment runs its image by digest, never by a movable tag."""
    movable = [image for image in _deployed_images(resource) if is_known(image) and "@sha256:" not in str(image)]
    if not movable:
        return None
    return (
        f"{resource.name} runs {', '.join(repr(i) for i in movable)}, not pinned by digest; deployments run images by digest "
        "(repository@sha256:...) so what runs is exactly what was built and tested. Use the image output of the service (or its release pin)."
    )


def promoted_release_in_production(resource: Resource, params: dict[str, Any]) -> str | None:
    """Staging and prod run a release promoted from the stage before, not an image of their own."""
    facts = resource.inputs
    if (
        resource.type != WEBSERVICE
        or facts.get("stack") not in params["release_stacks"]
        or facts.get("image_source") != "build"
    ):
        return None
    return f"service {resource.name} in stack {facts['stack']} builds its own image; promote the release that ran in the stage before (modelstack promote --from <stage> --to {facts['stack']})."


def _container_sizing(resource: Resource) -> list[tuple[str, Any, Any, Any, Any]]:
    """(container, cpu request, memory request, cpu limit, memory limit), comparable units."""
    if resource.type == WEBSERVICE and "cpu_cores" in resource.inputs:  # a target that sizes its containers
        f = resource.inputs
        return [
            (resource.name, f.get("cpu_cores"), f.get("memory_gb"), f.get("cpu_cores_limit"), f.get("memory_gb_limit"))
        ]
    if resource.type == K8S_DEPLOYMENT:
        pod = ((resource.inputs.get("spec") or {}).get("template") or {}).get("spec") or {}
        rows = []
        for c in pod.get("containers") or []:
            res = c.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            rows.append(
                (
                    c.get("name"),
                    quantity(req.get("cpu")) if "cpu" in req else None,
                    quantity(req.get("memory")) if "memory" in req else None,
                    quantity(lim.get("cpu")) if "cpu" in lim else None,
                    quantity(lim.get("memory")) if "memory" in lim else None,
                )
            )
        return rows
    if resource.type == CONTAINER_GROUP:
        rows = []
        for c in resource.inputs.get("containers") or []:
            if not isinstance(c, dict):
                continue
            res = c.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            rows.append((c.get("name"), req.get("cpu"), req.get("memoryInGB"), lim.get("cpu"), lim.get("memoryInGB")))
        return rows
    return []


def container_resources(resource: Resource, params: dict[str, Any]) -> str | None:
    """Every container requests CPU and memory, and its limits (where set) are at least the requests."""
    problems = []
    for name, cpu, memory, cpu_limit, memory_limit in _container_sizing(resource):
        if not (is_known(cpu) and float(cpu) > 0) or not (is_known(memory) and float(memory) > 0):
            problems.append(f"container {name} has no CPU or memory request")
        if is_known(cpu_limit) and is_known(cpu) and float(cpu_limit) < float(cpu):
            problems.append(f"container {name} has a CPU limit below its request")
        if is_known(memory_limit) and is_known(memory) and float(memory_limit) < float(memory):
            problems.append(f"container {name} has a memory limit below its request")
    if not problems:
        return None
    return f"{resource.name}: {'; '.join(problems)}. Set cpu_cores and memory_gb (> 0), and limits at or above them."


def autoscale_bounds(resource: Resource, params: dict[str, Any]) -> str | None:
    """Autoscaling keeps 1 <= min <= max <= the stack's ceiling, with a target utilisation of 1-100%."""
    ceiling = int(params["max_replicas"])
    if resource.type == WEBSERVICE and resource.inputs.get("autoscale_enabled"):
        f = resource.inputs
        low, high, target = (
            f.get("autoscale_min_replicas"),
            f.get("autoscale_max_replicas"),
            f.get("autoscale_target_utilization"),
        )
    elif resource.type == K8S_HPA:
        spec = resource.inputs.get("spec") or {}
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
        metrics = spec.get("metrics") or []
        target = next(
            (
                ((m.get("resource") or {}).get("target") or {}).get("averageUtilization")
                for m in metrics
                if m.get("type") == "Resource"
            ),
            None,
        )
    else:
        return None
    if not (is_known(low) and is_known(high)):
        return None
    problems = []
    if int(low) < 1:
        problems.append(f"min replicas {number_text(low)} is below 1")
    if int(low) > int(high):
        problems.append(f"min replicas {number_text(low)} is above max replicas {number_text(high)}")
    if int(high) > ceiling:
        problems.append(f"max replicas {number_text(high)} is above the ceiling of {ceiling}")
    if is_known(target) and not 1 <= float(target) <= 100:
        problems.append(f"target utilization {number_text(target)}% is outside 1-100%")
    if not problems:
        return None
    return f"{resource.name}: {'; '.join(problems)}. Keep 1 <= autoscale_min_replicas <= autoscale_max_replicas <= {ceiling} and autoscale_target_utilization within 1-100."


def tls_on_public_production_endpoints(resource: Resource, params: dict[str, Any]) -> str | None:
    """A production endpoint reachable from the internet is served over TLS."""
    f = resource.inputs
    target = _target(f)
    if (
        resource.type != WEBSERVICE
        or f.get("stack") not in params["production_stacks"]
        or target is None
        or not target.authenticates
    ):
        return None
    if not f.get("public") or f.get("tls_enabled"):
        return None
    return f"service {resource.name} in stack {f['stack']} is public without TLS; {target.tls_fix}, or put it behind an internal load balancer."


def required_tags(resource: Resource, params: dict[str, Any]) -> str | None:
    """Azure resources carry the tags the organisation requires."""
    if resource.type not in TAGGABLE:
        return None
    tags = resource.inputs.get("tags")
    if not is_known(tags):
        return None
    missing = [t for t in params["required_tags"] if t not in (tags or {})]
    if not missing:
        return None
    return f"{resource.name} lacks the required tag(s) {', '.join(missing)}; add them under modelstack:tags in the stack file (they are merged onto every resource)."


def allowed_locations(resource: Resource, params: dict[str, Any]) -> str | None:
    """Azure resources are created only in approved regions."""
    if not resource.type.startswith("azure-native:"):
        return None
    location = resource.inputs.get("location")
    if not is_known(location) or location in params["allowed_locations"]:
        return None
    return f"{resource.name} is in '{location}', which is not an approved region ({', '.join(params['allowed_locations'])}); set modelstack:location (or the resource's location) to one of them."


CORE_POLICIES: tuple[Policy, ...] = (
    Policy(
        "aks-production-min-vcpus",
        "A production (FastProd) AKS cluster has at least 12 vCPUs.",
        "mandatory",
        aks_production_min_vcpus,
        {"min_vcpus": 12},
    ),
    Policy(
        "no-aci-in-production",
        "Production webservices run on AKS, not ACI.",
        "mandatory",
        no_aci_in_production,
        {"production_stacks": ["prod"]},
    ),
    Policy(
        "webservice-auth-enabled",
        "Every webservice outside local Docker requires a key or a token.",
        "mandatory",
        webservice_auth_enabled,
    ),
    Policy(
        "registry-admin-user-disabled",
        "Container registries have their admin user disabled.",
        "mandatory",
        registry_admin_user_disabled,
    ),
    Policy(
        "images-pinned-by-digest",
        "Every deployment runs its image by digest, never by a movable tag.",
        "mandatory",
        images_pinned_by_digest,
    ),
    Policy(
        "promoted-release-in-production",
        "Staging and prod run a release promoted from the stage before.",
        "advisory",
        promoted_release_in_production,
        {"release_stacks": ["staging", "prod"]},
    ),
    Policy(
        "container-resources",
        "Every container requests CPU and memory, with limits at or above the requests.",
        "mandatory",
        container_resources,
    ),
    Policy(
        "autoscale-bounds",
        "Autoscaling bounds are sane: 1 <= min <= max <= a ceiling, target 1-100%.",
        "mandatory",
        autoscale_bounds,
        {"max_replicas": 100},
    ),
    Policy(
        "tls-on-public-production-endpoints",
        "Public production endpoints are served over TLS.",
        "mandatory",
        tls_on_public_production_endpoints,
        {"production_stacks": ["prod"]},
    ),
    Policy(
        "required-tags",
        "Azure resources carry the required tags.",
        "mandatory",
        required_tags,
        {"required_tags": ["environment", "managed-by"]},
    ),
    Policy(
        "allowed-locations",
        "Azure resources are created only in approved regions.",
        "mandatory",
        allowed_locations,
        {
            "allowed_locations": [
                "westeurope",
                "northeurope",
                "eastus",
                "eastus2",
                "westus2",
                "uksouth",
                "swedencentral",
            ]
        },
    ),
)
# Every policy: the core ones, then each target's own (the resources only that target declares).
POLICIES: tuple[Policy, ...] = CORE_POLICIES + tuple(
    policy for target in registry.all_targets() for policy in target.policies
)
