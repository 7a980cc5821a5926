"""Every Kubernetes object the program declares, validated offline against the schemas the API
server would use: the Kubernetes OpenAPI schemas shipped by `kubernetes-validate` (strict:
unknown fields are errors), the Gateway API CRDs' schemas for Gateway and HTTPRoute (made
strict the same way), read from the Gateway API's own release (the Go module
sigs.k8s.io/gateway-api, standard channel), and cert-manager's CRD for the ClusterIssuer a created
cluster gets, read from the cert-manager release the stack installs (the Go module
github.com/cert-manager/cert-manager); `go mod download` fetches each once into the Go module
cache. The Helm releases and the CRDs' release manifest a created cluster gets are not objects
(their inputs are asserted in tests/unit/targets/azure/test_aks_gateway.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from components.offline.evaluate import evaluate_stack
from components.targets.azure.aks_gateway import CERT_MANAGER_CHART_VERSION
from tests.conftest import require
from tests.unit.plan_helpers import SECRET, images_by_digest, revealed_inputs

GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api@v1.4.1"
CERT_MANAGER_MODULE = f"github.com/cert-manager/cert-manager@{CERT_MANAGER_CHART_VERSION}"
# kind -> (Go module, the CRD's file in it)
CRD_KINDS = {
    "Gateway": (GATEWAY_API_MODULE, "config/crd/standard/gateway.networking.k8s.io_gateways.yaml"),
    "HTTPRoute": (GATEWAY_API_MODULE, "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"),
    "ClusterIssuer": (CERT_MANAGER_MODULE, "deploy/crds/cert-manager.io_clusterissuers.yaml"),
}
# What a created cluster gets that is not a Kubernetes object: charts and a release manifest.
NOT_OBJECTS = ("kubernetes:helm.sh/v3:Release", "kubernetes:yaml/v2:ConfigFile")
# AKS's supported versions at the time of writing, and the newest the package knows.
KUBERNETES_VERSIONS = ("1.33", kubernetes_validate.utils.latest_version())
K8S_TYPE_PREFIX = "kubernetes:"
PROVIDER = "pulumi:providers:kubernetes"


def unmark(value):
    """A manifest as the API server receives it: secret markers dropped, values kept."""
    if isinstance(value, dict):
        if set(value) == {SECRET}:
            return unmark(value[SECRET])
        return {k: unmark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unmark(v) for v in value]
    return value


def _strict(schema):
    """additionalProperties: false wherever a schema lists properties and allows no others."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def module_dir(module: str) -> Path:
    """A Go module's files (a release of a Kubernetes project), from the Go module proxy."""
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        require(False, "Go is needed to fetch the CRDs (go mod download); it is on the project's machines")
    result = subprocess.run(
        [go, "mod", "download", "-json", module], capture_output=True, text=True, cwd=tempfile.gettempdir()
    )
    assert result.returncode == 0, f"go mod download {module} failed: {result.stderr or result.stdout}"
    return Path(json.loads(result.stdout)["Dir"])


@cache
def crd_schema(kind: str) -> dict:
    module, path = CRD_KINDS[kind]
    crd = yaml.safe_load((module_dir(module) / path).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = _strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}  # checked as ObjectMeta below
    return schema


def validate(manifest: dict, version: str) -> None:
    """Raises on the first schema violation."""
    if manifest["kind"] in CRD_KINDS:
        jsonschema.Draft7Validator(crd_schema(manifest["kind"])).validate(manifest)
        # the CRD schema leaves metadata to the API server: check it as ObjectMeta
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": manifest["metadata"]}, version, strict=True
        )
    else:
        kubernetes_validate.validate(manifest, version, strict=True)


