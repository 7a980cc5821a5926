"""`target: kubernetes` under the mock runtime: the same Kubernetes objects as the AKS target for
the same service (one code path), on a provider named by kubeconfig and context, with the gateway
class and port the config gives; and the rules of modelstack:kubernetes_clusters."""

from __future__ import annotations

import pytest

from components.errors import ConfigErrors
from components.offline.evaluate import evaluate_stack
from components.targets.kubernetes.frontend import service_base_uri
from components.targets.kubernetes.mocks import MOCK_GATEWAY_ADDRESS
from tests.unit.plan_helpers import SECRET, images_by_digest, revealed_inputs

KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"


def write_kube_stack(project, cluster: dict | None = None, deploy: dict | None = None) -> None:
    (project.root / "kube.yaml").write_text(KUBECONFIG)
    project.write_stack(
        "kube",
        {
            "registry": {"kind": "local"},
            "kubernetes_clusters": {
                "testcluster": cluster
                if cluster is not None
                else {
                    "kubeconfig_file": "kube.yaml",
                    "context": "kind-ml",
                    "gateway_class": "traefik",
                    "http_port": 8000,
                }
            },
            "services": {
                "diabetes": {
                    "target": "kubernetes",
                    "compute": "testcluster",
                    "deploy": deploy or {"num_replicas": 2, "cpu_cores": 0.5},
                },
                "diabetes-multi": None,
            },
        },
    )


def kubernetes_objects(seen: dict) -> dict[str, dict]:
    return {name: inputs for name, inputs in seen.items() if "apiVersion" in inputs}


def test_the_objects_are_the_aks_targets(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    images_by_digest(monkeypatch)
    project.write_stack(
        "aksparity",
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-ml": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}},
            "services": {
                "diabetes": {"target": "aks", "compute": "aks-ml", "deploy": {"num_replicas": 2, "cpu_cores": 0.5}},
                "diabetes-multi": None,
            },
        },
    )
    evaluate_stack("aksparity", project.root)
    on_aks = kubernetes_objects(seen)
    seen.clear()
    write_kube_stack(project)
    evaluate_stack("kube", project.root)
    on_kube = kubernetes_objects(seen)
    gateways = {"aks-ml-frontend-gateway", "testcluster-frontend-gateway"}
    namespaces = {"aks-ml-frontend-namespace-modelstack-aksparity", "testcluster-frontend-namespace-modelstack-kube"}

    def normalised(objects: dict[str, dict]) -> dict[str, str]:
        text = {name: repr(inputs) for name, inputs in objects.items() if name not in gateways | namespaces}
        return {
            name: t.replace("modelstack-aksparity", "NS").replace("modelstack-kube", "NS") for name, t in text.items()
        }

    aks, kube = normalised(on_aks), normalised(on_kube)
    assert (
        sorted(aks)
        == sorted(kube)
        == ["diabetes-deployment", "diabetes-keys", "diabetes-pdb", "diabetes-route", "diabetes-service"]
    )
    for name in ("diabetes-keys", "diabetes-pdb", "diabetes-route", "diabetes-service"):
        assert aks[name] == kube[name], name
    # The Deployments differ in their image's registry only (the stack's ACR, or its local registry).
    aks_deployment, kube_deployment = on_aks["diabetes-deployment"], on_kube["diabetes-deployment"]
    aks_image = aks_deployment["spec"]["template"]["spec"]["containers"][0].pop("image")
    kube_image = kube_deployment["spec"]["template"]["spec"]["containers"][0].pop("image")
    assert normalised({"d": aks_deployment}) == normalised({"d": kube_deployment})
    assert aks_image.split("/", 1)[1] == kube_image.split("/", 1)[1] and kube_image.startswith("localhost:5050/")


