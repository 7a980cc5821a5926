"""The AKS webservices of the example `staging` stack, served on the real test cluster.

What is applied is exactly what the program registers for staging: every `kubernetes:*` resource
(Namespace, the keys' Secrets, Deployments, Services, PodDisruptionBudgets, the Gateway and the
HTTPRoutes; staging declares no HPA: its services have a fixed replica count) taken from the
program under the mock runtime with its secrets revealed, applied with server-side apply through
the `kubernetes` client in the program's dependency order (tests/cluster/program_objects.py).

Changed from what the program registers, and only this (program_objects.adapt_to_cluster):
- the Deployments' image: each ServiceImage resolves (through the mock table) to the image the
  project's builder built from that service's build context, loaded into the cluster's containerd
  with `scripts/cluster.sh load-image` (there is no ACR here);
- the Gateway's HTTP listener port: GATEWAY_PORT instead of 8000 (the web entry point of the
  Traefik a created AKS cluster gets from the stack), because Traefik binds a listener to its entry
  point of the same port, and the test cluster's entry point listens on 127.0.0.1:GATEWAY_PORT.
The gateway class is the program's own: the test cluster's Traefik has the class `modelstack`, as
the stack's Traefik on a created AKS cluster does. What the stack declares for the cluster itself
(Gateway API CRDs, Traefik's Helm release) the test cluster has already.

The Deployments and Services are waited for as `up` waits for them: by the program's own
KubernetesRollout wait (their pulumi-kubernetes await is skipped), run with the inputs the program
registers. Not shown here (pulumi-kubernetes' await logic for the Gateway and the HTTPRoute, which
cannot run on these machines): the tests poll for the Gateway Programmed and the route Accepted.

Traffic goes only to 127.0.0.1:GATEWAY_PORT, every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import time

import joblib
import numpy as np
import pytest
import requests

from components.targets.kubernetes.frontend import service_path
from components.targets.kubernetes.rollout import KubernetesRolloutProvider
from components.targets.states import deployment_state, service_state
from tests.cluster import program_objects as po
from tests.cluster.test_gateway import GATEWAY_GROUP, GATEWAY_VERSION, condition, wait
from tests.provider_results import outputs_of

STACK = "staging"
SERVICE = "diabetes"
SERVICES = ("diabetes", "diabetes-multi")
READY_TIMEOUT_S = 240
SAMPLES = [
    json.loads(line)
    for line in (po.REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[:5]
]
ROTATION_TIMEOUT_S = 180


def _objects_of(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.fixture(scope="module")
def staging(cluster, kube, docker_client, trained_example):
    """The staging stack's Kubernetes objects applied, the example service Ready behind the Gateway."""
    began = time.monotonic()
    images = po.build_service_images(docker_client, STACK, po.REPO, list(SERVICES))
    try:
        assert set(images) == set(po.service_image_tags(STACK, po.REPO).values()), (
            "the built tags are the ServiceImages' tags"
        )
        for reference in images.values():
            po.load_image(reference)
        yield from _applied(cluster, kube, images, began)
    finally:
        po.unload_images(cluster, docker_client, images.values())


def _applied(cluster, kube, images, began):
    registered = po.program_objects(STACK, po.REPO, images)
    objects = po.adapt_to_cluster(registered, cluster.gateway_class, cluster.gateway_port)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Secret", "Deployment", "Service", "PodDisruptionBudget", "Gateway", "HTTPRoute"} <= kinds, (
        kinds
    )
    prepared = time.monotonic() - began
    rollouts = po.registered_rollouts(STACK, po.REPO, cluster.kubeconfig)
    with po.applied(kube, objects) as report:
        namespace = _objects_of(objects, "Deployment")[SERVICE]["metadata"]["namespace"]
        # The wait `up` does for each version (the program's KubernetesRollout, with its inputs),
        # in place of pulumi-kubernetes' await, which the Deployments and Services skip.
        waited = {}
        for name in SERVICES:
            rollout = f"{name}-rollout"
            assert rollouts[rollout]["timeout_seconds"] <= READY_TIMEOUT_S * 3
            started = time.monotonic()
            waited[rollout] = (KubernetesRolloutProvider().create(rollouts[rollout]), time.monotonic() - started)
            wanted = _objects_of(objects, "Deployment")[name]["spec"]["replicas"]
            assert (kube.apps.read_namespaced_deployment(name, namespace).status.ready_replicas or 0) >= wanted
        gateway = next(iter(_objects_of(objects, "Gateway").values()))
        wait(
            "the program's Gateway Programmed",
            lambda: (
                condition(
                    kube.custom.get_namespaced_custom_object(
                        GATEWAY_GROUP,
                        GATEWAY_VERSION,
                        gateway["metadata"]["namespace"],
                        "gateways",
                        gateway["metadata"]["name"],
                    ),
                    "Programmed",
                )
                == "True"
            ),
        )

        def route_accepted():
            obj = kube.custom.get_namespaced_custom_object(
                GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", SERVICE
            )
            parents = obj.get("status", {}).get("parents", [])
            return parents and all(
                condition(p, "Accepted") == "True" and condition(p, "ResolvedRefs") == "True" for p in parents
            )

        wait("the service's HTTPRoute Accepted with resolved backends", route_accepted)
        session = requests.Session()
        base = f"http://127.0.0.1:{cluster.gateway_port}{service_path(SERVICE)}"
        keys = _objects_of(objects, "Secret")[f"{SERVICE}-keys"]["stringData"]
        # Traefik applies a new configuration shortly after the status: until then 404
        wait(
            "the service answering through the Gateway",
            lambda: session.get(f"{base}/", timeout=5).status_code == 200,
            timeout=60,
            every=0.5,
        )
        report["ready_s"] = time.monotonic() - began - prepared
        print(
            f"\nimages built and loaded, objects taken from the program: {prepared:.1f} s; applied to answering: {report['ready_s']:.1f} s"
        )
        yield {
            "objects": objects,
            "registered": registered,
            "namespace": namespace,
            "base": base,
            "session": session,
            "keys": keys,
            "rollouts": rollouts,
            "waited": waited,
        }
        session.close()