def write_stacks(project) -> list[str]:
    """The example stacks plus stacks that reach the other branches (rollout, TLS, internal
    load balancer, namespaces, fixed replicas with GPU and no auth)."""
    (project.root / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (project.root / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    cluster = {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}
    # stack name -> (settings added to its cluster, settings added to its services by name)
    variants: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "rollout": (
            {},
            {
                "diabetes": {
                    "versions": [
                        {"version_name": "blue", "is_control_version_type": True, "traffic_percentile": 70},
                        {"version_name": "green", "traffic_percentile": 30, "models": ["diabetes-lasso"]},
                    ]
                }
            },
        ),
        "tls": ({"ssl_cname": "ml.example.com", "ssl_cert_pem_file": "cert.pem", "ssl_key_pem_file": "key.pem"}, {}),
        "internal": (
            {"load_balancer_type": "InternalLoadBalancer"},
            {"diabetes": {"deploy": {"namespace": "scoring"}}},
        ),
        "sized": (
            {"vm_size": "Standard_NC8as_T4_v3"},
            {
                "diabetes": {
                    "deploy": {
                        "num_replicas": 2,
                        "gpu_cores": 1,
                        "cpu_cores_limit": 1,
                        "memory_gb_limit": 2,
                        "auth_enabled": False,
                        "success_threshold": 2,
                    }
                }
            },
        ),
    }
    for name, (cluster_extra, service_extra) in variants.items():
        services = {
            s: {"target": "aks", "compute": "aks-ml", **service_extra.get(s, {})}
            for s in ("diabetes", "diabetes-multi")
        }
        project.write_stack(
            name,
            {"registry": {"kind": "acr"}, "clusters": {"aks-ml": {**cluster, **cluster_extra}}, "services": services},
        )
    return ["staging", "prod", *variants]


@pytest.fixture
def manifests(project, monkeypatch) -> list[tuple[str, str, dict]]:
    """(stack, resource name, manifest) of every Kubernetes object of every stack above."""
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    found = []
    for stack in write_stacks(project):
        seen.clear()
        _, plan = evaluate_stack(stack, project.root)
        for resource in plan.resources:
            if (
                resource.type.startswith(K8S_TYPE_PREFIX)
                and resource.type != PROVIDER
                and resource.type not in NOT_OBJECTS
            ):
                found.append((stack, resource.name, unmark(seen[resource.name])))
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_matches_the_kubernetes_schemas(manifests, version):
    kinds = set()
    for stack, name, manifest in manifests:
        try:
            validate(manifest, version)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as error:
            pytest.fail(
                f"{stack}/{name} ({manifest['kind']}) does not validate against Kubernetes {version}: {'.'.join(map(str, error.path))}: {error.message}"
            )
        kinds.add(manifest["kind"])
    assert kinds == {
        "Namespace",
        "Secret",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Gateway",
        "HTTPRoute",
        "ClusterIssuer",
    }


def test_the_validation_catches_mistakes(manifests):
    """The schemas are strict: a misspelt field or a wrong type fails, in either family."""
    deployment = next(m for _, _, m in manifests if m["kind"] == "Deployment")
    misspelt = json.loads(json.dumps(deployment))
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = misspelt["spec"]["template"]["spec"][
        "containers"
    ][0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        validate(misspelt, "1.33")
    route = next(m for _, _, m in manifests if m["kind"] == "HTTPRoute")
    wrong = json.loads(json.dumps(route))
    wrong["spec"]["rules"][-1]["backendRefs"][0]["weight"] = "ninety"
    with pytest.raises(jsonschema.ValidationError):
        validate(wrong, "1.33")
    gateway = next(m for _, _, m in manifests if m["kind"] == "Gateway")
    extra = json.loads(json.dumps(gateway))
    extra["spec"]["listeners"][0]["tlsMode"] = "Terminate"
    with pytest.raises(jsonschema.ValidationError, match="tlsMode"):
        validate(extra, "1.33")
    issuer = next(m for _, _, m in manifests if m["kind"] == "ClusterIssuer")
    misplaced = json.loads(json.dumps(issuer))
    misplaced["spec"]["acme"]["solvers"][0]["http01"]["gatewayRoute"] = misplaced["spec"]["acme"]["solvers"][0][
        "http01"
    ].pop("gatewayHTTPRoute")
    with pytest.raises(jsonschema.ValidationError, match="gatewayRoute"):
        validate(misplaced, "1.33")
