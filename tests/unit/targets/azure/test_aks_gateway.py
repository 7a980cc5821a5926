"""A created AKS cluster comes up with its Gateway API implementation (and, for a leaf_domain_label,
cert-manager and its ClusterIssuer) declared by the stack; an attached cluster brings its own.

Under the mock runtime: the exact inputs of the CRDs' release manifest, the Traefik and
cert-manager Helm releases and the ClusterIssuer, what the front end's Gateway waits for, and the
config rules of `gateway_class`. cert-manager's values are also checked against the chart's own
values schema from the release the stack installs (the Go module github.com/cert-manager/cert-manager,
fetched once with `go mod download`); the ClusterIssuer's schema is test_k8s_manifests.py's.
"""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml

from components.config.cluster_rules import check_cluster
from components.config.schema import ClusterSpec
from components.offline import evaluate as offline
from components.offline.evaluate import evaluate_stack
from components.targets.azure import mocks as azure_mocks
from tests.unit.plan_helpers import revealed_inputs
from tests.unit.targets.azure.test_azure_components import CLUSTER_ID, live_cluster_with
from tests.unit.targets.kubernetes.test_k8s_manifests import CERT_MANAGER_MODULE, module_dir

CRDS = "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.4.1/standard-install.yaml"
DNS_LABEL = "service.beta.kubernetes.io/azure-dns-label-name"
RELEASE = "kubernetes:helm.sh/v3:Release"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"


def traefik(replicas: int, annotations: dict[str, str]) -> dict:
    pdb = {"enabled": True, "maxUnavailable": 1} if replicas > 1 else {"enabled": False}
    return {
        "chart": "traefik",
        "compat": "true",  # the provider's own default input
        "createNamespace": True,
        "name": "modelstack-traefik",
        "namespace": "modelstack-gateway",
        "repositoryOpts": {"repo": "https://traefik.github.io/charts"},
        "values": {
            "deployment": {"replicas": replicas},
            "gateway": {"enabled": False},
            "gatewayClass": {"enabled": True, "name": "modelstack"},
            "image": {"tag": "v3.6.12"},
            "podDisruptionBudget": pdb,
            "providers": {
                "kubernetesCRD": {"enabled": False},
                "kubernetesGateway": {"enabled": True},
                "kubernetesIngress": {"enabled": False},
            },
            "service": {"annotations": annotations},
        },
        "version": "39.0.5",
    }


def test_prod_cluster_gets_traefik_cert_manager_and_the_issuer(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    _, plan = evaluate_stack("prod", project.root)
    assert seen["aks-prod-gateway-api-crds"] == {"file": CRDS}
    assert seen["aks-prod-traefik"] == traefik(2, {DNS_LABEL: "modelstack-prod"})
    assert seen["aks-prod-cert-manager"] == {
        "chart": "cert-manager",
        "compat": "true",
        "createNamespace": True,
        "name": "cert-manager",
        "namespace": "cert-manager",
        "repositoryOpts": {"repo": "https://charts.jetstack.io"},
        "values": {
            "config": {
                "apiVersion": "controller.config.cert-manager.io/v1alpha1",
                "enableGatewayAPI": True,
                "kind": "ControllerConfiguration",
            },
            "crds": {"enabled": True},
        },
        "version": "v1.19.1",
    }
    assert seen["aks-prod-letsencrypt"] == {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"labels": {"app.kubernetes.io/managed-by": "modelstack"}, "name": "letsencrypt"},
        "spec": {
            "acme": {
                "privateKeySecretRef": {"name": "modelstack-letsencrypt-account"},
                "server": "https://acme-v02.api.letsencrypt.org/directory",
                "solvers": [
                    {
                        "http01": {
                            "gatewayHTTPRoute": {
                                "parentRefs": [
                                    {
                                        "kind": "Gateway",
                                        "name": "modelstack",
                                        "namespace": "modelstack-prod",
                                        "sectionName": "http",
                                    }
                                ]
                            }
                        }
                    }
                ],
            }
        },
    }
    # The Gateway names the issuer and the class, so it waits for both; Traefik waits for the CRDs.
    urn = {r.name: r.urn for r in plan.resources}
    assert {urn["aks-prod-traefik"], urn["aks-prod-letsencrypt"]} <= set(
        plan.named("aks-prod-frontend-gateway").options["dependencies"]
    )
    assert urn["aks-prod-gateway-api-crds"] in plan.named("aks-prod-traefik").options["dependencies"]
    assert urn["aks-prod-cert-manager"] in plan.named("aks-prod-letsencrypt").options["dependencies"]
    # All of it under the cluster's component.
    for name in ("aks-prod-gateway-api-crds", "aks-prod-traefik", "aks-prod-cert-manager", "aks-prod-letsencrypt"):
        assert plan.named(name).parent == plan.named("aks-prod").urn, name


