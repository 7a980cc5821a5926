"""Smoke test of the real cluster: pods from a locally built image, a Service per Deployment, a
Gateway of Traefik's GatewayClass and an HTTPRoute that splits traffic 80/20 between the two
Services, measured from 127.0.0.1 through the Gateway."""

from __future__ import annotations

import collections
import time

import pytest
import requests
from kubernetes import client
from kubernetes.client.exceptions import ApiException

GATEWAY_GROUP, GATEWAY_VERSION = "gateway.networking.k8s.io", "v1"
REQUESTS = 200
TIMEOUT_S = 180


def wait(what: str, check, timeout: float = TIMEOUT_S, every: float = 1.0):
    """Poll check() until it returns something truthy (bounded); the last value otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (ApiException, requests.RequestException) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def deployment(name: str, image: str, replicas: int, labels: dict[str, str]) -> client.V1Deployment:
    container = client.V1Container(
        name="server",
        image=image,
        image_pull_policy="Never",  # loaded with scripts/cluster.sh load-image; nothing can be pulled
        command=["/testserver"],
        env=[client.V1EnvVar(name="NAME", value=name), client.V1EnvVar(name="PORT", value="8080")],
        ports=[client.V1ContainerPort(container_port=8080, name="http")],
        readiness_probe=client.V1Probe(
            http_get=client.V1HTTPGetAction(path="/healthz", port=8080), period_seconds=1, failure_threshold=3
        ),
        resources=client.V1ResourceRequirements(
            requests={"cpu": "50m", "memory": "16Mi"}, limits={"cpu": "500m", "memory": "64Mi"}
        ),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[container], termination_grace_period_seconds=2, automount_service_account_token=False
                ),
            ),
        ),
    )


def service(name: str, labels: dict[str, str]) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1ServiceSpec(
            selector=labels, ports=[client.V1ServicePort(name="http", port=80, target_port=8080)]
        ),
    )


def condition(obj: dict, kind: str) -> str | None:
    """Status of the condition `kind` of an object (status.conditions) or of a route's parent entry (conditions)."""
    conditions = obj["conditions"] if "conditions" in obj else obj.get("status", {}).get("conditions")
    for cond in conditions or []:
        if cond.get("type") == kind:
            return cond.get("status")
    return None


@pytest.fixture(scope="module")
def split_app(kube, namespace, server_image, cluster):
    """Deployments a (2 replicas) and b (1 replica), a Service each, a Gateway and an 80/20 HTTPRoute."""
    for name, replicas in (("web-a", 2), ("web-b", 1)):
        labels = {"app": name}
        kube.apps.create_namespaced_deployment(namespace, deployment(name, server_image, replicas, labels))
        kube.core.create_namespaced_service(namespace, service(name, labels))
    gateway = {
        "apiVersion": f"{GATEWAY_GROUP}/{GATEWAY_VERSION}",
        "kind": "Gateway",
        "metadata": {"name": "web"},
        "spec": {
            "gatewayClassName": cluster.gateway_class,
            # Traefik maps a listener to its entry point of the same port (127.0.0.1:GATEWAY_PORT)
            "listeners": [
                {
                    "name": "http",
                    "protocol": "HTTP",
                    "port": cluster.gateway_port,
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                }
            ],
        },
    }
    route = {
        "apiVersion": f"{GATEWAY_GROUP}/{GATEWAY_VERSION}",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"name": "web"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "web-a", "port": 80, "weight": 80},
                        {"name": "web-b", "port": 80, "weight": 20},
                    ]
                }
            ],
        },
    }
    kube.custom.create_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "gateways", gateway)
    kube.custom.create_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", route)

    for name, replicas in (("web-a", 2), ("web-b", 1)):
        wait(
            f"deployment {name} available with {replicas} ready pods",
            lambda name=name, replicas=replicas: (
                (kube.apps.read_namespaced_deployment(name, namespace).status.ready_replicas or 0) == replicas
            ),
        )
    wait(
        "Gateway web Programmed",
        lambda: (
            condition(
                kube.custom.get_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "gateways", "web"),
                "Programmed",
            )
            == "True"
        ),
    )

    def route_accepted():
        obj = kube.custom.get_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", "web")
        parents = obj.get("status", {}).get("parents", [])
        return parents and all(
            condition(p, "Accepted") == "True" and condition(p, "ResolvedRefs") == "True" for p in parents
        )

    wait("HTTPRoute web Accepted with resolved backends", route_accepted)
    url = f"http://127.0.0.1:{cluster.gateway_port}/"
    session = requests.Session()
    # Traefik applies a new configuration shortly after the status: until then the port answers 404
    wait(
        "the route answering through the Gateway",
        lambda: session.get(url, timeout=5).status_code == 200,
        timeout=60,
        every=0.5,
    )
    yield session, url
    session.close()
    # everything above lives in the test run's namespace, which the `namespace` fixture deletes;
    # delete the objects here too so that a failure in the namespace deletion shows which one stayed
    kube.custom.delete_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", "web")
    kube.custom.delete_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "gateways", "web")
    for name in ("web-a", "web-b"):
        kube.core.delete_namespaced_service(name, namespace)
        kube.apps.delete_namespaced_deployment(name, namespace)


def test_node_is_ready_at_the_built_version(kube, cluster):
    nodes = kube.core.list_node().items
    assert [n.metadata.name for n in nodes] == [cluster.state["NODE_NAME"]]
    node = nodes[0]
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    assert node.status.node_info.kubelet_version == cluster.state["KUBE_VERSION"]


def test_weighted_route_splits_80_20(split_app, kube, namespace):
    session, url = split_app
    backends: collections.Counter[str] = collections.Counter()
    pods: collections.Counter[str] = collections.Counter()
    began = time.monotonic()
    for _ in range(REQUESTS):
        response = session.get(url, timeout=5)
        assert response.status_code == 200, response.text
        name, pod = response.text.split()
        backends[name] += 1
        pods[pod] += 1
    elapsed = time.monotonic() - began
    # Traefik's weighted round robin is deterministic (earliest-deadline-first over the weights):
    # weights 80/20 give 4 picks of web-a to 1 of web-b in every 5, so any 200 consecutive
    # requests of one client are exactly 160/40. A configuration reload of Traefik during the run
    # (it reloads when pod endpoints or statuses change) restarts the sequence, which moves the
    # count by at most one request per reload; 2 allows for two reloads and nothing else.
    assert abs(backends["web-a"] - 160) <= 2 and backends["web-a"] + backends["web-b"] == REQUESTS, (backends, elapsed)
    # web-a's two replicas both serve (Traefik balances a Service's endpoints round robin)
    a_pods = {p for p in pods if p.startswith("web-a-")}
    assert len(a_pods) == 2, pods
    print(f"{REQUESTS} requests through the Gateway in {elapsed:.2f} s: {dict(backends)}, per pod {dict(pods)}")


def test_cluster_ip_service_reaches_pods(split_app, kube, namespace, server_image):
    """kube-proxy: a pod reaches another Deployment's pods through the Service's ClusterIP."""
    cluster_ip = kube.core.read_namespaced_service("web-b", namespace).spec.cluster_ip
    session, url = split_app
    answers: collections.Counter[str] = collections.Counter()
    for _ in range(10):
        response = session.get(f"{url}fetch", params={"url": f"http://{cluster_ip}:80/"}, timeout=10)
        assert response.status_code == 200, response.text
        answers[response.text.split()[-2]] += 1  # "<caller> <caller pod> -> <name> <pod>"
    assert set(answers) == {"web-b"}, answers
