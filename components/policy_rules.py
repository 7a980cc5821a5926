"""Guardrails as plain functions: the same code runs in the CrossGuard pack (`policies/`)
and in `modelstack check` (offline, no engine), and the tests call it directly.

A rule looks at one resource (type, name, inputs) with its policy's parameters and returns a
violation message, or None. Values the engine does not know yet (a preview before the image
exists) are not judged. Every message states the rule and how to comply.

Enforcement levels and parameters are set per stack in `policies/config/<stack>.json`, in
the format of `pulumi preview --policy-pack-config`:
`{"all": "advisory", "allowed-locations": {"enforcementLevel": "mandatory", "allowed_locations": ["westeurope"]}}`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from pulumi.runtime import rpc

from .offline import UNKNOWN_PLACEHOLDER

Enforcement = Literal["mandatory", "advisory", "disabled"]
UNKNOWN_MARKERS = (UNKNOWN_PLACEHOLDER, rpc.UNKNOWN)  # as `check` prints it, as the engine sends it

WEBSERVICE = "modelstack:webservice:Webservice"
AKS_CLUSTER = "modelstack:aks:AksCluster"
LOCAL_WEBSERVICE = "pulumi-python:dynamic/modelstack:LocalWebservice"
ACR_REGISTRY = "azure-native:containerregistry:Registry"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"
K8S_DEPLOYMENT = "kubernetes:apps/v1:Deployment"
K8S_HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
# azure-native types that take tags and that modelstack creates.
TAGGABLE = (
    "azure-native:resources:ResourceGroup",
    ACR_REGISTRY,
    MANAGED_CLUSTER,
    CONTAINER_GROUP,
    "azure-native:managedidentity:UserAssignedIdentity",
)


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Policy:
    name: str  # kebab-case, as CrossGuard names policies
    description: str  # one sentence
    enforcement: Enforcement  # the default; a stack's policy config may change it
    check: Callable[[Resource, dict[str, Any]], str | None]
    parameters: dict[str, Any] = field(default_factory=dict)  # defaults, overridable per stack

    def config_schema(self) -> dict[str, Any]:
        """JSON-schema properties of the parameters, for CrossGuard's policy config."""
        return {key: {"type": _json_type(value), "default": value} | ({"items": {"type": "string"}} if isinstance(value, list) else {}) for key, value in self.parameters.items()}


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}[type(value)]


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and value in UNKNOWN_MARKERS)


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


# --- kubernetes quantities ----------------------------------------------------------------

_SUFFIXES = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


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
    """A production (FastProd) cluster has at least 12 vCPUs: agent_count x vCPUs of vm_size."""
    if resource.type != AKS_CLUSTER or resource.inputs.get("mode") != "create" or resource.inputs.get("cluster_purpose") != "FastProd":
        return None
    from .vm_sizes import find

    count, size_name = resource.inputs.get("agent_count"), resource.inputs.get("vm_size")
    size = find(str(size_name)) if _known(size_name) else None
    if not _known(count) or size is None:
        return None
    total = int(count) * size.vcpus
    minimum = int(params["min_vcpus"])
    if total >= minimum:
        return None
    return (
        f"cluster {resource.name} has {int(count)} x {size.name} ({size.vcpus} vCPUs) = {total} vCPUs; "
        f"a production (FastProd) cluster needs at least {minimum}. Add nodes, pick a larger vm_size, or set cluster_purpose: DevTest."
    )


def no_aci_in_production(resource: Resource, params: dict[str, Any]) -> str | None:
    """Production webservices run on AKS, not ACI (no autoscaling, no rolling updates on ACI)."""
    facts = resource.inputs
    if resource.type != WEBSERVICE or facts.get("target") != "aci" or facts.get("stack") not in params["production_stacks"]:
        return None
    return f"service {resource.name} targets ACI in stack {facts['stack']}; production services run on AKS. Set target: aks and compute: <cluster> for this stack."


def webservice_auth_enabled(resource: Resource, params: dict[str, Any]) -> str | None:
    """Every webservice outside local Docker requires a key or a token."""
    facts = resource.inputs
    if resource.type != WEBSERVICE or facts.get("target") in (None, "local") or facts.get("auth_enabled") is not False:
        return None
    return f"service {resource.name} ({facts['target']}) has authentication off; every non-local webservice requires a key. Set auth_enabled: true in its deploy settings (ACI defaults to false)."


def registry_admin_user_disabled(resource: Resource, params: dict[str, Any]) -> str | None:
    """Registries have their admin user disabled: pushes and pulls use Azure identities."""
    if resource.type != ACR_REGISTRY or resource.inputs.get("adminUserEnabled") is not True:
        return None
    return f"registry {resource.name} has its admin user enabled; use Azure identities (AcrPush for people and CI, AcrPull for clusters) instead. Set admin_user_enabled: false."


