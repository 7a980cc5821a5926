"""Controlled rollout and a model-only update on the real test cluster, from the program's own objects.

The stack is staging with the example service split into two versions, as a user promotes a new
model: `ridge` (the default and control version) at 90% and `lasso` (its own models, so its own
image) at 10%. Its Kubernetes objects are taken from the program under the mock runtime and applied
as tests/cluster/program_objects.py describes (the same two adaptations: the image each
ServiceImage resolves to, and the Gateway's class and HTTP port). Which version answered a request
is told by its predictions: the two models predict differently.

Shown here:
- 90/10 measured over 1,000 requests through the Gateway, within 3 points;
- promoting to 100/0 changes the HTTPRoute and nothing else the program registers; after it every
  request goes to ridge, and `x-modelstack-version: lasso` still reaches the 0% version;
- a model-only change (a new ridge model) rolls ridge's Deployment, and nothing else, while a
  client keeps scoring: every response of that client is counted, and none fails; the
  Deployment's state reads Transitioning during the update and Healthy after it;
- `modelstack logs`' reader shows one version's pods.

Traffic goes only to 127.0.0.1:GATEWAY_PORT; every loop is bounded in count and time.
"""

from __future__ import annotations

import copy
import json
import shutil
import threading
import time

import joblib
import numpy as np
import pytest
import requests
import yaml

from components.config.rollout import VERSION_HEADER
from components.targets.kubernetes.frontend import service_path
from components.targets.states import deployment_state
from tests.cluster import program_objects as po
from tests.cluster.test_gateway import GATEWAY_GROUP, GATEWAY_VERSION, condition, wait
from tests.workspace import copy_project

STACK = "rollout"
SERVICE = "diabetes"
READY_TIMEOUT_S = 240
REQUESTS = 1000
REQUESTS_TIMEOUT_S = 180
SAMPLE = json.loads((po.REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])
MODELS = po.REPO / "examples" / "diabetes" / "model"


def versions(ridge: float, lasso: float) -> list[dict]:
    return [
        {"version_name": "ridge", "is_default": True, "is_control_version_type": True, "traffic_percentile": ridge},
        {"version_name": "lasso", "models": ["diabetes-lasso"], "traffic_percentile": lasso},
    ]


def write_stack(root, ridge: float, lasso: float) -> None:
    staging = yaml.safe_load((root / "stacks" / "Pulumi.staging.yaml").read_text())
    config = staging["config"]
    config["modelstack:services"] = {
        SERVICE: {**config["modelstack:services"][SERVICE], "versions": versions(ridge, lasso)},
        "diabetes-multi": None,
    }
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(staging, sort_keys=False))


def build_images(docker_client, root) -> dict[str, str]:
    """Every ServiceImage the program declares for the stack (one per distinct set of models),
    built with the project's builder from the same build context: tag -> local reference."""
    from components.config.load import load_from_files
    from components.config.rollout import rollout_versions
    from components.image.build_context import build_context
    from components.image.builder import build

    config = load_from_files(STACK, root)
    service = config.services[SERVICE]
    images = {}
    for version in rollout_versions(SERVICE, service):
        variant = service.model_copy(update={"models": list(version.models)})
        context = build_context(root, SERVICE, variant, config.models)
        if context.tag in images:
            continue
        repository = f"{po.TEST_REPOSITORY}/{SERVICE}-{version.name}"
        build(docker_client, context, repository, po.REPO / ".modelstack", log=lambda message: None)
        images[context.tag] = f"{repository}:{context.tag}"
    return images


def by_name(objects) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def predictions(model_file) -> list[float]:
    return joblib.load(model_file).predict(np.array(SAMPLE["data"])).tolist()