def test_a_plain_http_devtest_cluster_gets_one_traefik_and_no_cert_manager(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    _, plan = evaluate_stack("staging", project.root)
    assert seen["aks-staging-gateway-api-crds"] == {"file": CRDS}
    assert seen["aks-staging-traefik"] == traefik(1, {})
    assert [r.name for r in plan.by_type(RELEASE)] == ["aks-staging-traefik"]
    assert not plan.by_type(ISSUER)
    gateway = seen["aks-staging-frontend-gateway"]
    assert (
        gateway["spec"]["gatewayClassName"] == "modelstack"
        and "cert-manager.io/cluster-issuer" not in gateway["metadata"]["annotations"]
    )


def test_the_clusters_own_certificate_needs_no_cert_manager(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    (project.root / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (project.root / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    project.write_stack(
        "tls",
        {
            "registry": {"kind": "acr"},
            "clusters": {
                "aks-ml": {
                    "cluster_purpose": "DevTest",
                    "agent_count": 1,
                    "vm_size": "Standard_D4s_v5",
                    "ssl_cname": "ml.example.com",
                    "ssl_cert_pem_file": "cert.pem",
                    "ssl_key_pem_file": "key.pem",
                }
            },
            "services": {"diabetes": {"target": "aks", "compute": "aks-ml"}, "diabetes-multi": None},
        },
    )
    _, plan = evaluate_stack("tls", project.root)
    assert [r.name for r in plan.by_type(RELEASE)] == ["aks-ml-traefik"] and not plan.by_type(ISSUER)
    assert seen["aks-ml-traefik"] == traefik(1, {})
    assert [
        (listener["name"], listener["port"]) for listener in seen["aks-ml-frontend-gateway"]["spec"]["listeners"]
    ] == [("https", 8443)]


def attached_plan(project, monkeypatch, **cluster):
    """A stack whose one aks service runs on an attached cluster (live: 3 x Standard_D4s_v5)."""
    live_cluster_with(
        monkeypatch, [{"name": "pool", "count": 3, "vmSize": "Standard_D4s_v5", "osType": "Linux", "mode": "System"}]
    )
    project.write_stack(
        "attached",
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-ml": {"attach": {"resource_id": CLUSTER_ID}, **cluster}},
            "services": {"diabetes": {"target": "aks", "compute": "aks-ml"}, "diabetes-multi": None},
        },
    )
    return evaluate_stack("attached", project.root)[1]


def test_an_attached_cluster_brings_its_own_implementation(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    plan = attached_plan(project, monkeypatch, load_balancer_type="InternalLoadBalancer")
    assert not plan.by_type(RELEASE) and not plan.by_type(CONFIG_FILE) and not plan.by_type(ISSUER)
    spec = seen["aks-ml-frontend-gateway"]["spec"]
    assert spec["gatewayClassName"] == "approuting-istio"
    assert [(listener["name"], listener["port"]) for listener in spec["listeners"]] == [("http", 80)]
    # Its implementation makes the load balancer, so the settings go on the Gateway.
    assert spec["infrastructure"] == {
        "annotations": {
            "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
            "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "aks-subnet",
        }
    }


def test_an_attached_cluster_names_its_class(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    attached_plan(project, monkeypatch, gateway_class="istio")
    assert seen["aks-ml-frontend-gateway"]["spec"]["gatewayClassName"] == "istio"
    assert seen["aks-ml-frontend"]["gateway_class"] == "istio"


def test_gateway_class_rules():
    created = ClusterSpec(cluster_purpose="DevTest", agent_count=1, vm_size="Standard_D4s_v5", gateway_class="istio")
    assert [str(e) for e in check_cluster("aks-ml", created)] == [
        "modelstack:clusters.aks-ml.gateway_class: gateway_class is set on a cluster the stack creates\n"
        "  Rule: a cluster the stack creates gets its Gateway API implementation from the stack (Traefik, class modelstack); gateway_class names an attached cluster's own\n"
        "  Fix: remove gateway_class, or attach the cluster that has that implementation"
    ]
    attached = ClusterSpec(attach={"resource_id": CLUSTER_ID}, gateway_class="Istio Gateway")
    assert [str(e) for e in check_cluster("aks-ml", attached)] == [
        "modelstack:clusters.aks-ml.gateway_class: gateway_class 'Istio Gateway' is not a Kubernetes object name\n"
        "  Rule: a GatewayClass name is lowercase letters, digits, '-' and '.'\n"
        "  Fix: copy the name from `kubectl get gatewayclass`"
    ]
    assert (
        check_cluster("aks-ml", ClusterSpec(attach={"resource_id": CLUSTER_ID}, gateway_class="approuting-istio")) == []
    )


# --- cert-manager's values, against the chart of the release the stack installs -----------------------


def _merged(defaults: dict, values: dict) -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        merged[key] = (
            _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


@pytest.fixture(scope="module")
def cert_manager_chart():
    chart = module_dir(CERT_MANAGER_MODULE) / "deploy" / "charts" / "cert-manager"
    return yaml.safe_load((chart / "values.yaml").read_text()), json.loads((chart / "values.schema.json").read_text())


def test_cert_manager_values_fit_its_chart(project, monkeypatch, cert_manager_chart):
    seen = revealed_inputs(monkeypatch)
    evaluate_stack("prod", project.root)
    defaults, schema = cert_manager_chart
    values = seen["aks-prod-cert-manager"]["values"]
    jsonschema.Draft7Validator(schema).validate(_merged(defaults, values))
    # The schema is strict where the stack writes: a misspelt key fails.
    with pytest.raises(jsonschema.ValidationError, match="installCrds|crd"):
        jsonschema.Draft7Validator(schema).validate(
            _merged(defaults, {**values, "crds": {"enable": True}, "installCrds": True})
        )
    # `config` is the controller's ControllerConfiguration, which the chart leaves open: its
    # field is checked against the release's own type.
    types = (
        module_dir(CERT_MANAGER_MODULE) / "pkg" / "apis" / "config" / "controller" / "v1alpha1" / "types.go"
    ).read_text()
    assert 'json:"enableGatewayAPI,omitempty"' in types
    assert "type ControllerConfiguration struct" in types


def test_an_attached_clusters_kubeconfig_is_asked_of_azure_for_its_prerequisites(project, monkeypatch):
    """Under the engine the program asks Azure for an attached cluster's user kubeconfig before it
    declares anything (program.main hands this to the prerequisites check, which
    tests/cluster/test_kubernetes_target.py runs against a real cluster)."""
    import yaml

    from components.offline.evaluate import evaluate
    from components.targets.azure.aks_cluster import attached_kubeconfig

    asked = []
    original = azure_mocks.MOCK_CALLS["azure-native:containerservice:listManagedClusterUserCredentials"]

    def credentials(args):
        asked.append(dict(args.args))
        return original(args)

    monkeypatch.setitem(
        offline.MOCK_CALLS, "azure-native:containerservice:listManagedClusterUserCredentials", credentials
    )
    project.write_stack("attached", {"registry": {"kind": "acr"}})
    got = {}

    def program(_):
        got["kubeconfig"] = attached_kubeconfig("aks-ml", ClusterSpec(attach={"resource_id": CLUSTER_ID}))

    evaluate(project.load("attached"), program)
    assert asked == [{"resourceGroupName": "rg-ml", "resourceName": "aks-shared"}]
    document = yaml.safe_load(got["kubeconfig"])
    assert document["clusters"][0]["cluster"]["server"] == "https://aks-shared.hcp.mock.azmk8s.io:443"


def test_which_front_ends_get_their_certificate_from_acme():
    from components.targets.azure.aks_cluster import certificate_from_acme

    assert certificate_from_acme(ClusterSpec(leaf_domain_label="mlsvc"), "westeurope")
    assert not certificate_from_acme(ClusterSpec(), "westeurope"), "plain HTTP"
    assert not certificate_from_acme(
        ClusterSpec(ssl_cname="ml.example.com", ssl_cert_pem_file="c.pem", ssl_key_pem_file="k.pem"), "westeurope"
    ), "the cluster's own"
    assert not certificate_from_acme(
        ClusterSpec(leaf_domain_label="mlsvc", load_balancer_type="InternalLoadBalancer"), "westeurope"
    ), "no public name"
    assert certificate_from_acme(ClusterSpec(attach={"resource_id": CLUSTER_ID}, leaf_domain_label="mlsvc"), "any")