def _deployed_images(resource: Resource) -> list[str]:
    if resource.type == LOCAL_WEBSERVICE:
        return [resource.inputs.get("image")]
    if resource.type == K8S_DEPLOYMENT:
        pod = (((resource.inputs.get("spec") or {}).get("template") or {}).get("spec") or {})
        return [c.get("image") for c in (pod.get("containers") or []) + (pod.get("initContainers") or [])]
    if resource.type == CONTAINER_GROUP:
        return [c.get("image") for c in resource.inputs.get("containers") or [] if isinstance(c, dict)]
    return []


def images_pinned_by_digest(resource: Resource, params: dict[str, Any]) -> str | None:
    """Every deployment runs its image by digest, never by a movable tag."""
    movable = [image for image in _deployed_images(resource) if _known(image) and "@sha256:" not in str(image)]
    if not movable:
        return None
    return (
        f"{resource.name} runs {', '.join(repr(i) for i in movable)}, not pinned by digest; deployments run images by digest "
        "(repository@sha256:...) so what runs is exactly what was built and tested. Use the image output of the service (or its release pin)."
    )


def promoted_release_in_production(resource: Resource, params: dict[str, Any]) -> str | None:
    """Staging and prod run a release promoted from the stage before, not an image of their own."""
    facts = resource.inputs
    if resource.type != WEBSERVICE or facts.get("stack") not in params["release_stacks"] or facts.get("image_source") != "build":
        return None
    return f"service {resource.name} in stack {facts['stack']} builds its own image; promote the release that ran in the stage before (modelstack promote --from <stage> --to {facts['stack']})."


def _container_sizing(resource: Resource) -> list[tuple[str, Any, Any, Any, Any]]:
    """(container, cpu request, memory request, cpu limit, memory limit), comparable units."""
    if resource.type == WEBSERVICE and resource.inputs.get("target") in ("aci", "aks"):
        f = resource.inputs
        return [(resource.name, f.get("cpu_cores"), f.get("memory_gb"), f.get("cpu_cores_limit"), f.get("memory_gb_limit"))]
    if resource.type == K8S_DEPLOYMENT:
        pod = (((resource.inputs.get("spec") or {}).get("template") or {}).get("spec") or {})
        rows = []
        for c in pod.get("containers") or []:
            res = c.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            rows.append((c.get("name"), quantity(req.get("cpu")) if "cpu" in req else None, quantity(req.get("memory")) if "memory" in req else None,
                         quantity(lim.get("cpu")) if "cpu" in lim else None, quantity(lim.get("memory")) if "memory" in lim else None))
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
        if not (_known(cpu) and float(cpu) > 0) or not (_known(memory) and float(memory) > 0):
            problems.append(f"container {name} has no CPU or memory request")
        if _known(cpu_limit) and _known(cpu) and float(cpu_limit) < float(cpu):
            problems.append(f"container {name} has a CPU limit below its request")
        if _known(memory_limit) and _known(memory) and float(memory_limit) < float(memory):
            problems.append(f"container {name} has a memory limit below its request")
    if not problems:
        return None
    return f"{resource.name}: {'; '.join(problems)}. Set cpu_cores and memory_gb (> 0), and limits at or above them."


def autoscale_bounds(resource: Resource, params: dict[str, Any]) -> str | None:
    """Autoscaling keeps 1 <= min <= max <= the stack's ceiling, with a target utilisation of 1-100%."""
    ceiling = int(params["max_replicas"])
    if resource.type == WEBSERVICE and resource.inputs.get("autoscale_enabled"):
        f = resource.inputs
        low, high, target = f.get("autoscale_min_replicas"), f.get("autoscale_max_replicas"), f.get("autoscale_target_utilization")
    elif resource.type == K8S_HPA:
        spec = resource.inputs.get("spec") or {}
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
        metrics = spec.get("metrics") or []
        target = next((((m.get("resource") or {}).get("target") or {}).get("averageUtilization") for m in metrics if m.get("type") == "Resource"), None)
    else:
        return None
    if not all(_known(v) for v in (low, high)):
        return None
    problems = []
    if int(low) < 1:
        problems.append(f"min replicas {_number(low)} is below 1")
    if int(low) > int(high):
        problems.append(f"min replicas {_number(low)} is above max replicas {_number(high)}")
    if int(high) > ceiling:
        problems.append(f"max replicas {_number(high)} is above the ceiling of {ceiling}")
    if _known(target) and not 1 <= float(target) <= 100:
        problems.append(f"target utilization {_number(target)}% is outside 1-100%")
    if not problems:
        return None
    return f"{resource.name}: {'; '.join(problems)}. Keep 1 <= autoscale_min_replicas <= autoscale_max_replicas <= {ceiling} and autoscale_target_utilization within 1-100."