def test_the_provider_the_gateway_class_and_port_come_from_the_config(project, monkeypatch):
    seen = revealed_inputs(monkeypatch)
    write_kube_stack(project)
    _, plan = evaluate_stack("kube", project.root)
    assert seen["testcluster-k8s"] == {"context": "kind-ml", "kubeconfig": {SECRET: KUBECONFIG}}
    assert plan.named("testcluster-k8s").inputs["kubeconfig"] == "[secret]"
    gateway = seen["testcluster-frontend-gateway"]["spec"]
    assert gateway["gatewayClassName"] == "traefik"
    assert [(listener["name"], listener["port"], listener["protocol"]) for listener in gateway["listeners"]] == [
        ("http", 8000, "HTTP")
    ]
    assert "infrastructure" not in gateway, "no Azure load balancer settings on another cluster"
    assert not [r for r in plan.resources if r.type.startswith("azure-native:")], "nothing of Azure"
    # The URIs the stack reports carry the Gateway's port: they are the ones that answer.
    service = plan.outputs["services"]["diabetes"]
    assert service["scoring_uri"] == f"http://{MOCK_GATEWAY_ADDRESS}:8000/api/v1/service/diabetes/score"
    assert service["swagger_uri"] == f"http://{MOCK_GATEWAY_ADDRESS}:8000/api/v1/service/diabetes/swagger.json"


@pytest.mark.parametrize(
    "scheme, port, expected",
    [
        ("http", 80, "http://gw.example/api/v1/service/s"),
        ("http", 16480, "http://gw.example:16480/api/v1/service/s"),
        ("https", 443, "https://gw.example/api/v1/service/s"),
        ("https", 80, "https://gw.example:80/api/v1/service/s"),
        ("http", 443, "http://gw.example:443/api/v1/service/s"),
    ],
)
def test_the_port_is_written_unless_it_is_the_schemes_default(scheme, port, expected):
    assert service_base_uri(scheme, "gw.example", port, "s") == expected


@pytest.mark.parametrize(
    "cluster, key, detail",
    [
        (
            {"kubeconfig_file": "kube.yaml"},
            "modelstack:kubernetes_clusters.testcluster.gateway_class",
            "gateway_class is not set",
        ),
        (
            {"gateway_class": "traefik"},
            "modelstack:kubernetes_clusters.testcluster",
            "does not say how to reach the cluster",
        ),
        (
            {"kubeconfig_file": "nowhere.yaml", "gateway_class": "traefik"},
            "modelstack:kubernetes_clusters.testcluster.kubeconfig_file",
            "kubeconfig_file 'nowhere.yaml' does not exist",
        ),
        (
            {"kubeconfig_file": "kube.yaml", "gateway_class": "Traefik_Class"},
            "modelstack:kubernetes_clusters.testcluster.gateway_class",
            "gateway_class 'Traefik_Class' is not a Kubernetes object name",
        ),
        (
            {"kubeconfig_file": "kube.yaml", "gateway_class": "traefik", "hostname": "http://ml.example.com"},
            "modelstack:kubernetes_clusters.testcluster.hostname",
            "hostname 'http://ml.example.com' is not a host name",
        ),
    ],
    ids=["no class", "no kubeconfig", "missing file", "bad class", "bad hostname"],
)
def test_cluster_settings_that_cannot_work_are_refused(project, cluster, key, detail):
    write_kube_stack(project, cluster)
    with pytest.raises(ConfigErrors) as caught:
        project.load("kube")
    assert [(e.key, e.detail) for e in caught.value.errors] == [(key, detail)]


def test_a_plain_text_kubeconfig_is_refused(project):
    write_kube_stack(project, {"kubeconfig": KUBECONFIG, "gateway_class": "traefik"})
    with pytest.raises(ConfigErrors) as caught:
        project.load("kube")
    assert [e.key for e in caught.value.errors] == ["modelstack:kubernetes_clusters.testcluster.kubeconfig"]


def test_compute_must_name_a_kubernetes_cluster(project):
    write_kube_stack(project)
    project.write_stack(
        "kube",
        {
            "registry": {"kind": "local"},
            "kubernetes_clusters": {"testcluster": {"kubeconfig_file": "kube.yaml", "gateway_class": "traefik"}},
            "services": {"diabetes": {"target": "kubernetes", "compute": "testclustr"}, "diabetes-multi": None},
        },
    )
    with pytest.raises(ConfigErrors) as caught:
        project.load("kube")
    assert [str(e) for e in caught.value.errors] == [
        "modelstack:services.diabetes.compute: compute 'testclustr' is not a cluster of this stack\n"
        "  Rule: compute names a cluster declared under modelstack:kubernetes_clusters\n"
        "  Fix: did you mean 'testcluster'?"
    ]


def test_app_insights_is_refused_off_azure(project):
    write_kube_stack(project, deploy={"enable_app_insights": True})
    with pytest.raises(ConfigErrors) as caught:
        project.load("kube")
    assert [e.detail for e in caught.value.errors] == ["enable_app_insights on target kubernetes"]