def model_predictions(data) -> list[float]:
    model = joblib.load(po.REPO / "examples" / "diabetes" / "model" / "ridge.joblib")
    return model.predict(np.array(data)).tolist()


def score(staging, sample, key: str | None):
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return staging["session"].post(f"{staging['base']}/score", data=json.dumps(sample), headers=headers, timeout=30)


def test_only_the_image_and_listener_port_differ_from_the_program(staging, cluster):
    registered, applied = staging["registered"], staging["objects"]
    assert [(o["kind"], o["metadata"]["name"]) for o in registered] == [
        (o["kind"], o["metadata"]["name"]) for o in applied
    ]
    for before, after in zip(registered, applied, strict=True):
        if before["kind"] != "Gateway":
            assert before == after
    gateway = next(o for o in registered if o["kind"] == "Gateway")
    assert gateway["spec"]["gatewayClassName"] == cluster.gateway_class == "modelstack" and [
        listener["port"] for listener in gateway["spec"]["listeners"]
    ] == [8000]
    applied_gateway = next(o for o in applied if o["kind"] == "Gateway")
    assert applied_gateway["spec"]["gatewayClassName"] == "modelstack" and [
        listener["port"] for listener in applied_gateway["spec"]["listeners"]
    ] == [cluster.gateway_port]
    for deployment in _objects_of(registered, "Deployment").values():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith(f"{po.TEST_REPOSITORY}/{deployment['metadata']['name']}:"), image


def test_pods_ready_from_the_real_image(staging, kube):
    namespace = staging["namespace"]
    deployment = _objects_of(staging["objects"], "Deployment")[SERVICE]
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    pods = kube.core.list_namespaced_pod(namespace, label_selector=selector).items
    ready = [
        p
        for p in pods
        if p.status.phase == "Running" and {c.type: c.status for c in p.status.conditions or []}.get("Ready") == "True"
    ]
    assert len(ready) == deployment["spec"]["replicas"], [(p.metadata.name, p.status.phase) for p in pods]
    wanted = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    for pod in ready:
        assert pod.spec.containers[0].image == wanted
        assert pod.status.container_statuses[0].restart_count == 0


def test_score_with_primary_and_secondary_key(staging):
    for key_name in ("primary_key", "secondary_key"):
        for sample in SAMPLES:
            response = score(staging, sample, staging["keys"][key_name])
            assert response.status_code == 200, (key_name, response.status_code, response.text)
            assert response.json() == pytest.approx(model_predictions(sample["data"]), rel=1e-9), key_name


def test_score_without_a_key_or_with_a_wrong_one_is_401(staging):
    response = score(staging, SAMPLES[0], None)
    assert response.status_code == 401, response.text
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert score(staging, SAMPLES[0], "not-" + staging["keys"]["primary_key"]).status_code == 401