def tls_on_public_production_endpoints(resource: Resource, params: dict[str, Any]) -> str | None:
    """A production endpoint reachable from the internet is served over TLS."""
    f = resource.inputs
    if resource.type != WEBSERVICE or f.get("stack") not in params["production_stacks"] or f.get("target") in (None, "local"):
        return None
    if not f.get("public") or f.get("tls_enabled"):
        return None
    how = "set leaf_domain_label (a Microsoft-issued certificate) or ssl_cname with ssl_cert_pem_file and ssl_key_pem_file on its cluster" if f.get("target") == "aks" else "set ssl_enabled with ssl_cert_pem_file, ssl_key_pem_file and ssl_cname"
    return f"service {resource.name} in stack {f['stack']} is public without TLS; {how}, or put it behind an internal load balancer."


def required_tags(resource: Resource, params: dict[str, Any]) -> str | None:
    """Azure resources carry the tags the organisation requires."""
    if resource.type not in TAGGABLE:
        return None
    tags = resource.inputs.get("tags")
    if not _known(tags):
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
    if not _known(location) or location in params["allowed_locations"]:
        return None
    return f"{resource.name} is in '{location}', which is not an approved region ({', '.join(params['allowed_locations'])}); set modelstack:location (or the resource's location) to one of them."


POLICIES: tuple[Policy, ...] = (
    Policy("aks-production-min-vcpus", "A production (FastProd) AKS cluster has at least 12 vCPUs.", "mandatory", aks_production_min_vcpus, {"min_vcpus": 12}),
    Policy("no-aci-in-production", "Production webservices run on AKS, not ACI.", "mandatory", no_aci_in_production, {"production_stacks": ["prod"]}),
    Policy("webservice-auth-enabled", "Every webservice outside local Docker requires a key or a token.", "mandatory", webservice_auth_enabled),
    Policy("registry-admin-user-disabled", "Container registries have their admin user disabled.", "mandatory", registry_admin_user_disabled),
    Policy("images-pinned-by-digest", "Every deployment runs its image by digest, never by a movable tag.", "mandatory", images_pinned_by_digest),
    Policy("promoted-release-in-production", "Staging and prod run a release promoted from the stage before.", "advisory", promoted_release_in_production, {"release_stacks": ["staging", "prod"]}),
    Policy("container-resources", "Every container requests CPU and memory, with limits at or above the requests.", "mandatory", container_resources),
    Policy("autoscale-bounds", "Autoscaling bounds are sane: 1 <= min <= max <= a ceiling, target 1-100%.", "mandatory", autoscale_bounds, {"max_replicas": 100}),
    Policy("tls-on-public-production-endpoints", "Public production endpoints are served over TLS.", "mandatory", tls_on_public_production_endpoints, {"production_stacks": ["prod"]}),
    Policy("required-tags", "Azure resources carry the required tags.", "mandatory", required_tags, {"required_tags": ["environment", "managed-by"]}),
    Policy("allowed-locations", "Azure resources are created only in approved regions.", "mandatory", allowed_locations, {"allowed_locations": ["westeurope", "northeurope", "eastus", "eastus2", "westus2", "uksouth", "swedencentral"]}),
)


# --- per-stack configuration --------------------------------------------------------------


def stack_policy_config_path(project_dir: str | Path, stack: str) -> Path:
    return Path(project_dir) / "policies" / "config" / f"{stack}.json"


def load_stack_policy_config(project_dir: str | Path, stack: str) -> dict[str, Any]:
    """The stack's policy config (CrossGuard's --policy-pack-config format), or {}."""
    path = stack_policy_config_path(project_dir, stack)
    if not path.exists():
        return {}
    from .errors import ConfigError

    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}", key=f"policies/config/{path.name}", rule="a stack's policy config is JSON in the format of `pulumi preview --policy-pack-config`", fix="fix the JSON") from None


def effective(policy: Policy, config: dict[str, Any]) -> tuple[Enforcement, dict[str, Any]]:
    """A policy's enforcement level and parameters under a stack's policy config."""
    level: Enforcement = config.get("all", policy.enforcement) if isinstance(config.get("all"), str) else policy.enforcement
    params = dict(policy.parameters)
    own = config.get(policy.name)
    if isinstance(own, str):
        level = own  # type: ignore[assignment]
    elif isinstance(own, dict):
        level = own.get("enforcementLevel", level)
        params.update({k: v for k, v in own.items() if k != "enforcementLevel"})
    return level, params


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: Enforcement
    resource: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"policy": self.policy, "enforcement": self.enforcement, "resource": self.resource, "message": self.message}


def evaluate_policies(resources: list[Resource], config: dict[str, Any] | None = None, policies: tuple[Policy, ...] = POLICIES) -> list[Violation]:
    """Run every enabled policy over the resources; violations in a stable order."""
    violations = []
    settings = [(policy, *effective(policy, config or {})) for policy in policies]
    for resource in sorted(resources, key=lambda r: r.urn):
        for policy, level, params in settings:
            if level == "disabled":
                continue
            message = policy.check(resource, params)
            if message:
                violations.append(Violation(policy.name, level, resource.urn, message))
    return violations