@pytest.fixture(scope="module")
def rollout(cluster, kube, docker_client, trained_example, tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("rollout") / "project")
    write_stack(root, 90, 10)
    loaded: list[str] = []

    def images_for_stack() -> dict[str, str]:
        built = build_images(docker_client, root)
        for reference in built.values():
            if reference not in loaded:
                po.load_image(reference)
                loaded.append(reference)
        return built

    try:
        images = images_for_stack()
        objects = po.adapt_to_cluster(
            po.program_objects(STACK, root, images), cluster.gateway_class, cluster.gateway_port
        )
        with po.applied(kube, objects):
            namespace = by_name(objects)[("Deployment", f"{SERVICE}-ridge")]["metadata"]["namespace"]
            for name in (f"{SERVICE}-ridge", f"{SERVICE}-lasso"):
                wait(
                    f"deployment {name} ready",
                    lambda name=name: (
                        (kube.apps.read_namespaced_deployment(name, namespace).status.ready_replicas or 0) >= 1
                    ),
                    timeout=READY_TIMEOUT_S,
                )
            gateway = next(o for o in objects if o["kind"] == "Gateway")
            wait(
                "the Gateway Programmed",
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
            session = requests.Session()
            base = f"http://127.0.0.1:{cluster.gateway_port}{service_path(SERVICE)}"
            wait(
                "the service answering through the Gateway",
                lambda: session.get(f"{base}/", timeout=5).status_code == 200,
                timeout=60,
                every=0.5,
            )
            # Traefik learns each version's endpoints on its own schedule: until it has them, a
            # weighted pick of that version answers 503. Wait for both, by their header.
            for version in ("ridge", "lasso"):
                wait(
                    f"version {version} answering through the Gateway",
                    lambda version=version: (
                        session.get(f"{base}/", headers={VERSION_HEADER: version}, timeout=5).status_code == 200
                    ),
                    timeout=60,
                    every=0.5,
                )
            key = by_name(objects)[("Secret", f"{SERVICE}-keys")]["stringData"]["primary_key"]
            yield {
                "root": root,
                "objects": objects,
                "namespace": namespace,
                "base": base,
                "session": session,
                "key": key,
                "images_for_stack": images_for_stack,
            }
            session.close()
    finally:
        po.unload_images(cluster, docker_client, loaded)


def score(rollout, version: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {rollout['key']}"}
    if version:
        headers[VERSION_HEADER] = version
    return rollout["session"].post(f"{rollout['base']}/score", data=json.dumps(SAMPLE), headers=headers, timeout=30)


def count_versions(rollout, expected: dict[str, list[float]], n: int, version: str | None = None) -> dict[str, int]:
    counts = dict.fromkeys(expected, 0)
    began = time.monotonic()
    for _ in range(n):
        assert time.monotonic() - began < REQUESTS_TIMEOUT_S, f"{n} requests took over {REQUESTS_TIMEOUT_S} s"
        response = score(rollout, version)
        assert response.status_code == 200, response.text
        answered = [name for name, values in expected.items() if response.json() == pytest.approx(values, rel=1e-9)]
        assert len(answered) == 1, response.text
        counts[answered[0]] += 1
    return counts


def wait_for_route(kube, rollout, weights: dict[str, int]) -> None:
    def applied():
        route = kube.custom.get_namespaced_custom_object(
            GATEWAY_GROUP, GATEWAY_VERSION, rollout["namespace"], "httproutes", SERVICE
        )
        backends = {b["name"]: b.get("weight", 1) for b in route["spec"]["rules"][-1]["backendRefs"]}
        parents = route.get("status", {}).get("parents", [])
        return backends == weights and parents and all(condition(p, "Accepted") == "True" for p in parents)

    wait(f"the route at {weights}", applied)


def test_1_traffic_splits_90_10(rollout, kube):
    expected = {"ridge": predictions(MODELS / "ridge.joblib"), "lasso": predictions(MODELS / "lasso.joblib")}
    assert expected["ridge"] != pytest.approx(expected["lasso"], rel=1e-9), "the two models must be told apart"
    wait_for_route(kube, rollout, {f"{SERVICE}-ridge": 9000, f"{SERVICE}-lasso": 1000})
    began = time.monotonic()
    counts = count_versions(rollout, expected, REQUESTS)
    print(f"\n{REQUESTS} requests through the Gateway in {time.monotonic() - began:.1f} s: {counts}")
    assert abs(counts["lasso"] / REQUESTS - 0.10) <= 0.03, counts
    assert count_versions(rollout, expected, 20, version="lasso") == {"ridge": 0, "lasso": 20}


def test_2_promoting_to_100_0_changes_only_the_route(rollout, kube, cluster):
    root = rollout["root"]
    write_stack(root, 100, 0)
    images = rollout["images_for_stack"]()
    promoted = po.adapt_to_cluster(po.program_objects(STACK, root, images), cluster.gateway_class, cluster.gateway_port)
    before, after = by_name(rollout["objects"]), by_name(promoted)
    assert set(before) == set(after)
    changed = sorted(key for key in before if before[key] != after[key])
    assert changed == [("HTTPRoute", SERVICE)], changed
    from kubernetes.dynamic import DynamicClient

    po.apply_objects(DynamicClient(kube.api), [after[("HTTPRoute", SERVICE)]])
    rollout["objects"] = promoted
    wait_for_route(kube, rollout, {f"{SERVICE}-ridge": 10000, f"{SERVICE}-lasso": 0})
    expected = {"ridge": predictions(MODELS / "ridge.joblib"), "lasso": predictions(MODELS / "lasso.joblib")}
    # Traefik applies a route's new configuration shortly after its status: settle, then measure.
    wait(
        "every request on ridge", lambda: count_versions(rollout, expected, 20) == {"ridge": 20, "lasso": 0}, timeout=60
    )
    assert count_versions(rollout, expected, 300) == {"ridge": 300, "lasso": 0}
    assert count_versions(rollout, expected, 20, version="lasso") == {"ridge": 0, "lasso": 20}, (
        "the header reaches the 0% version"
    )


def test_3_a_model_only_change_rolls_with_zero_failed_requests(rollout, kube, cluster):
    root = rollout["root"]
    # A new ridge model: another regression's file in its place (new bytes, so a new model version).
    shutil.copy(MODELS / "lasso.joblib", root / "examples" / "diabetes" / "model" / "ridge.joblib")
    images = rollout["images_for_stack"]()
    updated = po.adapt_to_cluster(po.program_objects(STACK, root, images), cluster.gateway_class, cluster.gateway_port)
    before, after = by_name(rollout["objects"]), by_name(updated)
    changed = sorted(key for key in before if before[key] != after[key])
    assert changed == [("Deployment", f"{SERVICE}-ridge")], changed
    old_template, new_template = before[changed[0]]["spec"]["template"], after[changed[0]]["spec"]["template"]
    assert old_template["spec"]["containers"][0]["image"] != new_template["spec"]["containers"][0]["image"]
    stripped = copy.deepcopy(new_template)
    stripped["spec"]["containers"][0]["image"] = old_template["spec"]["containers"][0]["image"]
    stripped["metadata"]["annotations"] = old_template["metadata"]["annotations"]
    assert stripped == old_template, "only the image and the model-versions annotation change"

    statuses: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def client():
        with requests.Session() as session:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {rollout['key']}"}
            while not stop.is_set() and len(statuses) < 20000:
                try:
                    statuses.append(
                        session.post(
                            f"{rollout['base']}/score", data=json.dumps(SAMPLE), headers=headers, timeout=30
                        ).status_code
                    )
                except requests.RequestException as exc:
                    errors.append(repr(exc))

    def answered_since(count: int, more: int):
        return lambda: len(statuses) + len(errors) >= count + more

    load = threading.Thread(target=client, daemon=True)
    load.start()
    try:
        # The client scores back to back from before the update starts until after it ends, so
        # requests are in flight throughout it: counted in requests answered, not in seconds, so
        # a busy machine cannot leave the update unobserved.
        wait("the client's first 10 requests answered", answered_since(0, 10), timeout=READY_TIMEOUT_S, every=0.1)
        began = time.monotonic()
        from kubernetes.dynamic import DynamicClient

        po.apply_objects(DynamicClient(kube.api), [after[changed[0]]])
        name, namespace = f"{SERVICE}-ridge", rollout["namespace"]

        seen_states: list[str] = []

        def rolled_out():
            deployment = kube.apps.read_namespaced_deployment(name, namespace)
            status = deployment.status
            seen_states.append(deployment_state(status))
            pods = kube.core.list_namespaced_pod(namespace, label_selector=f"modelstack.io/workload={name}").items
            return (
                (status.observed_generation or 0) >= deployment.metadata.generation
                and status.updated_replicas == status.replicas == status.ready_replicas == 1
                and len(pods) == 1
            )

        wait("ridge's rolling update done and the old pod gone", rolled_out, timeout=READY_TIMEOUT_S)
        took = time.monotonic() - began
        at_done = len(statuses) + len(errors)
        wait(
            "10 more requests answered after the update",
            answered_since(at_done, 10),
            timeout=READY_TIMEOUT_S,
            every=0.1,
        )
    finally:
        stop.set()
        load.join(timeout=60)
    failed = [s for s in statuses if s != 200]
    print(
        f"\nrolling update of {name}: {took:.1f} s; {len(statuses)} requests during it, {len(failed)} not 200, {len(errors)} errors"
    )
    assert "Transitioning" in seen_states and seen_states[-1] == "Healthy", seen_states
    assert not failed and not errors, (failed[:5], errors[:3])
    expected = {"new ridge": predictions(MODELS / "lasso.joblib"), "old ridge": predictions(MODELS / "ridge.joblib")}
    wait(
        "the new model answering",
        lambda: score(rollout).json() == pytest.approx(expected["new ridge"], rel=1e-9),
        timeout=30,
    )
    rollout["objects"] = updated


def test_4_logs_of_one_versions_pods(rollout, cluster):
    from components.targets.kubernetes.logs import KubeconfigSource, pod_logs

    lines: list[str] = []
    kubeconfig = KubeconfigSource(
        text=open(cluster.kubeconfig).read(),
        context=None,
        key="kubeconfig_file",
        fix="check the test cluster's admin.kubeconfig",
    )
    pod_logs(kubeconfig, rollout["namespace"], SERVICE, version="lasso", tail=200, follow=False, write=lines.append)
    assert (
        lines[0].startswith(f"==> pod {SERVICE}-lasso-")
        and len([line for line in lines if line.startswith("==> pod")]) == 1
    )
    assert "Users's init has completed successfully" in "\n".join(lines[1:])