def test_swagger_served_through_the_front_end(staging):
    # with auth on, every path but GET / asks for a key (templates/modelstack_server/app.py)
    response = staging["session"].get(
        f"{staging['base']}/swagger.json",
        headers={"Authorization": f"Bearer {staging['keys']['primary_key']}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    document = response.json()
    assert any(path.endswith("/score") for path in document["paths"]), sorted(document["paths"])
    assert staging["session"].get(f"{staging['base']}/swagger.json", timeout=10).status_code == 401


def test_deployment_status_maps_to_healthy(staging, kube):
    states = {}
    for name in SERVICES:
        status = kube.apps.read_namespaced_deployment_status(name, staging["namespace"]).status
        states[name] = deployment_state(status)
        # the raw dict form (what pulumi-kubernetes hands back as the `status` output) too
        assert deployment_state(kube.api.sanitize_for_serialization(status)) == states[name]
    assert states == {name: "Healthy" for name in SERVICES}
    assert service_state(list(states.values())) == "Healthy"


ROLLOUT_REQUESTS = 1000
ROLLOUT_TIMEOUT_S = 120


def test_route_weights_measured_over_1000_requests(staging):
    """The shares the stack's HTTPRoute declares, measured through the Gateway. Staging declares no
    `versions:`, so its route has one backend at weight 10000 (100%): every request must reach it.
    Which Deployment answered is told by the prediction (each version serves its own models)."""
    route = _objects_of(staging["objects"], "HTTPRoute")[SERVICE]
    backends = route["spec"]["rules"][-1]["backendRefs"]  # the rule without a version header
    total = sum(b.get("weight", 1) for b in backends)
    declared = {b["name"]: b.get("weight", 1) / total for b in backends}
    assert declared == {SERVICE: 1.0}, declared  # staging: one version (prod's 90/10 needs its own images)
    sample = SAMPLES[0]
    expected = {SERVICE: model_predictions(sample["data"])}
    counts = dict.fromkeys(declared, 0)
    other = []
    began = time.monotonic()
    for _ in range(ROLLOUT_REQUESTS):
        assert time.monotonic() - began < ROLLOUT_TIMEOUT_S, (
            f"{ROLLOUT_REQUESTS} requests took over {ROLLOUT_TIMEOUT_S} s"
        )
        response = score(staging, sample, staging["keys"]["primary_key"])
        assert response.status_code == 200, response.text
        answered = [
            name for name, predictions in expected.items() if response.json() == pytest.approx(predictions, rel=1e-9)
        ]
        if len(answered) == 1:
            counts[answered[0]] += 1
        else:
            other.append(response.text)
    print(f"\n{ROLLOUT_REQUESTS} requests through the Gateway in {time.monotonic() - began:.1f} s: {counts}")
    assert not other, other[:3]
    for name, share in declared.items():
        assert abs(counts[name] / ROLLOUT_REQUESTS - share) <= 0.03, (name, counts[name], share)


def test_rotated_key_is_honoured_without_a_restart(staging, kube):
    """A new primary key in the Secret: the kubelet rewrites the mounted file on its periodic sync
    (measured 59-76 s here, 65 s in the last full run: the kubelet's default syncFrequency of 1 minute plus its Secret cache),
    and the server reloads the file when it changes (templates/modelstack_server/keys.py)."""
    namespace = staging["namespace"]
    secret = _objects_of(staging["objects"], "Secret")[f"{SERVICE}-keys"]
    old = secret["stringData"]["primary_key"]
    new = "rotated" + old[::-1]
    rotated = {**secret, "stringData": {**secret["stringData"], "primary_key": new}}
    pods_before = {
        p.metadata.name: p.status.container_statuses[0].restart_count
        for p in kube.core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/name={SERVICE}").items
    }
    from kubernetes.dynamic import DynamicClient

    began = time.monotonic()
    po.apply_objects(DynamicClient(kube.api), [rotated])
    try:
        attempts = 0

        def honoured():
            nonlocal attempts
            attempts += 1
            return score(staging, SAMPLES[0], new).status_code == 200

        wait("the rotated primary key accepted", honoured, timeout=ROTATION_TIMEOUT_S, every=1.0)
        took = time.monotonic() - began
        print(f"\nrotated key honoured after {took:.1f} s ({attempts} requests)")
        assert score(staging, SAMPLES[0], old).status_code == 401
        assert score(staging, SAMPLES[0], secret["stringData"]["secondary_key"]).status_code == 200
        pods_after = {
            p.metadata.name: p.status.container_statuses[0].restart_count
            for p in kube.core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/name={SERVICE}").items
        }
        assert pods_after == pods_before, "the pods were restarted or replaced"
    finally:
        po.apply_objects(DynamicClient(kube.api), [secret])


def test_up_waits_for_each_rollout_and_refresh_reads_it(staging):
    """The wait `up` does for each version (components.targets.kubernetes.rollout), with the
    inputs the program registers: it waited while the pods started, then gave Healthy; a refresh
    reads Healthy from the cluster."""
    assert sorted(staging["rollouts"]) == ["diabetes-multi-rollout", "diabetes-rollout"]
    provider = KubernetesRolloutProvider()
    for name, (created, seconds) in staging["waited"].items():
        inputs = staging["rollouts"][name]
        print(f"\n{name}: rolled out after {seconds:.1f} s of waiting")
        assert inputs["namespace"] == staging["namespace"] and inputs["deployment"] == inputs[
            "k8s_service"
        ] == name.removesuffix("-rollout")
        assert (
            outputs_of(created)["state"] == "Healthy" and created.id == f"{staging['namespace']}/{inputs['deployment']}"
        )
        assert outputs_of(provider.read(created.id, outputs_of(created)))["state"] == "Healthy"
    assert staging["waited"]["diabetes-multi-rollout"][1] + staging["waited"]["diabetes-rollout"][1] > 1, (
        "it waited for pods that were starting"
    )
